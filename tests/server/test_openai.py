"""Against a real uvicorn process: the official `openai` client, SSE over the network, raw request paths."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import pytest

QUESTION = "2021年我国人工智能市场收支规模是多少？"
REPORT = "ai-industry-report-2022"


@pytest.fixture(scope="module")
def client(live_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_server + "/v1", api_key="unused", timeout=60, max_retries=0)


@pytest.fixture(scope="module")
def completion(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": QUESTION}])


def test_models_list_offers_policyqa(client: openai.OpenAI) -> None:
    assert "policyqa" in [m.id for m in client.models.list()]


def test_completion_answers_with_numbered_sources(completion: Any) -> None:
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    content = choice.message.content
    assert "82亿美元" in content
    assert "来源" in content and "[1]" in content
    assert "《中国人工智能产业报告》" in content

    citations = completion.model_extra["citations"]
    assert completion.model_extra["abstained"] is False
    assert citations and citations[0]["n"] == 1
    assert citations[0]["document_id"] == REPORT
    assert "82亿美元" in citations[0]["quote"]
    assert citations[0]["quote"] in content  # the source line quotes it verbatim


def test_streamed_completion_equals_the_plain_one(client: openai.OpenAI, completion: Any) -> None:
    chunks = list(client.chat.completions.create(
        model="policyqa", messages=[{"role": "user", "content": QUESTION}], stream=True,
    ))
    assert len(chunks) >= 2
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert len({ch.id for ch in chunks}) == 1
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text == completion.choices[0].message.content
    assert [ch.choices[0].finish_reason for ch in chunks[:-1]] == [None] * (len(chunks) - 1)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == completion.model_extra["citations"]


def test_abstention_through_the_openai_client(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="policyqa", messages=[{"role": "user", "content": "2023年我国人工智能市场规模是多少？"}])
    assert r.model_extra["abstained"] is True
    assert r.model_extra["citations"] == []
    assert "文档中没有" in r.choices[0].message.content


def test_chat_sse_over_the_network(live_server: str) -> None:
    plain = httpx.post(live_server + "/v1/chat", json={"messages": [{"role": "user", "content": QUESTION}]}, timeout=60)
    assert plain.status_code == 200, plain.text

    events: list[tuple[str, Any]] = []
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    with httpx.stream("POST", live_server + "/v1/chat", json=body, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers.get("cache-control") == "no-cache"
        assert "content-length" not in r.headers  # streamed, not buffered into one body
        name, data = "message", []
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[len("event:"):].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:"):].lstrip(" "))
            elif line == "" and data:
                events.append((name, json.loads("\n".join(data))))
                name, data = "message", []
    names = [n for n, _ in events]
    assert names[-1] == "done" and names.count("answer") == 1 and "delta" in names, names
    assert set(names[:names.index("answer")]) == {"delta"}
    answer = events[names.index("answer")][1]
    assert answer["answer"] == plain.json()["answer"]
    assert "82亿美元" in answer["answer"]
    assert answer["citations"][0]["document_id"] == REPORT


def _raw_get(base_url: str, path: str) -> bytes:
    """A request line sent as-is (no client-side normalisation of '..')."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/../../rag/settings.py", "/static/../../../../../../etc/passwd"])
def test_literal_dot_dot_paths_do_not_leak_files(live_server: str, path: str) -> None:
    response = _raw_get(live_server, path)
    status_line = response.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 404"), response[:300]
    for leak in (b"def create_app", b"class Settings", b"root:x:0:0"):
        assert leak not in response
    assert b"200 OK" in _raw_get(live_server, "/static/app.js").split(b"\r\n", 1)[0]
