"""Prometheus metrics: requests, errors, latency per stage, index size (one registry per app)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter("policyqa_requests_total", "HTTP requests", ["path", "status"], registry=self.registry)
        self._errors = Counter("policyqa_errors_total", "Error responses by code", ["code"], registry=self.registry)
        self._latency = Histogram("policyqa_request_seconds", "Request latency", ["path"], buckets=BUCKETS, registry=self.registry)
        self._stage = Histogram("policyqa_stage_seconds", "Answer latency per stage", ["stage"], buckets=BUCKETS, registry=self.registry)
        self._chunks = Gauge("policyqa_index_chunks", "Chunks in the live index", registry=self.registry)
        self._docs = Gauge("policyqa_index_documents", "Documents in the live index", registry=self.registry)

    def request(self, path: str, status: int, seconds: float) -> None:
        self._requests.labels(path, str(status)).inc()
        self._latency.labels(path).observe(seconds)

    def error(self, code: str) -> None:
        self._errors.labels(code).inc()

    def stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self._stage.labels(stage).observe(ms / 1000)

    def index_size(self, qa: Any) -> None:
        docs, chunks = qa.size()
        self._chunks.set(chunks)
        self._docs.set(docs)

    def render(self) -> bytes:
        return generate_latest(self.registry)
