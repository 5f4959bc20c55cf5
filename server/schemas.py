"""Request and response models of the HTTP API (the answer itself is rag's own `Answer`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.retrieve import Filters
from rag.types import DocumentInfo


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=100_000)
    top_k: int | None = Field(default=None, ge=1, le=50)
    filters: Filters | None = None


class Message(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=100_000)


class ChatRequest(Strict):
    messages: list[Message] = Field(min_length=1, max_length=500)
    stream: bool = False
    top_k: int | None = Field(default=None, ge=1, le=50)
    filters: Filters | None = None


class OpenAIMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    """The subset of OpenAI's chat completion request we use; other fields are accepted and ignored."""

    model: str = "policyqa"
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=500)
    stream: bool = False


class ErrorBody(BaseModel):
    error: str
    message: str


class Ready(BaseModel):
    status: Literal["ready"]
    index_version: str
    chunks: int


class NotReady(ErrorBody):
    """503 from /readyz: `status` is loading, indexing (first start, with progress) or failed."""

    status: Literal["loading", "indexing", "failed"]
    stage: Literal["model", "index", "reading", "embedding", "publishing"] | None = None
    done: int | None = Field(default=None, description="texts embedded so far: passages and their sentences")
    total: int | None = None
    percent: int | None = None
    documents_done: int | None = None
    documents_total: int | None = None
    chunks_done: int | None = None
    chunks_total: int | None = None
    eta_s: int | None = Field(default=None, description="seconds left, at the rate so far")


class SearchHit(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    section: str
    page: int | None
    start: int
    end: int
    text: str
    score: float
    highlights: list[tuple[int, int]]
    exact: bool = Field(default=False, description="the passage holds the searched text verbatim")


class SearchResponse(BaseModel):
    query: str
    exact_matches: int = Field(description="passages holding the text verbatim, in the whole index; they come first")
    results: list[SearchHit]


class ChunkResponse(BaseModel):
    chunk: SearchHit
    neighbours: list[SearchHit]


class DocumentsResponse(BaseModel):
    documents: list[DocumentInfo]
    index_version: str


class DocumentText(BaseModel):
    id: str
    text: str


class IngestResponse(BaseModel):
    index_version: str | None
    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]
    failed: dict[str, str]
    chunks: int
    seconds: float
