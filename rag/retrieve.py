"""Hybrid retrieval: passages (dense e5 over the version's vectors, held in memory, and BM25 over jieba
tokens, fused by RRF) and the units (sentences, rows) of the whole corpus ranked the same way, as candidates
for evidence scoring."""

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
from rag.lexicon import Lexicon
from rag.question import Ask
from rag.store import IndexVersion
from rag.text import add_words, tokens
from rag.types import Chunk, DocumentInfo, Passage, Unit
from rag.units import plain, search_tokens, split_units

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
        self.lexicon: Lexicon = version.lexicon()
        add_words(self.lexicon.words())
        self.chunks = version.chunks()
        self.by_id = {c.id: i for i, c in enumerate(self.chunks)}
        cut = version.tokens() or search_tokens(self.chunks)
        self._bm25 = _bm25([cut[c.id] for c in self.chunks])
        self._matrix = _matrix([c.id for c in self.chunks], version.chunk_vectors(), "chunks")
        self.units = UnitIndex(self.chunks, version.unit_vectors(), cut)

    def search(
        self, question: str, k: int = 6, filters: Filters | None = None, timings: dict[str, float] | None = None,
        ask: Ask | None = None, vector: np.ndarray | None = None,
    ) -> list[Passage]:
        """The k best passages for a question (or one ask of it, with its query vector), best first."""
        if not 1 <= k <= 50:
            raise InvalidInput(f"k ({k}) must be between 1 and 50")
        timings = timings if timings is not None else {}
        ask = ask or Ask(text=question)
        filters = filters or Filters()
        if ask.doc_ids and not filters.doc_id and ask.articles:
            scoped = filters.model_copy(update={"doc_id": ask.doc_ids})
        else:
            scoped = filters
        if vector is None:
            t = time.perf_counter()
            vector = self.embedder.embed_queries([ask.text])[0]
            timings["embed"] = _ms(t)
        t = time.perf_counter()
        dense = self._dense(vector, scoped)
        timings["dense"] = _ms(t)
        t = time.perf_counter()
        sparse = self._sparse(ask.text, scoped)
        timings["sparse"] = _ms(t)
        t = time.perf_counter()
        fused: dict[str, float] = {}
        ranks: dict[str, tuple[int | None, int | None]] = {}
        for rank, idx in enumerate(dense):
            cid = self.chunks[idx].id
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            ranks[cid] = (rank + 1, None)
        for rank, idx in enumerate(sparse):
            cid = self.chunks[idx].id
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            ranks[cid] = (ranks.get(cid, (None, None))[0], rank + 1)
        scored = []
        for cid, base in fused.items():
            if cid not in self.by_id:
                continue
            chunk = self.chunks[self.by_id[cid]]
            scored.append((base * self._boost(chunk, ask), chunk))
        for chunk in self._articles(ask, scoped):
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

    def _dense(self, vector: np.ndarray, filters: Filters) -> list[int]:
        """The chunks nearest the query vector, in memory (the corpus's vectors are loaded with the version)."""
        if not self.chunks:
            return []
        return self._top(self._matrix @ np.asarray(vector, dtype=np.float32), filters, floor=-np.inf)

    def _sparse(self, query: str, filters: Filters) -> list[int]:
        q = tokens(query)
        if not self.chunks or not q:
            return []
        return self._top(np.asarray(self._bm25.get_scores(q)), filters, floor=0.0)

    def _top(self, scores: np.ndarray, filters: Filters, floor: float) -> list[int]:
        """The candidates best by score above `floor`, among the chunks the filters accept."""
        if filters.where() and self.docs:
            accepted = np.array([filters.accepts(c, self.docs[c.doc_id]) for c in self.chunks])
            scores = np.where(accepted, scores, -np.inf)
        top = np.argsort(-scores, kind="stable")[: self.candidates]
        return [int(i) for i in top if scores[i] > floor]

    def _articles(self, ask: Ask, filters: Filters) -> list[Chunk]:
        """A named article of a named document ("《数据安全法》第五十五条") is fetched, not searched for."""
        if not ask.articles or not ask.doc_ids:
            return []
        return [c for c in self.chunks if c.doc_id in ask.doc_ids and c.article_no in ask.articles and filters.accepts(c, self.docs[c.doc_id])]

    def _boost(self, chunk: Chunk, ask: Ask) -> float:
        """Soft preference for passages in the named document and holding the asked place and year."""
        text = chunk.embed_text()
        boost = 1.0
        for place in ask.places:
            boost *= 1.3 if place in text else 0.8
        for year in ask.years:
            boost *= 1.2 if year in text else 0.9
        if ask.doc_ids:
            boost *= 1.4 if chunk.doc_id in ask.doc_ids else 0.8
        return boost

    def neighbours(self, chunk_id: str, n: int = 1) -> list[Chunk]:
        """The passage with up to n chunks either side in its document."""
        if chunk_id not in self.by_id:
            return []
        i = self.by_id[chunk_id]
        doc = self.chunks[i].doc_id
        return [c for c in self.chunks[max(0, i - n) : i + n + 1] if c.doc_id == doc]


class UnitIndex:
    """Every unit of the version with its vector, ranked in memory by cosine and by BM25."""

    def __init__(self, chunks: list[Chunk], vectors: dict[str, np.ndarray], cut: dict[str, list[str]]) -> None:
        self.units: list[Unit] = [u for c in chunks for u in split_units(c)]
        self.by_id = {u.id: i for i, u in enumerate(self.units)}
        self.chunk_of = {c.id: c for c in chunks}
        self.matrix = _matrix([u.id for u in self.units], vectors, "units")
        self.tokens = [cut[u.id] for u in self.units]
        self._bm25 = _bm25(self.tokens)
        self.positions: dict[str, list[int]] = {}  # chunk id → its units, in order
        self.headings: dict[str, list[int]] = {}  # a heading line's plain text → where it is written
        # the heading line a unit sits under inside its chunk: a chunk's section names only the headings before
        # it begins, not one written inside it ("成都科学城" above "规划面积: 132平方公里")
        self.above: list[str] = []
        for i, u in enumerate(self.units):
            self.positions.setdefault(u.chunk_id, []).append(i)
            if u.kind == "heading":
                self.headings.setdefault(plain(u.text), []).append(i)
            prev = self.units[i - 1] if i else None
            if prev is None or prev.chunk_id != u.chunk_id:
                self.above.append("")
            else:
                self.above.append(prev.text if prev.kind == "heading" else self.above[i - 1])
        # a clause ending in "；" ("…责令限期改正；") is finished by up to two clauses of its paragraph ("逾期不改正的，处…")
        self.rest: list[list[int]] = []
        for i, u in enumerate(self.units):
            rest: list[int] = []
            for j in range(i + 1, min(i + 3, len(self.units))):
                x, last = self.units[j], self.units[rest[-1] if rest else i]
                if x.chunk_id != u.chunk_id or x.para != u.para or x.kind != "sentence" or not last.text.endswith("；"):
                    break
                rest.append(j)
            self.rest.append(rest)
        # what quoting a unit brings, in characters: its text, and for a sentence that opens a list, the list
        self.extent = [len(u.text) for u in self.units]
        for i, u in enumerate(self.units):
            j = i + 1
            while u.kind == "intro" and j < len(self.units) and self.units[j].kind == "item" and self.units[j].chunk_id == u.chunk_id:
                self.extent[i] += len(self.units[j].text)
                j += 1

    def under(self, headings: list[str], docs: list[str] | None = None) -> list[Unit]:
        """What the first of these heading lines that is written somewhere (in `docs`, when given) stands over in
        its chunk, up to the next heading ("高集中" over its three points); of the places it is written, the one
        with the most body."""
        bodies = []
        written = ([i for i in self.headings.get(plain(h), []) if not docs or self.units[i].doc_id in docs] for h in headings)
        for i in next((found for found in written if found), []):
            j = i + 1
            while j < len(self.units) and self.units[j].chunk_id == self.units[i].chunk_id and self.units[j].kind != "heading":
                j += 1
            bodies.append(self.units[i + 1 : j])
        return max(bodies, key=len, default=[])

    def dense(self, vector: np.ndarray) -> np.ndarray:
        return self.matrix @ np.asarray(vector, dtype=np.float32) if len(self.units) else np.zeros(0)

    def sparse(self, query_tokens: list[str]) -> np.ndarray:
        if not self.units or not query_tokens:
            return np.zeros(len(self.units))
        return np.asarray(self._bm25.get_scores(query_tokens))


def _matrix(ids: list[str], vectors: dict[str, np.ndarray], what: str) -> np.ndarray:
    """The vectors of `ids` stacked in order; an id without a vector gets zeros (and a warning)."""
    dim = len(next(iter(vectors.values()))) if vectors else 1
    missing = sum(1 for i in ids if i not in vectors)
    if missing:
        log.warning("%d %s have no vector (index built by an older version?)", missing, what)
    zeros = np.zeros(dim, np.float32)
    return np.stack([vectors.get(i, zeros) for i in ids]) if ids else np.zeros((0, dim), np.float32)


def _bm25(corpus: list[list[str]]) -> bm25s.BM25:
    index = bm25s.BM25()
    if corpus:
        index.index([t or ["∅"] for t in corpus], show_progress=False)
    return index


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
