"""`policyqa bench` scale section: synthetic indexes of N chunks, Chroma and BM25 query cost beside numpy."""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from server.bench import Section, _pct, rss_mb

log = logging.getLogger(__name__)
JIEBA_LIMIT_S = 60.0  # above this projected tokenizing time the scale test falls back to character bigrams
WORDS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法"
    "所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四"
)


def fake_texts(n: int, rng: random.Random, length: int = 150) -> list[str]:
    """Chinese-like passages: common characters and two-character words at random."""
    vocab = list(WORDS) + [WORDS[i : i + 2] for i in range(0, len(WORDS) - 1, 2)]
    return ["".join(rng.choices(vocab, k=length // 2))[:length] for _ in range(n)]


def unit_vectors(n: int, seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def bigrams(text: str) -> list[str]:
    chars = [c for c in text if c.strip()]
    return [a + b for a, b in zip(chars, chars[1:], strict=False)] or chars


def choose_tokenizer(texts: Sequence[str]) -> tuple[Callable[[str], list[str]], str, float]:
    """jieba (as the real index) unless its projected time for all texts is over JIEBA_LIMIT_S."""
    from rag.text import tokens

    tokens("预热分词器")
    t = time.perf_counter()
    for x in texts[:1000]:
        tokens(x)
    projected = (time.perf_counter() - t) / min(1000, len(texts)) * len(texts)
    if projected <= JIEBA_LIMIT_S:
        return tokens, "jieba (rag.text.tokens)", projected
    return bigrams, f"character bigrams (jieba projected {projected:.0f} s > {JIEBA_LIMIT_S:.0f} s)", projected


def insert(col: Any, texts: list[str], vectors: np.ndarray, batch: int) -> float:
    """Seconds to add the chunks to a Chroma collection in batches."""
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        j = min(len(texts), i + batch)
        col.add(ids=[str(x) for x in range(i, j)], embeddings=vectors[i:j], documents=texts[i:j],
                metadatas=[{"doc_id": f"doc-{x // 500}", "position": x} for x in range(i, j)])
    return time.perf_counter() - t


def query_times(col: Any, bm25: Any, tokenize: Callable[[str], list[str]], vectors: np.ndarray, n: int, k: int) -> dict[str, list[float]]:
    """Milliseconds per query: Chroma dense, BM25 (tokenize + score + sort), numpy brute force."""
    qv, qt = unit_vectors(n, len(vectors) + 1), fake_texts(n, random.Random(len(vectors)), 24)
    col.query(query_embeddings=qv[:2], n_results=k)  # load the HNSW index
    out: dict[str, list[float]] = {"dense": [], "bm25": [], "numpy": []}
    for v, q in zip(qv, qt, strict=True):
        t = time.perf_counter()
        col.query(query_embeddings=[v], n_results=k, include=["documents", "metadatas", "distances"])
        out["dense"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        np.argsort(-bm25.get_scores(tokenize(q)))[:k]
        out["bm25"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        scores = vectors @ v
        top = np.argpartition(-scores, k)[:k]
        top[np.argsort(-scores[top])]
        out["numpy"].append((time.perf_counter() - t) * 1000)
    out["hybrid"] = [a + b for a, b in zip(out["dense"], out["bm25"], strict=True)]
    return out


def start_chroma(path: str | Path) -> tuple[subprocess.Popen[bytes], int]:
    """A `chroma run` server on `path` and a free loopback port, once its heartbeat answers."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("chroma run did not start")


@contextlib.contextmanager
def chroma_client(tmp: str, server: bool) -> Iterator[tuple[Any, Callable[[], float]]]:
    """An embedded Chroma in `tmp`, or a `chroma run` server on it reached over HTTP; with the store's RSS."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    if not server:
        yield chromadb.PersistentClient(path=tmp, settings=ChromaSettings(anonymized_telemetry=False)), lambda: 0.0
        return
    proc, port = start_chroma(tmp)
    try:
        yield chromadb.HttpClient(host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False)), \
            lambda: rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def scale_one(sec: Section, n: int, n_queries: int, k: int, server: bool = False) -> None:
    """Build one synthetic index of n chunks in a temp dir (embedded, or behind `chroma run`), query it, free it."""
    import bm25s
    from chromadb.api.shared_system_client import SharedSystemClient

    texts, vectors = fake_texts(n, random.Random(n)), unit_vectors(n, n)
    rss0 = rss_mb()
    with tempfile.TemporaryDirectory(prefix="policyqa-scale-") as tmp, chroma_client(tmp, server) as (client, store_rss):
        col = client.create_collection("scale", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        insert_s = insert(col, texts, vectors, min(5000, client.get_max_batch_size()))
        tokenize, how, projected = choose_tokenizer(texts)
        t = time.perf_counter()
        bm25 = bm25s.BM25()
        bm25.index([tokenize(x) or ["∅"] for x in texts], show_progress=False)
        bm25_s = time.perf_counter() - t
        ms = query_times(col, bm25, tokenize, vectors, n_queries, k)
        rss, server_rss = rss_mb(), store_rss()
        client.delete_collection("scale")
        del col, client, bm25
        SharedSystemClient.clear_system_cache()
    base = _pct(ms["numpy"])[0]
    label = f"N={n:,}"
    sec.add(f"{label} Chroma insert", insert_s, "s")
    sec.add(f"{label} BM25 tokenize+index", bm25_s, "s")
    sec.add(f"{label} jieba tokenize (projected)", projected, "s")
    for kind, name in (("dense", "dense (Chroma)"), ("bm25", "BM25"), ("hybrid", "dense+BM25")):
        p50, p95 = _pct(ms[kind])
        target = "<= 150" if kind == "hybrid" and n == 100000 else ""
        sec.add(f"{label} {name} query p50", p50, "ms", None if kind == "bm25" else base, target)
        sec.add(f"{label} {name} query p95", p95, "ms")
    sec.add(f"{label} process RSS", rss, "MiB", rss0)
    if server:
        sec.add(f"{label} chroma server RSS", server_rss, "MiB")
    sec.notes.append(f"N={n:,}: BM25 tokenizer: {how}")


def bench_scale(sizes: Sequence[int], n_queries: int = 50, k: int = 30, server: bool = False) -> Section:
    """Synthetic indexes of N chunks (random text, random unit vectors of dim 384), queried like the real path."""
    store = "a `chroma run` server over HTTP" if server else "embedded Chroma"
    sec = Section(f"6. Scale (synthetic chunks, dim 384, top-30, {store})",
                  "numpy brute-force cosine top-k over the same vectors, in this process (p50)")
    for n in sizes:
        log.info("scale: %d synthetic chunks", n)
        scale_one(sec, n, n_queries, k, server)
        gc.collect()
    sec.notes.append("RSS baseline = this process before building that size (it also holds the embedding model)")
    return sec
