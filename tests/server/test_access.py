"""Errors and guards over HTTP: small JSON errors, path safety, API keys, rate limit and body size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rag.settings import Settings
from tests.server.clients import assert_error_body, serve

MARKET_Q = "2021年我国人工智能市场收支规模是多少？"


@pytest.fixture(scope="module")
def client(corpus_settings: Settings, embedder: Any) -> Iterator[TestClient]:
    """The open app (no keys) on the shared corpus index."""
    with serve(corpus_settings, embedder) as c:
        yield c


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
