"""`policyqa bench`: ingest, query latency, HTTP throughput and scale figures, each beside a baseline.

Everything runs on a throw-away index in a temp dir; ratios are figure / baseline. Diagnostics go to the
log (stderr); the report is printed to stdout and, with `--json PATH`, written as JSON.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.settings import ROOT, Settings

log = logging.getLogger(__name__)
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"
DEFAULT_SCALE, QUICK_SCALE = [10000, 100000], [2000, 10000]


@dataclass
class Figure:
    """One measured value, with its baseline and, where the issue sets one, a target like "<= 60"."""

    name: str
    value: float
    unit: str = ""
    baseline: float | None = None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def status(self) -> str:
        op, _, limit = self.target.partition(" ")
        ok = self.value <= float(limit) if op == "<=" else self.value >= float(limit or 0)
        return "" if not self.target else "PASS" if ok else "MISS"


@dataclass
class Section:
    title: str
    baseline: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str = "", baseline: float | None = None, target: str = "") -> None:
        self.figures.append(Figure(name, round(float(value), 3), unit, None if baseline is None else round(float(baseline), 3), target))

    def as_dict(self) -> dict[str, Any]:
        figs = [{**asdict(f), "ratio": f.ratio, "status": f.status} for f in self.figures]
        return {"title": self.title, "baseline": self.baseline, "figures": figs, "notes": self.notes}


def render(sec: Section) -> str:
    """A plain-text table of one section."""
    head = f"{'figure':<40}{'value':>10} {'unit':<5}{'baseline':>10}{'ratio':>9}  {'target':<9}status"
    lines = [f"\n== {sec.title} ==", f"baseline: {sec.baseline}", head, "-" * len(head)]
    for f in sec.figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.3g}x"
        lines.append(f"{f.name:<40}{_num(f.value):>10} {f.unit:<5}{_num(f.baseline):>10}{ratio:>9}  {f.target:<9}{f.status}")
    return "\n".join(lines + [f"note: {n}" for n in sec.notes])


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if float(v).is_integer() or abs(v) >= 1000 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def _pct(values: Sequence[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95]) if len(values) else (np.nan, np.nan)
    return float(p50), float(p95)


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (VmRSS from /proc)."""
    found = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else float("nan")


def questions() -> list[str]:
    from rag.evaluate import load_dataset

    return [r.question for r in load_dataset(DEV_SET)[0]]


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent embedding passages."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.seconds, self.count = inner, inner.name, 0.0, 0

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.embed_queries(texts))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        t = time.perf_counter()
        out = self.inner.embed_documents(texts)
        self.seconds += time.perf_counter() - t
        self.count += len(texts)
        return np.asarray(out)


def bench_ingest(settings: Settings, embedder: Any, load_s: float) -> tuple[Section, Any]:
    """Whole-corpus ingest from scratch, an unchanged re-ingest, and the baseline built from the same text."""
    from ingest.pipeline import Ingestor
    from rag.baseline import BaselineQA
    from rag.store import VectorIndex

    sec = Section("1. Ingest (whole corpus, from scratch)", "tutorial BaselineQA: 1000/200-char chunks of the same cleaned text")
    timed = TimedEmbedder(embedder)
    index = VectorIndex(settings)
    first = Ingestor(settings, timed, index).run()
    again = Ingestor(settings, timed, index).run()
    t = time.perf_counter()
    baseline = BaselineQA(index.open(), embedder)
    base_s = time.perf_counter() - t
    sec.add("documents", first.documents)
    sec.add("pages", first.pages)
    sec.add("chunks", first.chunks, "", baseline.chunks)
    sec.add("embedding seconds", timed.seconds, "s", baseline.build_seconds)
    sec.add("ingest seconds (excl. model load)", first.seconds, "s", base_s, "<= 90")
    sec.add("chunks/s", first.chunks / first.seconds, "/s", baseline.chunks / base_s)
    sec.add("re-ingest, nothing changed", again.seconds, "s", None, "<= 10")
    sec.add("embedding model load (not in ingest)", load_s, "s")
    sec.notes.append("baseline seconds = building BaselineQA (embedding + Chroma insert); its embedding alone beside ours")
    if first.failed:
        sec.notes.append(f"files that failed: {first.failed}")
    return sec, baseline


def bench_inprocess(settings: Settings, embedder: Any, baseline: Any, repeats: int) -> Section:
    """Per-stage p50/p95 of QA.ask (extractive) over the dev questions, beside BaselineQA.ask."""
    from rag.pipeline import QA
    from rag.store import VectorIndex

    sec = Section("2. In-process query latency (extractive, warm)", "BaselineQA.ask: dense top-5, top passage as answer")
    t = time.perf_counter()
    qa = QA(settings, embedder, VectorIndex(settings))
    sec.add("QA load (chunks + BM25 index)", time.perf_counter() - t, "s")
    qs = questions()
    stages: dict[str, list[float]] = {}
    base: list[float] = []
    for q in qs:  # warm-up pass
        qa.ask(q)
        baseline.ask(q)
    for _ in range(repeats):
        for q in qs:
            for k, v in qa.ask(q).timings_ms.items():
                stages.setdefault(k, []).append(v)
            base.append(baseline.ask(q).timings_ms["total"])
    b50, b95 = _pct(base)
    for stage in ("read", "embed", "retrieve", "evidence", "compose", "total"):
        p50, p95 = _pct(stages.get(stage, []))
        total = stage == "total"
        sec.add(f"{stage} p50", p50, "ms", b50 if total else None)
        sec.add(f"{stage} p95", p95, "ms", b95 if total else None)
    sec.notes.append(f"{len(qs)} dev questions x {repeats} after one warm-up pass ({len(base)} asks each)")
    return sec


def start_server(settings: Settings, log_path: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """uvicorn serving the app on `settings.index_dir` (no keys, no rate limit, no LLM); waits for /readyz."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    same = ("index_dir", "corpus_dir", "model_cache", "embedding_model", "encoder", "encoder_threads", "chunk_size",
            "chunk_min", "top_k", "candidates")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **{f"POLICYQA_{k.upper()}": str(getattr(settings, k)) for k in same}}
    env |= {f"POLICYQA_{k}": "" for k in ("CHROMA_URL", "LLM_BASE_URL", "LLM_MODEL", "RERANKER_MODEL")}
    env |= {"POLICYQA_API_KEYS": "[]", "POLICYQA_RATE_LIMIT_PER_MINUTE": "0"}
    cmd = [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--no-access-log", "--log-level", "warning"]
    started = time.perf_counter()
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 300 and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"the server did not become ready: {log_path.read_text(errors='replace')[-2000:]}")


Send = Callable[[Any, int], Any]  # (httpx.Client, request number) -> httpx.Response


def drive(url: str, send: Send, clients: int, seconds: float = float("inf"), count: int = 0) -> dict[str, float]:
    """`clients` threads, one connection each, sending back to back for `seconds` (or `count` requests each)."""
    import httpx

    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(w: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(w, count * clients if count else 1 << 62, clients):
                if time.perf_counter() >= deadline:
                    break
                t = time.perf_counter()
                try:
                    ok = send(client, i).status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = (time.perf_counter() - t) * 1000
                with lock:
                    lat.extend([took] if ok else [])
                    errors[0] += not ok

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    p50, p95 = _pct(lat)
    return {"rps": len(lat) / (time.perf_counter() - started), "errors": errors[0], "p50": p50, "p95": p95}


def _load_http(settings: Settings, repeats: int, seconds: float, log_path: Path) -> dict[str, float]:
    """One server on `settings`: sequential /v1/ask and /healthz, then 1, 4 and 16 clients; its RSS after."""
    qs = questions()

    def ask(c: Any, i: int) -> Any:
        return c.post("/v1/ask", json={"question": qs[i % len(qs)]})

    def health(c: Any, i: int) -> Any:
        return c.get("/healthz")

    proc, url, ready_s = start_server(settings, log_path)
    try:
        out = {"ready": ready_s}
        drive(url, ask, 1, count=len(qs))  # warm-up
        a, h = drive(url, ask, 1, count=len(qs) * repeats), drive(url, health, 1, count=len(qs) * repeats)
        out |= {"p50": a["p50"], "p95": a["p95"], "errors": a["errors"], "health p50": h["p50"]}
        out["idle rss"] = rss_mb(proc.pid)
        for n in (1, 4, 16):
            a = drive(url, ask, n, seconds)
            out |= {f"{n} rps": a["rps"], f"{n} errors": a["errors"], f"{n} p50": a["p50"], f"{n} p95": a["p95"]}
        out["rss"] = rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_http(settings: Settings, previous: Settings, repeats: int, seconds: float, tmp: Path) -> Section:
    """POST /v1/ask latency and throughput on a real server (one worker), beside the previous encoder's server."""
    sec = Section("3. HTTP (uvicorn subprocess, one worker, extractive, no keys, no rate limit)",
                  f"the same server with the previous encoder ({previous.encoder}) on its own index")
    now = _load_http(settings, repeats, seconds, tmp / "server.log")
    before = _load_http(previous, repeats, seconds, tmp / "server-previous.log")
    sec.add("server start to /readyz", now["ready"], "s", before["ready"])
    sec.add("/v1/ask sequential p50", now["p50"], "ms", before["p50"], "<= 20")
    sec.add("/v1/ask sequential p95", now["p95"], "ms", before["p95"], "<= 40")
    sec.add("/v1/ask sequential errors", now["errors"], "", before["errors"], "<= 0")
    for n in (1, 4, 16):
        sec.add(f"{n:>2} clients: req/s", now[f"{n} rps"], "/s", before[f"{n} rps"], ">= 60" if n == 16 else "")
        sec.add(f"{n:>2} clients: errors", now[f"{n} errors"], "", before[f"{n} errors"], "<= 0" if n == 16 else "")
        sec.add(f"{n:>2} clients: p50", now[f"{n} p50"], "ms", before[f"{n} p50"])
        sec.add(f"{n:>2} clients: p95", now[f"{n} p95"], "ms", before[f"{n} p95"])
    sec.add("server RSS idle", now["idle rss"], "MiB", before["idle rss"])
    sec.add("server RSS after load", now["rss"], "MiB", before["rss"], "<= 1024")
    sec.notes.append(f"GET /healthz p50 on the same stack (the HTTP floor): {now['health p50']:.2f} ms")
    sec.notes.append(f"sequential: {len(questions()) * repeats} requests after a warm-up pass; load: {seconds:.0f} s per level")
    sec.notes.append("the load generator shares the machine's cores with the server")
    return sec


def emit(sections: list[Section], sec: Section) -> None:
    sections.append(sec)
    print(render(sec), flush=True)


def main(args: Any, settings: Settings) -> int:
    """Run the five sections, print the report, and write the figures as JSON with `--json PATH`."""
    quick = bool(getattr(args, "quick", False))
    scale = list(getattr(args, "scale", None) or DEFAULT_SCALE)
    sizes = QUICK_SCALE if quick and scale == DEFAULT_SCALE else scale
    repeats, seconds = (1, 5.0) if quick else (3, 15.0)
    sections: list[Section] = []
    started = time.perf_counter()
    print(f"policyqa bench ({'quick' if quick else 'full'}); ratio = figure / baseline; {os.cpu_count()} CPUs", flush=True)
    from server.bench_process import (  # import this module's report types
        bench_cli,
        bench_encoder,
        bench_memory,
    )

    with tempfile.TemporaryDirectory(prefix="policyqa-bench-") as tmp:
        s = settings.model_copy(update={
            "index_dir": Path(tmp) / "index", "chroma_url": "", "llm_base_url": "", "llm_model": "",
            "reranker_model": "", "api_keys": [], "rate_limit_per_minute": 0,
        })
        previous = s.model_copy(update={"encoder": "torch", "index_dir": Path(tmp) / "index-previous"})
        log.info("encoders: %s and the previous %s", s.encoder, previous.encoder)
        encoder, embedder, load_s = bench_encoder(s.model_copy(update={"index_dir": Path(tmp) / "index-encoder"}), previous, repeats)
        emit(sections, encoder)
        gc.collect()
        log.info("ingest")
        ingest, baseline = bench_ingest(s, embedder, load_s)
        emit(sections, ingest)
        log.info("in-process latency")
        emit(sections, bench_inprocess(s, embedder, baseline, repeats))
        del baseline
        gc.collect()
        log.info("HTTP")
        emit(sections, bench_http(s, previous, repeats, seconds, Path(tmp)))
        emit(sections, bench_cli(s, previous))
        emit(sections, bench_memory(s))
    from server.bench_scale import bench_scale  # imports this module's report types

    emit(sections, bench_scale(sizes, 20 if quick else 50, server=bool(getattr(args, "chroma_server", False))))
    missed = [f.name for sec in sections for f in sec.figures if f.status == "MISS"]
    print(f"\ntargets missed: {', '.join(missed) or 'none'}; took {time.perf_counter() - started:.0f} s", flush=True)
    out = getattr(args, "json", "")
    if out:
        Path(out).write_text(json.dumps({"quick": quick, "sections": [x.as_dict() for x in sections]}, ensure_ascii=False, indent=2))
    return 0
