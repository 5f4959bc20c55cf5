"""`policyqa ask` as a user runs it: a fresh process on the session's index, or a running server via --url."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rag.settings import Settings
from tests.conftest import free_port

QUESTION = "数据安全法什么时候开始施行？"


def _ask(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLICYQA_")} | env
    return subprocess.run([sys.executable, "-m", "server.cli", "ask", *args], env=environ,
                          capture_output=True, text=True, timeout=120)


def test_ask_prints_the_cited_answer_and_nothing_on_stderr(corpus_settings: Settings) -> None:
    done = _ask(QUESTION, POLICYQA_INDEX_DIR=str(corpus_settings.index_dir))
    assert done.returncode == 0, done.stderr
    assert "2021年9月1日" in done.stdout and "[1] 《" in done.stdout
    assert done.stderr == ""


def test_ask_verbose_logs_what_loads_and_the_stage_timings(corpus_settings: Settings) -> None:
    done = _ask("-v", QUESTION, POLICYQA_INDEX_DIR=str(corpus_settings.index_dir))
    assert done.returncode == 0, done.stderr
    assert "embedding model" in done.stderr and "stages (ms)" in done.stderr


def test_ask_url_asks_the_running_server(corpus_settings: Settings, live_server: str) -> None:
    local = _ask("--json", QUESTION, POLICYQA_INDEX_DIR=str(corpus_settings.index_dir))
    remote = _ask("--json", QUESTION, POLICYQA_URL=live_server, POLICYQA_INDEX_DIR="/nonexistent")
    assert remote.returncode == 0, remote.stderr
    mine, theirs = json.loads(local.stdout), json.loads(remote.stdout)
    assert theirs["answer"] == mine["answer"]
    assert [c["quote"] for c in theirs["citations"]] == [c["quote"] for c in mine["citations"]]


def test_ask_url_names_an_unreachable_server_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = _ask("--url", url, QUESTION)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error (remote_error): cannot reach {url}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_ask_url_relays_the_servers_error_message(live_server: str) -> None:
    done = _ask("--url", live_server, "问" * 5000)
    assert done.returncode == 2
    assert f"{live_server} answered 422" in done.stderr and "2000" in done.stderr
