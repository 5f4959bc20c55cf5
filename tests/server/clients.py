"""Shared helpers for the in-process HTTP tests: a ready TestClient, SSE parsing, the error-body contract."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.settings import Settings
from server.app import create_app

READY_TIMEOUT_S = 180


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
