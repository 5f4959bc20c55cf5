"""Uploading and deleting documents through the API, on a writable copy of three laws.

The app indexes the small corpus itself on start (a fresh index in a temp dir), so each app waits for
/readyz. Answers must keep flowing while an upload is being indexed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from server.app import create_app
from tests.conftest import PDFS
from tests.server.clients import wait_ready

ADMIN = {"Authorization": "Bearer adm"}
USER = {"Authorization": "Bearer k1"}
PDF = PDFS / "2022-shenzhen-ai-industry-promotion-regulation.pdf"
PDF_ID = "2022-shenzhen-ai-industry-promotion-regulation"
SHENZHEN_Q = "深圳市人工智能产业的主管部门是哪个部门？"
DSL_Q = "《数据安全法》从什么时候开始施行？"
SMALL_IDS = {"2021-data-security-law", "2021-algorithmic-recommendation-provisions", "2016-cybersecurity-law"}


@contextmanager
def started(settings: Settings, embedder: Any) -> Iterator[TestClient]:
    """The app with its lifespan running (not yet necessarily ready); waits for readiness before leaving,
    so no indexing thread outlives the test."""
    with TestClient(create_app(settings, embedder=embedder)) as client:
        try:
            yield client
        finally:
            wait_ready(client)


@pytest.fixture
def settings(make_settings: Callable[..., Settings], small_corpus: Path) -> Settings:
    # questions are asked back to back while an upload indexes: faster than the default rate limit allows
    return make_settings(corpus_dir=small_corpus, admin_key="adm", api_keys=["k1"], rate_limit_per_minute=0)


def doc_ids(client: TestClient) -> set[str]:
    r = client.get("/v1/documents", headers=USER)
    assert r.status_code == 200, r.text
    return {d["id"] for d in r.json()["documents"]}


def files_in(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def upload(client: TestClient, name: str, data: bytes, headers: dict[str, str] = ADMIN) -> Any:
    return client.post("/v1/documents", files={"file": (name, data, "application/octet-stream")}, headers=headers)


def assert_error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    assert "Traceback" not in r.text
    return body["message"]


def test_bad_uploads_are_refused_and_leave_the_corpus_alone(settings: Settings, embedder: Any) -> None:
    pdf = PDF.read_bytes()
    with started(settings, embedder) as c:
        # refusals do not wait for the startup indexing
        assert_error(upload(c, PDF.name, pdf, headers={}), 401, "unauthorized")
        assert_error(upload(c, PDF.name, pdf, headers=USER), 403, "forbidden")
        message = assert_error(upload(c, "setup.exe", b"MZ\x90\x00" * 64), 422, "invalid_input")
        assert "setup.exe" in message and "unsupported file type" in message and ".pdf" in message
        message = assert_error(upload(c, "broken.pdf", b"%PDF-1.7 junk"), 422, "unreadable_document")
        assert "broken.pdf" in message and "corrupt" in message

        wait_ready(c)
        assert doc_ids(c) == SMALL_IDS
        assert files_in(settings.corpus_dir / "uploads") == []
        assert files_in(settings.index_dir / "incoming") == []


def test_upload_is_answerable_answers_continue_meanwhile_and_delete_removes_it(settings: Settings, embedder: Any) -> None:
    with started(settings, embedder) as c:
        wait_ready(c)
        assert doc_ids(c) == SMALL_IDS
        before = c.post("/v1/ask", json={"question": SHENZHEN_Q}, headers=USER).json()
        assert before["abstained"] or all(x["document_id"] != PDF_ID for x in before["citations"])

        # upload in the background; meanwhile keep asking
        result: dict[str, Any] = {}

        def run_upload() -> None:
            try:
                result["response"] = upload(c, PDF.name, PDF.read_bytes())
            except BaseException as exc:  # surfaced below
                result["error"] = exc

        thread = threading.Thread(target=run_upload)
        thread.start()
        during = 0
        deadline = time.monotonic() + 300
        while thread.is_alive() and time.monotonic() < deadline:
            r = c.post("/v1/ask", json={"question": DSL_Q}, headers=USER)
            assert r.status_code == 200, r.text
            assert "2021年9月1日" in r.json()["answer"], r.json()
            if thread.is_alive():
                during += 1
        thread.join(timeout=60)
        assert not thread.is_alive(), "the upload did not finish"
        assert "error" not in result, result.get("error")
        assert during >= 1, "no question was answered while the upload was being indexed"

        r = result["response"]
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["added"] == [PDF_ID]
        assert report["failed"] == {}
        assert report["index_version"] == c.get("/readyz").json()["index_version"]
        assert PDF_ID in doc_ids(c)

        # the new document answers, cited with its page
        r = c.post("/v1/ask", json={"question": SHENZHEN_Q}, headers=USER)
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["abstained"] is False, a
        cited = [x for x in a["citations"] if x["document_id"] == PDF_ID]
        assert cited, a["citations"]
        assert cited[0]["page"] == 1
        assert "工业和信息化部门" in a["answer"]
        text = c.get(f"/v1/documents/{PDF_ID}/text", headers=USER).json()["text"]
        assert text[cited[0]["start"]:cited[0]["end"]] == cited[0]["quote"]

        # deleting needs the admin key
        assert_error(c.delete(f"/v1/documents/{PDF_ID}", headers=USER), 403, "forbidden")
        assert PDF_ID in doc_ids(c)

        r = c.delete(f"/v1/documents/{PDF_ID}", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["removed"] == [PDF_ID]
        assert doc_ids(c) == SMALL_IDS
        assert not (settings.corpus_dir / "uploads" / PDF.name).exists()
        assert_error(c.get(f"/v1/documents/{PDF_ID}", headers=USER), 404, "not_found")

        r = c.post("/v1/ask", json={"question": SHENZHEN_Q}, headers=USER)
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["abstained"] or all(x["document_id"] != PDF_ID for x in a["citations"]), a
        assert all(p["document_id"] != PDF_ID for p in a["related"])
        assert "工业和信息化部门是人工智能产业主管部门" not in a["answer"]

        assert_error(c.delete("/v1/documents/no-such-document", headers=ADMIN), 404, "not_found")
        assert_error(c.delete(f"/v1/documents/{PDF_ID}", headers=ADMIN), 404, "not_found")
