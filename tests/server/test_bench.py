"""The bench report's pieces, fast: figures and targets, the load generator, and a small scale section (no timing checks)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from server.bench import Figure, Section, drive, render, rss_mb
from server.bench_scale import bench_scale, bigrams


def test_figures_have_ratio_and_target_status() -> None:
    assert Figure("p50", 30.0, "ms", 10.0).ratio == 3.0
    assert Figure("p50", 30.0, "ms", None).ratio is None
    assert Figure("p50", 30.0, "ms", target="<= 60").status == "PASS"
    assert Figure("p50", 61.0, "ms", target="<= 60").status == "MISS"
    assert Figure("rps", 31.0, "/s", target=">= 30").status == "PASS"
    assert Figure("rps", 29.0, "/s", target=">= 30").status == "MISS"
    assert Figure("x", 1.0).status == ""


def test_render_and_json() -> None:
    sec = Section("2. Latency", "a baseline")
    sec.add("total p50", 42.0, "ms", 21.0, "<= 60")
    sec.add("documents", 11, "", 3)
    sec.notes.append("a note")
    text = render(sec)
    assert "== 2. Latency ==" in text and "baseline: a baseline" in text
    assert "11" in text and "3.67x" in text
    assert "2x" in text and "PASS" in text and "note: a note" in text
    data = json.loads(json.dumps(sec.as_dict()))
    assert data["figures"][0]["ratio"] == 2.0 and data["figures"][0]["status"] == "PASS"


def test_load_generator_counts_requests_and_errors() -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            code = 200 if self.path == "/ok" else 500
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        ok = drive(url, lambda c, i: c.get("/ok"), clients=2, count=5)
        bad = drive(url, lambda c, i: c.get("/bad"), clients=2, seconds=0.3)
    finally:
        server.shutdown()
    assert ok["errors"] == 0 and ok["rps"] > 0 and ok["p95"] >= ok["p50"] > 0
    assert bad["errors"] > 0 and bad["rps"] == 0


def test_scale_section_reports_figures_beside_numpy() -> None:
    sec = bench_scale([2000], n_queries=5)
    text = render(sec)
    assert "6. Scale" in text and "numpy brute-force" in text and "embedded Chroma" in text
    names = [f.name for f in sec.figures]
    assert "N=2,000 Chroma insert" in names and "N=2,000 dense (Chroma) query p50" in names
    dense = next(f for f in sec.figures if f.name == "N=2,000 dense (Chroma) query p50")
    assert dense.baseline and dense.ratio and f"{dense.ratio:.3g}x" in text
    assert "BM25 tokenizer" in text


def test_scale_section_on_a_chroma_server_reports_the_servers_memory() -> None:
    sec = bench_scale([1000], n_queries=5, server=True)
    assert "`chroma run` server" in sec.title
    figures = {f.name: f.value for f in sec.figures}
    assert figures["N=1,000 chroma server RSS"] > 10
    assert figures["N=1,000 dense (Chroma) query p50"] > 0


def test_helpers() -> None:
    assert bigrams("人工 智能") == ["人工", "工智", "智能"]
    assert rss_mb() > 0
