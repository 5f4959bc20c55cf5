"""First start on an empty index: the corpus is indexed in the background, and /readyz, /v1 and the log say how far."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app


def test_first_start_reports_indexing_progress_until_ready(
    make_settings: Any, embedder: Any, small_corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(corpus_dir=small_corpus)
    states: list[dict[str, Any]] = []
    refused = None
    with caplog.at_level(logging.INFO, logger="server.service"), TestClient(create_app(settings, embedder=embedder)) as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = client.get("/readyz")
            states.append({"code": r.status_code, **r.json()})
            if r.status_code == 200:
                break
            if states[-1]["status"] == "indexing" and states[-1]["stage"] == "embedding" and refused is None:
                refused = client.post("/v1/ask", json={"question": "数据安全法什么时候施行？"})
            time.sleep(0.05)
        answer = client.post("/v1/ask", json={"question": "数据安全法什么时候施行？"})

    assert states[-1]["code"] == 200 and states[-1]["status"] == "ready", states[-1]
    indexing = [s for s in states if s["status"] == "indexing"]
    assert indexing, f"/readyz never said it was indexing: {states[:3]}"
    assert all(s["code"] == 503 and s["error"] == "index_not_ready" for s in indexing)
    embedding = [s for s in indexing if s["stage"] == "embedding"]
    assert any(0 < s["done"] < s["total"] for s in embedding), embedding
    assert [s["done"] for s in embedding] == sorted(s["done"] for s in embedding)
    assert all(s["documents_total"] == 3 and s["percent"] == 100 * s["done"] // s["total"] for s in embedding)
    assert any(isinstance(s["eta_s"], int) for s in embedding)
    assert re.match(r"indexing \d+%: documents \d/3, passages \d+/\d+", embedding[-1]["message"])
    assert states[-1]["chunks"] == embedding[-1]["chunks_total"]

    # a question asked meanwhile is refused with the progress, and answered once ready
    assert refused is not None and refused.status_code == 503
    assert refused.json()["error"] == "index_not_ready"
    assert re.search(r"being built \(\d+%\)", refused.json()["message"]), refused.json()
    assert answer.status_code == 200 and "2021年9月1日" in answer.json()["answer"]

    lines = [r.getMessage() for r in caplog.records if r.name == "server.service"]
    progress = [line for line in lines if line.startswith("indexing ")]
    assert any("ETA" in line for line in progress), lines
    assert 2 <= len(progress) <= 15, progress  # every 10%, not every batch
    assert any(line.startswith("indexed 3 documents") for line in lines), lines


def test_the_server_answers_while_the_model_loads(make_settings: Any, tmp_path: Path) -> None:
    """No embedder handed in: the app loads its own in the background, and says so, instead of not listening."""
    import shutil

    from tests.conftest import CORPUS

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "policies" / "2021-algorithmic-recommendation-provisions.md", corpus)
    with TestClient(create_app(make_settings(corpus_dir=corpus))) as client:
        first = client.get("/readyz")
        assert client.get("/healthz").status_code == 200
        statuses = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = client.get("/readyz")
            statuses.append((r.json()["status"], r.json().get("stage")))
            if r.status_code == 200:
                break
            time.sleep(0.05)
    assert first.status_code == 503 and first.json()["status"] == "loading" and first.json()["stage"] == "model", first.json()
    assert statuses[-1][0] == "ready"
    seen = list(dict.fromkeys(s for s, _ in statuses))
    assert seen == ["loading", "indexing", "ready"] or seen == ["loading", "indexing", "loading", "ready"], seen
