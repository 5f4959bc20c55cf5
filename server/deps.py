"""Access control and limits: API keys (constant-time), admin key, per-key rate limit, body size."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.errors import PolicyQAError
from rag.settings import Settings


class Unauthorized(PolicyQAError):
    code = "unauthorized"
    status = 401


class Forbidden(PolicyQAError):
    code = "forbidden"
    status = 403


class RateLimited(PolicyQAError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLarge(PolicyQAError):
    code = "payload_too_large"
    status = 413


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _matches(token: str, keys: list[str]) -> bool:
    # compare against every key so the time taken does not reveal which one matched
    found = False
    for key in keys:
        found |= hmac.compare_digest(token.encode(), key.encode())
    return found


class RateLimiter:
    """A token bucket per caller: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, caller: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._buckets[caller] = (tokens, now)
                raise RateLimited(f"rate limit of {int(self.capacity)} requests per minute reached", math.ceil((1 - tokens) / self.rate))
            self._buckets[caller] = (tokens - 1, now)


def require_key(request: Request) -> str:
    """Dependency for every /v1 route: the caller's key (or client address when keys are off)."""
    settings: Settings = request.app.state.settings
    keys = settings.api_keys
    admin = settings.admin_key.get_secret_value()
    token = _bearer(request)
    if keys or admin:
        allowed = keys + ([admin] if admin else [])
        if not token or not _matches(token, allowed):
            raise Unauthorized("a valid API key is required: send 'Authorization: Bearer <key>'")
        caller = "key:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    else:
        caller = "ip:" + (request.client.host if request.client else "unknown")
    request.app.state.limiter.check(caller)
    return caller


def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    admin = settings.admin_key.get_secret_value()
    if not admin:
        raise Forbidden("document changes are disabled: set POLICYQA_ADMIN_KEY to enable them")
    if not _matches(_bearer(request), [admin]):
        raise Forbidden("this call needs the admin key")


class BodyLimit:
    """ASGI middleware: refuse bodies over a limit, whether or not they declare a Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope["path"].rstrip("/") == "/v1/documents" else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0
        refused = False  # the body went over the limit before any response started
        started = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = not started
                    raise PayloadTooLarge(f"the request body is over the {limit}-byte limit")
            return message

        async def reply(message: Message) -> None:
            # FastAPI turns an error raised while reading the body into its own 400: send the 413 instead
            nonlocal started
            if refused:
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(send, limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, reply)
        except PayloadTooLarge:
            if not refused:
                raise
        if refused and not started:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps({"error": "payload_too_large", "message": f"the request body is over the {limit}-byte limit"}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
