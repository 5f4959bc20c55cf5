"""Hybrid retrieval: dense (e5 in Chroma) and sparse (BM25 over jieba tokens), fused and re-scored."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import bm25s
import numpy as np
from pydantic import BaseModel

from rag.embed import Embedder
from rag.errors import InvalidInput
from rag.query import KIND_UNITS, QueryInfo, analyze, defines, holds_kind
from rag.store import IndexVersion
from rag.text import add_words, tokens
from rag.types import Chunk, DocumentInfo, Passage

log = logging.getLogger(__name__)
RRF_K = 60


class Filters(BaseModel):
    """Metadata filters a caller may set; all are optional and combined with AND."""

    doc_id: str | list[str] | None = None
    type: str | None = None
    issuer: str | None = None
    level: str | None = None
    year: int | None = None

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.doc_id:
            ids = [self.doc_id] if isinstance(self.doc_id, str) else self.doc_id
            clauses.append({"doc_id": {"$in": ids}})
        for key, field in (("doc_type", self.type), ("issuer", self.issuer), ("level", self.level), ("year", self.year)):
            if field not in (None, ""):
                clauses.append({key: field})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, chunk: Chunk, doc: DocumentInfo) -> bool:
        ids = [self.doc_id] if isinstance(self.doc_id, str) else self.doc_id
        year = int(doc.adopted[:4]) if doc.adopted[:4].isdigit() else 0
        return (
            (not ids or chunk.doc_id in ids)
            and (not self.type or doc.type == self.type)
            and (not self.issuer or doc.issuer == self.issuer)
            and (not self.level or doc.level == self.level)
            and (self.year is None or year == self.year)
        )


class Reranker(Protocol):
    """A cross-encoder: scores (question, passage) pairs."""

    def predict(self, pairs: list[tuple[str, str]]) -> Sequence[float]: ...


class Retriever:
    """Searches one index version; built once per version (loads every chunk for BM25)."""

    def __init__(self, version: IndexVersion, embedder: Embedder, candidates: int = 30, reranker: Reranker | None = None) -> None:
        self.version = version
        self.embedder = embedder
        self.candidates = candidates
        self.reranker = reranker
        self.docs = {d.id: d for d in version.documents()}
        self.chunks = version.chunks()
        self.by_id = {c.id: i for i, c in enumerate(self.chunks)}
        add_words([n for d in self.docs.values() for n in (d.title, *d.aliases)])
        self._bm25 = bm25s.BM25()
        corpus = [tokens(c.embed_text()) or ["∅"] for c in self.chunks]
        if corpus:
            self._bm25.index(corpus, show_progress=False)
        self._doc_of = np.array([c.doc_id for c in self.chunks])

    def analyze(self, question: str) -> QueryInfo:
        return analyze(question, list(self.docs.values()))

    def search(
        self, question: str, k: int = 6, filters: Filters | None = None, timings: dict[str, float] | None = None,
        info: QueryInfo | None = None,
    ) -> list[Passage]:
        """The k best passages for a question, best first."""
        if not 1 <= k <= 50:
            raise InvalidInput(f"k ({k}) must be between 1 and 50")
        timings = timings if timings is not None else {}
        info = info or self.analyze(question)
        filters = filters or Filters()
        if info.doc_ids and not filters.doc_id and info.articles:
            scoped = filters.model_copy(update={"doc_id": info.doc_ids})
        else:
            scoped = filters
        t = time.perf_counter()
        vector = self.embedder.embed_queries([info.expanded])[0]
        timings["embed"] = _ms(t)
        t = time.perf_counter()
        dense = self.version.query(vector, self.candidates, scoped.where())
        timings["dense"] = _ms(t)
        t = time.perf_counter()
        sparse = self._sparse(info.expanded, scoped)
        timings["sparse"] = _ms(t)
        t = time.perf_counter()
        fused: dict[str, float] = {}
        ranks: dict[str, tuple[int | None, int | None]] = {}
        for rank, (chunk, _dist) in enumerate(dense):
            fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (RRF_K + rank)
            ranks[chunk.id] = (rank + 1, None)
        for rank, idx in enumerate(sparse):
            cid = self.chunks[idx].id
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            ranks[cid] = (ranks.get(cid, (None, None))[0], rank + 1)
        scored = []
        for cid, base in fused.items():
            if cid not in self.by_id:
                continue
            chunk = self.chunks[self.by_id[cid]]
            scored.append((base * self._boost(chunk, info), chunk))
        for chunk in self._articles(info, scoped):
            scored.append((1.0, chunk))  # a named article goes straight to the top
        scored.sort(key=lambda p: -p[0])
        seen, passages = set(), []
        for score, chunk in scored:
            if chunk.id in seen:
                continue
            seen.add(chunk.id)
            d, s = ranks.get(chunk.id, (None, None))
            passages.append(Passage(chunk=chunk, title=self.docs[chunk.doc_id].title if chunk.doc_id in self.docs else chunk.doc_id, score=round(score, 6), dense_rank=d, sparse_rank=s))
        if self.reranker is not None and passages:
            pool = passages[: self.candidates]
            scores = self.reranker.predict([(question, p.chunk.embed_text()) for p in pool])
            passages = [p for _, p in sorted(zip(scores, pool, strict=True), key=lambda x: -x[0])]
        timings["fuse"] = _ms(t)
        return passages[:k]

    def _sparse(self, query: str, filters: Filters) -> list[int]:
        if not self.chunks:
            return []
        q = tokens(query)
        if not q:
            return []
        scores = self._bm25.get_scores(q)
        if filters.where():
            mask = np.array([filters.accepts(c, self.docs[c.doc_id]) for c in self.chunks]) if self.docs else None
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[: self.candidates]
        return [int(i) for i in top if scores[i] > 0]

    def _articles(self, info: QueryInfo, filters: Filters) -> list[Chunk]:
        if not info.articles or not info.doc_ids:
            return []
        return [c for c in self.chunks if c.doc_id in info.doc_ids and c.article_no in info.articles and filters.accepts(c, self.docs[c.doc_id])]

    def _boost(self, chunk: Chunk, info: QueryInfo) -> float:
        """Prefer passages holding the asked place, year and document, and a number of the asked kind."""
        text = chunk.embed_text()
        boost = 1.0
        for place in info.places:
            boost *= 1.5 if place in text else 0.6
        for year in info.years:
            boost *= 1.3 if year in text else 0.8
        if info.doc_ids:
            named = chunk.doc_id in info.doc_ids or any(self.docs[d].title in chunk.context for d in info.doc_ids if d in self.docs)
            boost *= 1.4 if named else 0.8
        if any(defines(chunk.text, t) for t in info.defined):
            boost *= 1.5
        if info.kind in KIND_UNITS and holds_kind(chunk.text, info.kind):
            boost *= 1.3
        elif info.kind not in KIND_UNITS and info.kind and holds_kind(chunk.text, None):
            boost *= 1.1
        return boost

    def neighbours(self, chunk_id: str, n: int = 1) -> list[Chunk]:
        """The passage with up to n chunks either side in its document."""
        if chunk_id not in self.by_id:
            return []
        i = self.by_id[chunk_id]
        doc = self.chunks[i].doc_id
        return [c for c in self.chunks[max(0, i - n) : i + n + 1] if c.doc_id == doc]


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
