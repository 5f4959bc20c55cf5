"""The tutorial baseline: fixed 1000-character chunks with 200 overlap, dense top-k only, top passage as answer."""

from __future__ import annotations

import tempfile
import time
import uuid
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from rag.compose import citation
from rag.embed import Embedder
from rag.store import IndexVersion
from rag.text import tokens
from rag.types import Answer, Citation

SIZE, OVERLAP = 1000, 200


def windows(text: str, size: int = SIZE, overlap: int = OVERLAP) -> list[tuple[int, int]]:
    step = size - overlap
    return [(i, min(len(text), i + size)) for i in range(0, max(1, len(text) - overlap), step)]


class BaselineQA:
    """Built from the cleaned documents of an index version, in its own throw-away Chroma."""

    def __init__(self, version: IndexVersion, embedder: Embedder, top_k: int = 5) -> None:
        self.embedder = embedder
        self.top_k = top_k
        self._dir = tempfile.TemporaryDirectory(prefix="policyqa-baseline-")
        client = chromadb.PersistentClient(path=self._dir.name, settings=ChromaSettings(anonymized_telemetry=False))
        self._col: Any = client.create_collection(f"baseline-{uuid.uuid4().hex[:8]}", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        self.texts: dict[str, str] = {}
        self.titles: dict[str, str] = {}
        ids: list[str] = []
        docs: list[str] = []
        metas: list[Any] = []
        for info in version.documents():
            _, text = version.document(info.id)
            self.texts[info.id], self.titles[info.id] = text, info.title
            for a, b in windows(text):
                ids.append(f"{info.id}:{a}")
                docs.append(text[a:b])
                metas.append({"doc_id": info.id, "start": a, "end": b})
        started = time.perf_counter()
        vectors = embedder.embed_documents(docs)
        self.build_seconds = time.perf_counter() - started
        for i in range(0, len(ids), 1000):
            self._col.add(ids=ids[i : i + 1000], embeddings=vectors[i : i + 1000], documents=docs[i : i + 1000], metadatas=metas[i : i + 1000])
        self.chunks = len(ids)

    def search(self, question: str, k: int) -> list[tuple[str, dict]]:
        vector = self.embedder.embed_queries([question])[0]
        res = self._col.query(query_embeddings=[list(map(float, vector))], n_results=k, include=["documents", "metadatas"])
        return list(zip(res["documents"][0], res["metadatas"][0], strict=True))

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        started = time.perf_counter()
        hits = self.search(question, self.top_k)
        text, meta = hits[0]
        took = round((time.perf_counter() - started) * 1000, 2)
        cite = Citation(
            n=1, chunk_id=f"{meta['doc_id']}:{meta['start']}", document_id=meta["doc_id"], title=self.titles[meta["doc_id"]],
            quote=text, text=text, start=meta["start"], end=meta["end"],
        )
        return Answer(question=question, resolved_question=question, answer=f"{text}[1]", abstained=False, citations=[cite], timings_ms={"total": took})


class SentenceBaseline:
    """The rule-free baseline: every unit of the corpus ranked by jieba BM25 and e5 fused with RRF; the top
    three are the answer. It never abstains. What the evidence scorer and composer must beat."""

    def __init__(self, qa: Any, top: int = 3, pool: int = 100) -> None:
        self.qa = qa
        self.top = top
        self.pool = pool

    def ask(self, question: str, history: list[str] | None = None) -> Answer:

        started = time.perf_counter()
        loaded = self.qa.loaded
        units = loaded.retriever.units
        fused: dict[int, float] = {}
        for scores in (units.dense(self.qa.embedder.embed_queries([question])[0]), units.sparse(tokens(question))):
            for rank, i in enumerate(np.argsort(-scores)[: self.pool].tolist()):
                fused[i] = fused.get(i, 0.0) + 1.0 / (60 + rank)
        best = sorted(fused, key=lambda i: -fused[i])[: self.top]
        titles = {d.id: d.title for d in loaded.retriever.docs.values()}
        cites = []
        for n, i in enumerate(best, 1):
            u = units.units[i]
            cites.append(citation(u, units.chunk_of[u.chunk_id], n, titles.get(u.doc_id, u.doc_id)))
        took = round((time.perf_counter() - started) * 1000, 2)
        return Answer(
            question=question, resolved_question=question, answer="".join(f"{c.quote}[{c.n}]" for c in cites),
            abstained=False, citations=cites, timings_ms={"total": took},
        )
