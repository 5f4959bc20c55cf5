"""What the routes share: settings, the model, the index, the QA pipeline once it is ready, metrics."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request

from ingest.pipeline import Ingestor, Progress, ProgressLog
from rag.embed import Embedder, build_embedder
from rag.errors import IndexNotReady, PolicyQAError
from rag.pipeline import QA
from rag.settings import Settings
from rag.store import VectorIndex
from server.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class Service:
    """What the routes share: settings, the model, the index, the QA pipeline once it is ready."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder  # None: loaded by start()
        self.index = VectorIndex(settings)
        self.ingestor = Ingestor(settings, embedder, self.index) if embedder is not None else None
        self.qa: QA | None = None
        self.startup_error: str | None = None
        self.progress: Progress | None = None  # the first-start ingest, while it runs
        self.metrics = Metrics()
        self._ingest_lock = threading.Lock()
        # questions are answered on at most this many threads at once; more would only thrash the GIL and the
        # encoder's threads on a small machine, so the others wait their turn in the event loop
        self.answering = anyio.CapacityLimiter(settings.answer_threads or os.cpu_count() or 1)

    def start(self) -> None:
        """Load the model, then open the live index, or index the bundled corpus first when there is none."""
        try:
            embedder = self.embedder or build_embedder(self.settings)
            ingestor = self.ingestor or Ingestor(self.settings, embedder, self.index)
            self.embedder, self.ingestor = embedder, ingestor
            if self.index.current() is None:
                log.info("the index is empty: indexing %s", self.settings.corpus_dir)
                to_log = ProgressLog(log.info)

                def track(p: Progress) -> None:
                    self.progress = p
                    to_log(p)

                try:
                    report = ingestor.run(progress=track)
                finally:
                    self.progress = None
                log.info("indexed %d documents, %d chunks in %.1fs", report.documents, report.chunks, report.seconds)
                for path, reason in {**report.skipped, **report.failed}.items():
                    log.warning("not indexed %s: %s", path, reason)
            self.qa = QA(self.settings, embedder, self.index)
            self.metrics.index_size(self.qa)
        except PolicyQAError as exc:
            self.startup_error = exc.message
            log.error("the index could not be opened: %s", exc.message)
        except Exception:
            # in the start thread nothing else would see it: /readyz says "failed" instead of "loading" forever
            self.startup_error = "the service could not start; see the server log"
            log.exception("the service could not start")

    def require_qa(self) -> QA:
        if self.qa is None:
            progress = self.progress
            if self.startup_error:
                raise IndexNotReady(self.startup_error)
            if progress is not None:
                raise IndexNotReady(f"the index is being built ({progress.percent}%); try again shortly")
            raise IndexNotReady("the index is loading; try again shortly")
        return self.qa

    def readiness(self) -> dict[str, Any]:
        """What /readyz says: ready, or why not yet (indexing with its progress, loading, or failed)."""
        qa = self.qa
        if qa is not None and qa.ready:
            return {"status": "ready", "index_version": qa.version, "chunks": qa.size()[1]}
        if self.startup_error:
            return {"error": "index_not_ready", "message": self.startup_error, "status": "failed"}
        p = self.progress
        if p is None:
            if self.embedder is None:
                return {"error": "index_not_ready", "message": "loading the embedding model", "status": "loading", "stage": "model"}
            return {"error": "index_not_ready", "message": "loading the index", "status": "loading", "stage": "index"}
        eta = p.eta
        return {
            "error": "index_not_ready", "message": p.describe(), "status": "indexing", "stage": p.stage,
            "done": p.done, "total": p.total, "percent": p.percent,
            "documents_done": p.files_done, "documents_total": p.files_total,
            "chunks_done": p.chunks_done, "chunks_total": p.chunks_total,
            "eta_s": None if eta is None else round(eta),
        }

    def reingest(self, **kwargs: Any) -> Any:
        """Run an ingest (one at a time), then switch the QA to the new version; answers continue meanwhile."""
        if self.ingestor is None:
            raise IndexNotReady("the embedding model is loading; try again shortly")
        with self._ingest_lock:
            report = self.ingestor.run(**kwargs)
        if self.qa is not None:
            self.qa.refresh(force=True)
            self.metrics.index_size(self.qa)
        return report


def service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def qa_of(request: Request) -> QA:
    return service(request).require_qa()


async def run_answering(request: Request, fn: Callable[..., T], *args: Any) -> T:
    """Run a question's work (ask, chat, search) on a worker thread, within the service's answering limit."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=service(request).answering)
