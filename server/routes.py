"""The policyqa HTTP API: ask, chat (with SSE), citation lookup, documents, admin, health and metrics."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ingest.load import SUPPORTED, load
from ingest.manifest import slug
from ingest.pipeline import IngestReport
from rag.errors import InvalidInput, NotFound, PolicyQAError
from rag.pipeline import QA, clean_question
from rag.types import Answer, Chunk, DocumentInfo
from server.deps import require_admin, require_key
from server.schemas import (
    AskRequest,
    ChatRequest,
    ChunkResponse,
    DocumentsResponse,
    DocumentText,
    ErrorBody,
    IngestResponse,
    NotReady,
    Ready,
    SearchHit,
    SearchResponse,
)
from server.service import Service, qa_of, run_answering, service

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 413, 422, 429, 503)
}
router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERRORS)


# -- asking ------------------------------------------------------------------------------------------


@v1.post("/ask", response_model=Answer, summary="Answer one question with citations")
async def ask(body: AskRequest, request: Request) -> Answer:
    qa = qa_of(request)
    answer = await run_answering(request, qa.ask, body.question, body.top_k, body.filters)
    service(request).metrics.stages(answer.timings_ms)
    return answer


def split_messages(body: ChatRequest, limit: int) -> tuple[str, list[str]]:
    """The last user message is the question; earlier user messages resolve follow-ups."""
    if len(body.messages) > limit:
        raise InvalidInput(f"{len(body.messages)} messages is over the limit of {limit}")
    users = [m.content for m in body.messages if m.role == "user"]
    if not users or body.messages[-1].role != "user":
        raise InvalidInput("the last message must come from the user")
    return users[-1], users[:-1]


def sse(event: str, data: object) -> str:
    payload = data.model_dump_json() if isinstance(data, Answer) else json.dumps(data, ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n"


def stream_events(qa: QA, question: str, history: list[str], body: ChatRequest, svc: Service) -> Iterator[str]:
    try:
        for _kind, value in qa.ask_stream(question, body.top_k, body.filters, history):
            if isinstance(value, Answer):
                svc.metrics.stages(value.timings_ms)
                yield sse("answer", value)
            else:
                yield sse("delta", {"text": value})
    except PolicyQAError as exc:
        yield sse("error", {"error": exc.code, "message": exc.message})
    yield sse("done", {})


@v1.post(
    "/chat", response_model=Answer, summary="Answer the last user message, resolving follow-ups",
    responses={200: {"content": {"text/event-stream": {}}, "description": "the answer, or SSE events when stream is true"}},
)
async def chat(body: ChatRequest, request: Request) -> Response:
    qa = qa_of(request)
    settings = request.app.state.settings
    question, history = split_messages(body, settings.max_messages)
    question = clean_question(question, settings.max_question_chars)
    history = [clean_question(h, settings.max_question_chars) for h in history if h.strip()][-10:]
    if body.stream:
        return StreamingResponse(
            stream_events(qa, question, history, body, service(request)), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await run_answering(request, qa.ask, question, body.top_k, body.filters, history)
    service(request).metrics.stages(answer.timings_ms)
    return JSONResponse(answer.model_dump())


# -- citation lookup --------------------------------------------------------------------------------


def highlights(text: str, query: str) -> list[tuple[int, int]]:
    """Where the query (or, failing that, its longer words) occurs in a passage."""
    spans = [(m.start(), m.end()) for m in re.finditer(re.escape(query), text)] if query else []
    if not spans:
        from rag.text import tokens

        for word in sorted({t for t in tokens(query) if len(t) >= 2}, key=len, reverse=True):
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(word), text, flags=re.I)]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def hit(chunk: Chunk, title: str, score: float, query: str = "", exact: bool = False) -> SearchHit:
    return SearchHit(
        chunk_id=chunk.id, document_id=chunk.doc_id, title=title, section=chunk.place(),
        page=chunk.page or None, start=chunk.start, end=chunk.end, text=chunk.text, score=score,
        highlights=highlights(chunk.text, query), exact=exact,
    )


@v1.get(
    "/search", response_model=SearchResponse,
    summary="Passages that hold a text verbatim (first, flagged exact and counted), then the closest ones",
)
async def search(request: Request, q: str = Query(min_length=1, max_length=2000), k: int = Query(10, ge=1, le=50)) -> SearchResponse:
    qa = qa_of(request)
    query = clean_question(q, 2000)
    passages, exact = await run_answering(request, qa.lookup, query, k)
    return SearchResponse(
        query=query, exact_matches=exact,
        results=[hit(p.chunk, p.title, p.score, query, p.exact) for p in passages],
    )


@v1.get("/chunks/{chunk_id}", response_model=ChunkResponse, summary="A passage with its neighbours")
async def chunk(chunk_id: str, request: Request) -> ChunkResponse:
    qa = qa_of(request)
    try:
        target, around = qa.chunk(chunk_id)
    except NotFound:
        raise NotFound(f"no passage with id '{chunk_id[:80]}'") from None
    title = qa.document(target.doc_id).title
    return ChunkResponse(chunk=hit(target, title, 1.0), neighbours=[hit(c, title, 0.0) for c in around])


# -- documents ---------------------------------------------------------------------------------------


@v1.get("/documents", response_model=DocumentsResponse, summary="Indexed documents with metadata and chunk counts")
async def documents(request: Request) -> DocumentsResponse:
    qa = qa_of(request)
    return DocumentsResponse(documents=qa.documents(), index_version=qa.version)


@v1.get("/documents/{doc_id}", summary="One document's metadata and chunk count")
async def document(doc_id: str, request: Request) -> dict[str, object]:
    return _document(request, doc_id).model_dump()


@v1.get("/documents/{doc_id}/text", response_model=DocumentText, summary="A document's cleaned text (what quotes come from)")
async def document_text(doc_id: str, request: Request) -> DocumentText:
    _document(request, doc_id)
    return DocumentText(id=doc_id, text=qa_of(request).document_text(doc_id))


def _document(request: Request, doc_id: str) -> DocumentInfo:
    try:
        return qa_of(request).document(doc_id)
    except NotFound:
        raise NotFound(f"no document with id '{doc_id[:80]}'") from None


@v1.post("/documents", response_model=IngestResponse, dependencies=[Depends(require_admin)], summary="Upload and index a document (admin)")
async def upload(request: Request, file: UploadFile = File(...)) -> IngestResponse:
    svc = service(request)
    name = Path(file.filename or "").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise InvalidInput(f"'{name[:80]}': unsupported file type (use {', '.join(sorted(SUPPORTED))})")
    data = await file.read(int(svc.settings.max_upload_mb * 1e6) + 1)
    if len(data) > svc.settings.max_upload_mb * 1e6:
        raise InvalidInput(f"'{name[:80]}' is over the {svc.settings.max_upload_mb} MB upload limit")
    incoming = svc.settings.index_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    target_name = f"{slug(Path(name).stem)[:80]}{suffix}"  # never a path taken from the request
    staged = incoming / target_name
    staged.write_bytes(data)
    try:
        # refuse a bad file before it enters the corpus folder
        await run_in_threadpool(load, staged, int(svc.settings.max_upload_mb * 1e6), svc.settings.max_pdf_pages)
        folder = svc.settings.corpus_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / target_name
        staged.replace(target)
    finally:
        staged.unlink(missing_ok=True)
    report = await run_in_threadpool(svc.reingest, paths=[target])
    if report.failed:
        raise InvalidInput(next(iter(report.failed.values())))
    return _ingest_response(report)


@v1.delete("/documents/{doc_id}", response_model=IngestResponse, dependencies=[Depends(require_admin)], summary="Remove a document (admin)")
async def delete(doc_id: str, request: Request) -> IngestResponse:
    svc = service(request)
    info = _document(request, doc_id)
    report = await run_in_threadpool(svc.reingest, paths=[], remove=[doc_id])
    uploaded = (svc.settings.corpus_dir / info.path).resolve()
    if uploaded.parent == (svc.settings.corpus_dir / "uploads").resolve():
        uploaded.unlink(missing_ok=True)
    return _ingest_response(report)


def _ingest_response(r: IngestReport) -> IngestResponse:
    return IngestResponse(
        index_version=r.version, added=r.added, updated=r.updated, removed=r.removed,
        unchanged=r.unchanged, failed=r.failed, chunks=r.chunks, seconds=round(r.seconds, 2),
    )


# -- health ------------------------------------------------------------------------------------------


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz", summary="The index and the model are loaded; while not, what is happening (indexing with its progress)",
    responses={200: {"model": Ready}, 503: {"model": NotReady}},
)
async def readyz(request: Request) -> JSONResponse:
    state = service(request).readiness()
    return JSONResponse(state, status_code=200 if state["status"] == "ready" else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(service(request).metrics.render(), media_type="text/plain; version=0.0.4")


router.include_router(v1)
