"""`policyqa bench` sections on what a process costs: the encoder beside the previous one, a cold
`policyqa ask`, and the memory a serving process holds, part by part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.settings import ROOT, Settings
from server.bench import Section, TimedEmbedder, _pct, questions


def _model_rss(settings: Settings) -> float:
    """RSS of a fresh process holding only the encoder (MiB), so each backend is measured alone."""
    code = ("from rag.embed import build_embedder; from rag.settings import Settings; from server.bench import rss_mb;"
            "e = build_embedder(Settings()); e.embed_queries(['warm']); print(rss_mb())")
    env = {**os.environ, "POLICYQA_ENCODER": settings.encoder, "POLICYQA_MODEL_CACHE": str(settings.model_cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else float("nan")


def _query_ms(embedder: Any, qs: Sequence[str], repeats: int) -> tuple[float, float]:
    for q in qs:  # warm-up
        embedder.embed_queries([q])
    took = []
    for _ in range(repeats):
        for q in qs:
            t = time.perf_counter()
            embedder.embed_queries([q])
            took.append((time.perf_counter() - t) * 1000)
    return _pct(took)


def bench_encoder(current: Settings, previous: Settings, repeats: int) -> tuple[Section, Any, float]:
    """The encoder alone, and a whole-corpus ingest with it, beside the previous encoder (torch fp32).

    Returns the section, the current encoder and its load seconds; the previous one is dropped, its index kept
    at `previous.index_dir` for the HTTP section."""
    from ingest.pipeline import Ingestor
    from rag.embed import build_embedder
    from rag.store import VectorIndex

    sec = Section(f"0. Encoder ({current.encoder})", f"the previous encoder ({previous.encoder}), same machine, same run")
    figures: dict[str, list[float]] = {}
    embedders = []
    for s in (current, previous):
        t = time.perf_counter()
        embedder = build_embedder(s)
        load_s = time.perf_counter() - t
        p50, p95 = _query_ms(embedder, questions(), repeats)
        timed = TimedEmbedder(embedder)
        report = Ingestor(s, timed, VectorIndex(s)).run()
        figures.setdefault("query embedding p50", []).append(p50)
        figures.setdefault("query embedding p95", []).append(p95)
        figures.setdefault("model load", []).append(load_s)
        figures.setdefault("passages embedded/s (chunks + units)", []).append(timed.count / timed.seconds)
        figures.setdefault("first indexing of the corpus", []).append(report.seconds)
        figures.setdefault("RSS of a process holding the model", []).append(_model_rss(s))
        embedders.append((embedder, load_s))
    units = {"query embedding p50": "ms", "query embedding p95": "ms", "model load": "s",
             "passages embedded/s (chunks + units)": "/s", "first indexing of the corpus": "s",
             "RSS of a process holding the model": "MiB"}
    targets = {"first indexing of the corpus": "<= 60"}
    for name, (now, before) in figures.items():
        sec.add(name, now, units[name], before, targets.get(name, ""))
    sec.notes.append("indexing = Ingestor.run from an empty index dir (model already loaded): chunks, units, lexicon")
    return sec, *embedders[0]


_MEMORY = """
import gc, json, sys, numpy as np
from server.bench import rss_mb
out = {"python + libraries": -rss_mb()}
from rag.embed import build_embedder
from rag.pipeline import QA
from rag.settings import Settings
from rag.store import VectorIndex
s = Settings()
out["python + libraries"] += rss_mb(); base = rss_mb()
embedder = build_embedder(s); embedder.embed_queries(["warm"])
out["encoder"] = rss_mb() - base; base = rss_mb()
index = VectorIndex(s); index.open()
out["Chroma client, version opened"] = rss_mb() - base; base = rss_mb()
from rag.text import tokens
tokens("分词器预热")
out["tokenizer (jieba's dictionary)"] = rss_mb() - base; base = rss_mb()
qa = QA(s, embedder, index); qa.ask("warm")
out["corpus in memory (chunks, units, vectors, BM25)"] = rss_mb() - base
r = qa.loaded.retriever
def bm25_bytes(b):
    return sum(a.nbytes for a in vars(b).values() if isinstance(a, np.ndarray)) + sum(
        a.nbytes for v in vars(b).values() if isinstance(v, dict) for a in v.values() if isinstance(a, np.ndarray))
out["of which vectors (chunks + units)"] = (r._matrix.nbytes + r.units.matrix.nbytes) / 2**20
out["of which BM25 indexes"] = (bm25_bytes(r._bm25) + bm25_bytes(r.units._bm25)) / 2**20
out["chunks"] = len(r.chunks); out["units"] = len(r.units.units); out["total"] = rss_mb()
print(json.dumps(out))
"""


def bench_memory(settings: Settings) -> Section:
    """What a serving process holds, part by part, measured as RSS growth in a fresh process on the index."""
    sec = Section("5. Memory of one serving process (fresh process, bundled corpus)", "-")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "POLICYQA_INDEX_DIR": str(settings.index_dir),
           "POLICYQA_ENCODER": settings.encoder, "POLICYQA_MODEL_CACHE": str(settings.model_cache)}
    done = subprocess.run([sys.executable, "-c", _MEMORY], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sec.notes.append(f"the measurement failed: {done.stderr.strip().splitlines()[-1:]}")
        return sec
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    chunks, units = parts.pop("chunks"), parts.pop("units")
    for name, mib in parts.items():
        sec.add(name, mib, "MiB", None, "<= 1024" if name == "total" else "")
    per_chunk = parts["corpus in memory (chunks, units, vectors, BM25)"] / chunks
    sec.add("corpus memory per chunk (with its units)", per_chunk * 1024, "KiB")
    sec.add("projected corpus memory at 1M chunks", per_chunk * 1e6 / 1024, "GiB")
    sec.notes.append(f"{chunks} chunks, {units} units; vectors are float32, dim 384, in memory for exact search")
    return sec


def bench_cli(settings: Settings, previous: Settings, runs: int = 5) -> Section:
    """`policyqa ask` from a cold process (imports, model, index), beside the same command on the previous encoder."""
    sec = Section("4. CLI: `policyqa ask` in a fresh process, warm disk", f"the same command with the previous encoder ({previous.encoder})")
    qs = questions()
    took: dict[str, list[float]] = {}
    for s in (settings, previous):
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "POLICYQA_INDEX_DIR": str(s.index_dir), "POLICYQA_ENCODER": s.encoder,
               "POLICYQA_MODEL_CACHE": str(s.model_cache)}
        for i in range(runs):
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "server.cli", "ask", qs[i % len(qs)]], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
            took.setdefault(s.encoder, []).append(time.perf_counter() - t if done.returncode == 0 else float("nan"))
    now, before = (float(np.median(took[s.encoder])) for s in (settings, previous))
    sec.add(f"ask p50 over {runs} cold runs", now, "s", before, "<= 3")
    sec.add("ask slowest run", max(took[settings.encoder]), "s", max(took[previous.encoder]))
    return sec
