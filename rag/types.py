"""The product's own data types: documents, chunks, retrieved passages, citations and answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

DocType = Literal["report", "law", "regulation", "rules", "other"]


class DocumentInfo(BaseModel):
    """Metadata of one source document (from the corpus manifest or guessed from its text)."""

    id: str
    title: str
    type: DocType = "other"
    issuer: str = ""
    adopted: str = ""  # adoption or publication date, ISO (YYYY-MM-DD or YYYY-MM)
    in_force: str = ""
    level: str = ""  # national / provincial / city
    aliases: list[str] = []
    path: str = ""  # file name inside the corpus
    sha256: str = ""
    pages: int = 0
    chunks: int = 0


class Chunk(BaseModel):
    """A passage of a cleaned document with where it came from; `text` is verbatim document text."""

    id: str
    doc_id: str
    position: int
    text: str
    context: str  # heading line embedded with the text: title, chapter/article or section
    start: int  # offsets of `text` in the cleaned document
    end: int
    src_start: int = -1  # offsets in the extracted source text (before cleaning)
    src_end: int = -1
    page: int = 0  # first page (PDF), 0 when the format has no pages
    page_end: int = 0
    chapter: str = ""
    article: str = ""  # e.g. "第二十一条"
    article_no: int = 0
    section: str = ""
    part: str = ""  # the numbered part of the report a section sits in, when it is not the section itself
    kind: Literal["text", "table", "article"] = "text"

    def embed_text(self) -> str:
        """What gets embedded and indexed for BM25: the heading context, then the passage."""
        return f"{self.context}\n{self.text}"

    def place(self) -> str:
        """Where in its document: chapter and article for laws, the section otherwise."""
        return " ".join(p for p in (self.chapter, self.article) if p) or self.section

    def location(self) -> str:
        """The place plus the page, as people cite it."""
        return f"{self.place()}，第{self.page}页" if self.page else self.place()


UnitKind = Literal["sentence", "heading", "intro", "item", "row", "header", "cell"]


@dataclass(frozen=True, slots=True)
class Unit:
    """The smallest quotable piece of a chunk: a sentence, heading, list item or table row (verbatim text)."""

    id: str
    chunk_id: str
    doc_id: str
    text: str
    start: int  # offsets in the cleaned document
    end: int
    kind: UnitKind
    para: int  # paragraph (line) index inside the chunk
    col: int = -1  # for a cell of a wide table row: its column


class Passage(BaseModel):
    """A retrieved chunk with its fused score and per-retriever ranks."""

    chunk: Chunk
    title: str
    score: float
    dense_rank: int | None = None
    sparse_rank: int | None = None
    exact: bool = False  # the chunk holds the searched text verbatim


class Citation(BaseModel):
    n: int
    chunk_id: str
    document_id: str
    title: str
    quote: str = Field(description="Verbatim substring of the cleaned document that supports the claim")
    text: str = Field(description="The whole cited passage")
    page: int | None = None
    section: str = ""
    start: int = Field(description="Offset of the quote in the cleaned document")
    end: int
    header: str = Field(default="", description="For a table row: the table's header row (a structured field, not a quote)")


class Claim(BaseModel):
    sentence: str
    citations: list[int]
    numbers: list[str] = []
    verified: bool = True


class RelatedPassage(BaseModel):
    chunk_id: str
    document_id: str
    title: str
    section: str
    page: int | None = None
    text: str
    score: float


class Answer(BaseModel):
    question: str
    resolved_question: str = ""
    answer: str
    abstained: bool
    citations: list[Citation] = []
    related: list[RelatedPassage] = []
    claims: list[Claim] = []
    mode: Literal["extractive", "llm"] = "extractive"
    prompt_version: str | None = None
    index_version: str = ""
    timings_ms: dict[str, float] = {}

    def to_markdown(self) -> str:
        """The answer followed by its numbered sources, as users copy it."""
        lines = [self.answer, ""]
        for c in self.citations:
            where = f"，{c.section}" if c.section else ""
            page = f"，第{c.page}页" if c.page else ""
            lines.append(f"[{c.n}] 《{c.title}》{where}{page}：“{c.quote}”")
        return "\n".join(lines).strip()


def chunk_metadata(chunk: Chunk, doc: DocumentInfo) -> dict[str, Any]:
    """Flat metadata for the vector store (scalars only)."""
    meta = chunk.model_dump(exclude={"id", "text"})
    meta.update(
        title=doc.title,
        doc_type=doc.type,
        issuer=doc.issuer,
        adopted=doc.adopted,
        in_force=doc.in_force,
        level=doc.level,
        year=int(doc.adopted[:4]) if doc.adopted[:4].isdigit() else 0,
    )
    return meta
