"""Load, kills and restarts against real server processes: no errors, no lost data, bounded memory."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.conftest import CORPUS, rss_mb, start_server, stop_server

QUESTIONS = [
    ("2021年我国人工智能市场收支规模是多少？", "82亿美元"),
    ("《数据安全法》从什么时候开始施行？", "2021年9月1日"),
    ("2021年深圳人工智能相关企业有多少家？", "1432家"),
    ("2023年我国人工智能市场规模是多少？", "文档中没有找到"),
]


def hammer(url: str, clients: int, seconds: float, questions=QUESTIONS) -> Counter[str]:  # type: ignore[no-untyped-def]
    """`clients` threads asking in a loop; counts 'ok', wrong answers and error statuses."""
    outcome: Counter[str] = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            n = i
            while time.monotonic() < stop:
                question, fact = questions[n % len(questions)]
                n += 1
                try:
                    r = http.post("/v1/ask", json={"question": question})
                    key = "ok" if r.status_code == 200 and fact in r.json()["answer"] else f"bad:{r.status_code}"
                except httpx.HTTPError as exc:
                    key = f"error:{type(exc).__name__}"
                with lock:
                    outcome[key] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_sixteen_clients_get_right_answers_and_memory_stays_bounded(live_process) -> None:  # type: ignore[no-untyped-def]
    proc, url = live_process
    hammer(url, 4, 3)  # warm up
    before = rss_mb(proc.pid)
    outcome = hammer(url, 16, 20)
    after = rss_mb(proc.pid)
    assert set(outcome) == {"ok"} and outcome["ok"] > 50, outcome
    assert after - before < 200, f"RSS grew from {before:.0f} MB to {after:.0f} MB under load"
    assert after < 1536


def test_answers_continue_while_an_ingest_is_killed_and_after_a_new_version(make_settings, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_dir=small_corpus)
    proc, url = start_server(settings.index_dir, small_corpus, POLICYQA_RATE_LIMIT_PER_MINUTE="0")
    try:
        question = [("《数据安全法》从什么时候开始施行？", "2021年9月1日")]
        law = small_corpus / "2021-data-security-law.md"
        shutil.copy(CORPUS / "policies" / "2021-personal-information-protection-law.md", small_corpus)
        law.write_text(law.read_text(encoding="utf-8").replace("2021年9月1日", "2031年9月1日"), encoding="utf-8")
        env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(small_corpus)}
        results: list[Counter[str]] = []
        load = threading.Thread(target=lambda: results.append(hammer(url, 4, 14, question)))
        load.start()
        ingest = subprocess.Popen([sys.executable, "-m", "server.cli", "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(8)
        ingest.send_signal(signal.SIGKILL)
        ingest.wait()
        load.join()
        assert set(results[0]) == {"ok"}, results[0]  # the old version kept answering, unchanged
        done = subprocess.run([sys.executable, "-m", "server.cli", "ingest"], env=env, capture_output=True, timeout=300)
        assert done.returncode == 0
        deadline = time.time() + 30
        answer = ""
        while time.time() < deadline and "2031年9月1日" not in answer:
            answer = httpx.post(f"{url}/v1/ask", json={"question": question[0][0]}, timeout=60).json()["answer"]
            time.sleep(1)
        assert "2031年9月1日" in answer  # the running server switched to the new version
    finally:
        stop_server(proc)


def test_a_server_killed_under_load_restarts_with_all_its_data(make_settings, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_dir=small_corpus)
    proc, url = start_server(settings.index_dir, small_corpus, POLICYQA_RATE_LIMIT_PER_MINUTE="0")
    docs_before = httpx.get(f"{url}/v1/documents").json()["documents"]
    load = threading.Thread(target=hammer, args=(url, 4, 6, [("《数据安全法》从什么时候开始施行？", "2021年9月1日")]))
    load.start()
    time.sleep(3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    load.join()
    proc, url = start_server(settings.index_dir, small_corpus)
    try:
        docs_after = httpx.get(f"{url}/v1/documents").json()["documents"]
        assert [(d["id"], d["chunks"]) for d in docs_after] == [(d["id"], d["chunks"]) for d in docs_before]
        assert "2021年9月1日" in httpx.post(f"{url}/v1/ask", json={"question": "《数据安全法》从什么时候开始施行？"}, timeout=60).json()["answer"]
    finally:
        stop_server(proc)
