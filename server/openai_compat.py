"""OpenAI-compatible chat completions, so existing chat clients can use policyqa as a model."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag.errors import InvalidInput, PolicyQAError
from rag.pipeline import QA, clean_question
from rag.types import Answer
from server.deps import require_key
from server.routes import ERRORS
from server.schemas import CompletionRequest, OpenAIMessage
from server.service import qa_of, run_answering, service

MODEL = "policyqa"
router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERRORS)


def _text(message: OpenAIMessage) -> str:
    if isinstance(message.content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text", "")) for p in message.content if p.get("type") == "text")
    return message.content or ""


def with_sources(answer: Answer) -> str:
    """The answer followed by its numbered sources, as chat clients show plain text."""
    if answer.abstained:
        related = "\n".join(f"- 《{r.title}》 {r.section}：{r.text[:80]}…" for r in answer.related)
        return f"{answer.answer}\n\n相关段落：\n{related}" if related else answer.answer
    return answer.to_markdown().replace("\n\n", "\n\n来源：\n", 1)


@router.get("/models", summary="The models this server offers (OpenAI-compatible)")
async def models() -> dict[str, object]:
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "policyqa"}]}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion with citations")
async def completions(body: CompletionRequest, request: Request) -> object:
    qa = qa_of(request)
    settings = request.app.state.settings
    if len(body.messages) > settings.max_messages:
        raise InvalidInput(f"{len(body.messages)} messages is over the limit of {settings.max_messages}")
    users = [_text(m) for m in body.messages if m.role == "user"]
    if not users:
        raise InvalidInput("no user message")
    question = clean_question(users[-1], settings.max_question_chars)
    history = [clean_question(u, settings.max_question_chars) for u in users[:-1] if u.strip()][-10:]
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        return StreamingResponse(_stream(qa, question, history, cid, created), media_type="text/event-stream")
    answer = await run_answering(request, qa.ask, question, None, None, history)
    service(request).metrics.stages(answer.timings_ms)
    return JSONResponse({
        "id": cid, "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": with_sources(answer)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": [c.model_dump() for c in answer.citations], "abstained": answer.abstained,
    })


def _stream(qa: QA, question: str, history: list[str], cid: str, created: int) -> Iterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None, **extra: object) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        # only checked text reaches a client that cannot take words back: answer first, then stream it
        answer = qa.ask(question, None, None, history)
        for piece in re.split(r"(?<=[。！？\n])", with_sources(answer)):
            if piece:
                yield chunk({"content": piece})
        yield chunk({}, "stop", citations=[c.model_dump() for c in answer.citations], abstained=answer.abstained)
    except PolicyQAError as exc:
        yield chunk({"content": f"[error: {exc.message}]"}, "stop")
    yield "data: [DONE]\n\n"
