"""Optional cross-encoder reranker, configured by model name or path (none is bundled; off by default)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rag.retrieve import Reranker
from rag.settings import Settings


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder loaded from a local path or the local cache only."""

    def __init__(self, model: str) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model, device="cpu", local_files_only=True)

    def predict(self, pairs: list[tuple[str, str]]) -> Sequence[float]:
        return [float(s) for s in self._model.predict(pairs, show_progress_bar=False)]


def build_reranker(settings: Settings) -> Reranker | None:
    return CrossEncoderReranker(settings.reranker_model) if settings.reranker_model else None
