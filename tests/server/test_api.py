"""The HTTP API in-process (FastAPI TestClient, lifespan included) on the session's corpus index.

What a caller sees: answers with citations that point at real document text, follow-ups, streaming,
citation lookup, document listing, metrics, and errors that are always a small JSON body — plus the
guards: API keys, rate limit, body size limit and path safety.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag.settings import Settings
from server.app import create_app

REPORT = "ai-industry-report-2022"
MARKET_Q = "2021年我国人工智能市场收支规模是多少？"
READY_TIMEOUT_S = 120


@contextmanager
def serve(settings: Settings, embedder: Any) -> Iterator[TestClient]:
    """A TestClient with the lifespan running, returned once /readyz is 200 (bounded poll)."""
    with TestClient(create_app(settings, embedder=embedder)) as client:
        client.early_health = client.get("/healthz")  # type: ignore[attr-defined]
        wait_ready(client)
        yield client


def wait_ready(client: TestClient, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/readyz")
        if r.status_code == 200:
            return r.json()
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "index_not_ready", r.text
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz still 503 after {timeout}s: {r.text}")
        time.sleep(0.1)


def sse_events(text: str) -> list[tuple[str, Any]]:
    """Parse a text/event-stream body into (event, JSON data) pairs, in order."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:"):].strip()
            elif line.startswith("data:"):
                value = line[len("data:"):]
                data.append(value[1:] if value.startswith(" ") else value)
        events.append((name, json.loads("\n".join(data))))
    return events


def assert_error_body(r: Any, status: int, code: str | None = None) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["message"], str) and body["message"], body
    assert "Traceback" not in r.text and 'File "' not in r.text, r.text
    if code is not None:
        assert body["error"] == code, body
    return body


@pytest.fixture(scope="module")
def client(corpus_settings: Settings, embedder: Any) -> Iterator[TestClient]:
    """The open app (no keys) on the shared corpus index; tests here only read."""
    with serve(corpus_settings, embedder) as c:
        yield c


@pytest.fixture(scope="module")
def market_answer(client: TestClient) -> dict[str, Any]:
    r = client.post("/v1/ask", json={"question": MARKET_Q})
    assert r.status_code == 200, r.text
    return r.json()


# -- health ------------------------------------------------------------------------------------------


def test_healthz_answers_at_once_and_readyz_reports_the_index(client: TestClient) -> None:
    early = client.early_health  # type: ignore[attr-defined]
    assert early.status_code == 200 and early.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["index_version"].startswith("v")
    assert body["chunks"] > 100


# -- asking ------------------------------------------------------------------------------------------


def test_ask_answers_with_a_verifiable_citation(client: TestClient, market_answer: dict[str, Any]) -> None:
    a = market_answer
    assert "82亿美元" in a["answer"]
    assert a["abstained"] is False
    assert a["mode"] == "extractive"
    assert a["citations"], a
    c = a["citations"][0]
    assert c["n"] == 1 and "[1]" in a["answer"]
    assert c["chunk_id"]
    assert c["document_id"] == REPORT
    assert c["title"] == "中国人工智能产业报告"
    assert "82亿美元" in c["quote"]
    assert c["quote"] in c["text"]
    assert c["section"]
    assert 0 <= c["start"] < c["end"]
    assert {"retrieve", "answer", "total"} <= set(a["timings_ms"])
    assert a["timings_ms"]["total"] >= a["timings_ms"]["retrieve"] > 0
    assert a["index_version"] == client.get("/readyz").json()["index_version"]

    # the quote is verbatim in the document at the offsets given
    r = client.get(f"/v1/documents/{c['document_id']}/text")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == REPORT
    assert doc["text"][c["start"]:c["end"]] == c["quote"]


def test_unanswerable_question_abstains_with_related_passages(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "2023年我国人工智能市场规模是多少？"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["abstained"] is True
    assert a["citations"] == []
    assert a["related"], a
    assert all(p["text"] and p["document_id"] for p in a["related"])
    assert "82亿美元" not in a["answer"] and "1963亿元" not in a["answer"]


def test_chat_resolves_a_follow_up_from_earlier_turns(client: TestClient) -> None:
    messages = [
        {"role": "user", "content": "2021年杭州人工智能产业的营收是多少？"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "研发费用呢？"},
    ]
    r = client.post("/v1/chat", json={"messages": messages})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["question"] == "研发费用呢？"
    assert "杭州" in a["resolved_question"] and "研发费用" in a["resolved_question"], a["resolved_question"]
    assert "225.8亿元" in a["answer"]
    assert a["abstained"] is False
    assert a["citations"][0]["document_id"] == REPORT


def test_chat_stream_sends_deltas_then_the_same_answer_then_done(client: TestClient) -> None:
    messages = [{"role": "user", "content": MARKET_Q}]
    plain = client.post("/v1/chat", json={"messages": messages})
    assert plain.status_code == 200, plain.text

    r = client.post("/v1/chat", json={"messages": messages, "stream": True})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    names = [e for e, _ in events]
    assert names.count("answer") == 1 and names.count("delta") >= 1, names
    assert names[-1] == "done" and names.count("done") == 1, names
    answer_at = names.index("answer")
    assert set(names[:answer_at]) == {"delta"}, names  # every delta comes before the answer
    answer = events[answer_at][1]
    assert answer["answer"] == plain.json()["answer"]
    assert "82亿美元" in answer["answer"]
    assert answer["citations"] == plain.json()["citations"]
    assert "".join(d["text"] for e, d in events if e == "delta") == answer["answer"]


def test_filters_restrict_the_cited_documents(client: TestClient) -> None:
    for doc_id, date in (("2021-data-security-law", "2021年9月1日"), ("2016-cybersecurity-law", "2017年6月1日")):
        r = client.post("/v1/ask", json={"question": "什么时候施行", "filters": {"doc_id": doc_id}})
        assert r.status_code == 200, r.text
        a = r.json()
        assert a["abstained"] is False, a
        assert a["citations"], a
        assert {c["document_id"] for c in a["citations"]} == {doc_id}
        assert date in a["answer"], (doc_id, a["answer"])


# -- citation lookup and documents --------------------------------------------------------------------


def test_search_finds_and_highlights_an_exact_figure(client: TestClient) -> None:
    r = client.get("/v1/search", params={"q": "4130.27亿元", "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "4130.27亿元"
    assert 1 <= len(body["results"]) <= 5
    first = body["results"][0]
    assert "4130.27亿元" in first["text"]
    assert first["document_id"] == REPORT
    a, b = first["highlights"][0]
    assert first["text"][a:b] == "4130.27亿元"

    r = client.get(f"/v1/chunks/{first['chunk_id']}")
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["chunk"]["chunk_id"] == first["chunk_id"]
    assert found["chunk"]["text"] == first["text"]
    assert found["neighbours"], found
    assert {n["document_id"] for n in found["neighbours"]} == {REPORT}
    assert first["chunk_id"] not in {n["chunk_id"] for n in found["neighbours"]}


def test_unknown_chunk_is_a_json_404(client: TestClient) -> None:
    body = assert_error_body(client.get("/v1/chunks/no-such-chunk"), 404, "not_found")
    assert "no-such-chunk" in body["message"]


def test_documents_lists_the_corpus_with_chunk_counts(client: TestClient) -> None:
    r = client.get("/v1/documents")
    assert r.status_code == 200, r.text
    body = r.json()
    docs = body["documents"]
    assert len(docs) == 11, [d["id"] for d in docs]
    assert all(d["chunks"] > 0 for d in docs), docs
    ids = {d["id"] for d in docs}
    assert {REPORT, "2021-data-security-law", "2022-shenzhen-ai-industry-promotion-regulation"} <= ids
    assert body["index_version"] == client.get("/readyz").json()["index_version"]
    assert sum(d["chunks"] for d in docs) == client.get("/readyz").json()["chunks"]

    one = client.get("/v1/documents/2021-data-security-law")
    assert one.status_code == 200 and one.json()["title"] == "中华人民共和国数据安全法"
    assert_error_body(client.get("/v1/documents/unknown"), 404, "not_found")
    assert_error_body(client.get("/v1/documents/unknown/text"), 404, "not_found")


# -- metrics and docs ---------------------------------------------------------------------------------


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    assert client.post("/v1/ask", json={"question": MARKET_Q}).status_code == 200
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in ("policyqa_requests_total", "policyqa_stage_seconds", "policyqa_index_chunks"):
        assert f"# HELP {name} " in text, name
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    assert samples['policyqa_requests_total{path="/v1/ask",status="200"}'] >= 1
    assert samples['policyqa_stage_seconds_count{stage="retrieve"}'] >= 1
    assert samples["policyqa_index_chunks"] == client.get("/readyz").json()["chunks"]


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"/v1/ask", "/v1/chat", "/v1/search", "/v1/documents", "/v1/chat/completions", "/healthz"} <= set(paths)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


# -- errors -------------------------------------------------------------------------------------------


def _chat(n: int) -> dict[str, Any]:
    roles = ["user" if i % 2 == 0 else "assistant" for i in range(n)]
    roles[-1] = "user"
    return {"messages": [{"role": role, "content": "数据安全法什么时候施行？"} for role in roles]}


ERROR_CASES = [
    pytest.param("/v1/ask", {"json": {"question": "问" * 3000}}, "2000", id="question-too-long"),
    pytest.param("/v1/ask", {"json": {"question": "a" * 100_000}}, "2000", id="question-100kB"),
    pytest.param("/v1/ask", {"json": {"question": ""}}, "question", id="empty-question"),
    pytest.param("/v1/ask", {"json": {"question": MARKET_Q, "top_k": 0}}, "top_k", id="top_k-0"),
    pytest.param("/v1/ask", {"json": {"question": MARKET_Q, "top_k": 51}}, "top_k", id="top_k-51"),
    pytest.param("/v1/chat", {"json": _chat(51)}, "50", id="too-many-messages"),
    pytest.param(
        "/v1/chat",
        {"json": {"messages": [{"role": "user", "content": MARKET_Q}, {"role": "assistant", "content": "82亿美元"}]}},
        "last message", id="last-message-from-assistant",
    ),
    pytest.param("/v1/ask", {"json": {"question": MARKET_Q, "temperature": 0}}, "temperature", id="unknown-field"),
    pytest.param(
        "/v1/ask", {"content": b'{"question": "oops', "headers": {"content-type": "application/json"}}, "JSON", id="invalid-json",
    ),
    pytest.param("/v1/ask", {"json": {"question": "\x00\x01\u200b\u200d\ufeff\x7f"}}, "empty", id="control-chars-only"),
    pytest.param("/v1/chat", {"json": {"messages": [{"role": "user", "content": "\u200b\x02"}]}}, "empty", id="chat-control-only"),
]


@pytest.mark.parametrize(("path", "request_kwargs", "mentions"), ERROR_CASES)
def test_bad_requests_get_a_small_json_error(client: TestClient, path: str, request_kwargs: dict[str, Any], mentions: str) -> None:
    r = client.post(path, **request_kwargs)
    body = assert_error_body(r, 422)
    assert body["error"] in {"invalid_request", "invalid_input"}, body
    assert mentions.lower() in body["message"].lower(), body


def test_control_characters_inside_a_question_are_ignored(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "2021年我国\x01人工智能\u200b市场收支\x7f规模是多少？\ufeff"})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["question"] == MARKET_Q
    assert "82亿美元" in a["answer"] and not a["abstained"]


# -- path safety --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/static/../rag/settings.py",
        "/static/..%2F..%2Frag%2Fsettings.py",
        "/static/%2e%2e/app.py",
        "/static/%2e%2e/%2e%2e/rag/settings.py",
        "/v1/documents/..%2F..%2Fetc%2Fpasswd/text",
        "/v1/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    ],
)
def test_paths_cannot_escape_to_files(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert_error_body(r, 404, "not_found")
    for leak in ("class Settings", "def create_app", "root:x:0:0"):
        assert leak not in r.text


def test_static_files_and_page_are_served(client: TestClient) -> None:
    # the 404s above are not because static serving is broken
    assert client.get("/static/app.js").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


# -- API keys -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(corpus_settings: Settings, embedder: Any) -> Iterator[TestClient]:
    settings = corpus_settings.model_copy(update={"api_keys": ["k1"], "admin_key": SecretStr("adm")})
    with serve(settings, embedder) as c:
        yield c


PROTECTED = [
    pytest.param("POST", "/v1/ask", {"json": {"question": MARKET_Q}}, id="ask"),
    pytest.param("GET", "/v1/search", {"params": {"q": "4130.27亿元"}}, id="search"),
    pytest.param("GET", "/v1/documents", {}, id="documents"),
    pytest.param("GET", "/v1/models", {}, id="models"),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED)
def test_v1_needs_a_valid_key(keyed: TestClient, method: str, path: str, kwargs: dict[str, Any]) -> None:
    body = assert_error_body(keyed.request(method, path, **kwargs), 401, "unauthorized")
    assert "Authorization" in body["message"]
    assert_error_body(keyed.request(method, path, headers={"Authorization": "Bearer k2"}, **kwargs), 401, "unauthorized")
    assert_error_body(keyed.request(method, path, headers={"Authorization": "k1"}, **kwargs), 401, "unauthorized")
    ok = keyed.request(method, path, headers={"Authorization": "Bearer k1"}, **kwargs)
    assert ok.status_code == 200, ok.text


def test_health_and_page_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/readyz").status_code == 200
    page = keyed.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()


# -- rate limit ---------------------------------------------------------------------------------------


def test_rate_limit_refuses_the_fourth_request_with_retry_after(corpus_settings: Settings, embedder: Any) -> None:
    settings = corpus_settings.model_copy(update={"rate_limit_per_minute": 3, "api_keys": ["key-one", "key-two"]})
    one, two = {"Authorization": "Bearer key-one"}, {"Authorization": "Bearer key-two"}
    with serve(settings, embedder) as c:
        for _ in range(3):
            r = c.get("/v1/documents", headers=one)
            assert r.status_code == 200, r.text
        r = c.post("/v1/ask", json={"question": MARKET_Q}, headers=one)
        assert_error_body(r, 429, "rate_limited")
        retry = int(r.headers["Retry-After"])
        assert 1 <= retry <= 60, retry
        # another caller is not affected, nor are health checks
        assert c.get("/v1/documents", headers=two).status_code == 200
        assert c.get("/healthz").status_code == 200


# -- body size ----------------------------------------------------------------------------------------


def test_bodies_over_the_limit_are_refused(corpus_settings: Settings, embedder: Any) -> None:
    settings = corpus_settings.model_copy(update={"max_body_bytes": 2000})
    big = json.dumps({"question": "a" * 5000}).encode()

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(big), 500):
            yield big[i:i + 500]

    with serve(settings, embedder) as c:
        r = c.post("/v1/ask", content=big, headers={"content-type": "application/json"})
        assert r.request.headers["content-length"] == str(len(big))
        body = assert_error_body(r, 413, "payload_too_large")
        assert "2000" in body["message"]

        r = c.post("/v1/ask", content=chunked(), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers and r.request.headers["transfer-encoding"] == "chunked"
        body = assert_error_body(r, 413, "payload_too_large")
        assert "2000" in body["message"]

        # a body under the limit is still answered
        r = c.post("/v1/ask", json={"question": MARKET_Q})
        assert r.status_code == 200 and "82亿美元" in r.json()["answer"]
