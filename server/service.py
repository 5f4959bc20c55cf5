"""What the routes share: settings, the model, the index, the QA pipeline once it is ready, metrics."""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import Request

from ingest.pipeline import Ingestor
from rag.embed import Embedder
from rag.errors import IndexNotReady, PolicyQAError
from rag.pipeline import QA
from rag.settings import Settings
from rag.store import VectorIndex
from server.metrics import Metrics

log = logging.getLogger(__name__)


class Service:
    """What the routes share: settings, the model, the index, the QA pipeline once it is ready."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = VectorIndex(settings)
        self.ingestor = Ingestor(settings, embedder, self.index)
        self.qa: QA | None = None
        self.startup_error: str | None = None
        self.metrics = Metrics()
        self._ingest_lock = threading.Lock()

    def start(self) -> None:
        """Open the live index, or index the bundled corpus first when there is none."""
        try:
            if self.index.current() is None:
                log.info("the index is empty: indexing %s", self.settings.corpus_dir)
                report = self.ingestor.run()
                log.info("indexed %d documents, %d chunks in %.1fs", report.documents, report.chunks, report.seconds)
                for path, reason in report.failed.items():
                    log.warning("not indexed %s: %s", path, reason)
            self.qa = QA(self.settings, self.embedder, self.index)
            self.metrics.index_size(self.qa)
        except PolicyQAError as exc:
            self.startup_error = exc.message
            log.error("the index could not be opened: %s", exc.message)

    def require_qa(self) -> QA:
        if self.qa is None:
            raise IndexNotReady(self.startup_error or "the index is being built; try again shortly")
        return self.qa

    def reingest(self, **kwargs: Any) -> Any:
        """Run an ingest (one at a time), then switch the QA to the new version; answers continue meanwhile."""
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
