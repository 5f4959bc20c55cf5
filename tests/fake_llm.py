"""A scripted OpenAI-compatible chat server, run as its own process by the tests (stands in for a hosted LLM).

The reply is the first script entry whose key occurs in the last user message; every request body is
appended to the log file given on the command line, so tests can check what the client really sent.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPT = {
    "市场收支规模": "2021年我国人工智能市场收支规模达到82亿美元[1]。占全球市场规模的9.6%，位居全球第三位[1]。",
    "北京人工智能相关产值": "2020年北京人工智能相关产值规模达1860亿元[1]。同比增长15.3%[1]。",
    "平均年龄": "深圳人口平均年龄是28岁[1]。",
    "主管部门": "市工业和信息化部门是人工智能产业主管部门[7]。市工业和信息化部门负责实施、协调、督促[1]。",
    "施行": "本法自2021年9月1日起施行[1]。",
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "test"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(json.dumps(body, ensure_ascii=False) + "\n")
        question = body["messages"][-1]["content"]
        reply = next((r for k, r in SCRIPT.items() if k in question), "文档中没有找到能回答这个问题的内容。")
        if body.get("stream"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for i in range(0, len(reply), 6):
                self._event({"choices": [{"index": 0, "delta": {"content": reply[i : i + 6]}, "finish_reason": None}]})
                time.sleep(0.01)
            self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            self.wfile.write(b"data: [DONE]\n\n")
            return
        self._json({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def _event(self, chunk: dict) -> None:
        payload = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake", **chunk}
        self.wfile.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
        self.wfile.flush()

    def _json(self, data: dict) -> None:
        raw = json.dumps(data, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
