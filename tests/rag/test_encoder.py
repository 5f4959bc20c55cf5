"""The int8 ONNX encoder (the default) held to the fp32 torch model it was exported from."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.embed import Embedder, OnnxEmbedder, SentenceTransformerEmbedder
from rag.evaluate import load_dataset
from rag.settings import Settings
from rag.store import index_signature
from rag.text import normalize
from tests.conftest import CORPUS, DATA, RGB


@pytest.fixture(scope="module")
def reference(make_settings: Callable[..., Settings]) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(make_settings(encoder="torch"))


def _windows(text: str, size: int = 300, step: int = 200) -> list[str]:
    return [text[i:i + size] for i in range(0, max(1, len(text) - size + step), step)]


def _bundled_passages() -> list[str]:
    return [w for path in sorted(CORPUS.rglob("*.*")) if path.suffix in {".txt", ".md"}
            for w in _windows(path.read_text(encoding="utf-8"))]


def _hits_at_5(embedder: Embedder, questions: Sequence[str], passages: Sequence[str],
               wanted: Sequence[Sequence[str]]) -> int:
    """Questions whose top 5 passages by cosine hold one of the wanted strings."""
    scores = embedder.embed_queries(questions) @ embedder.embed_documents(passages).T
    top = np.argsort(-scores, axis=1)[:, :5]
    plain = [normalize(p) for p in passages]
    return sum(any(normalize(w) in plain[j] for w in strings for j in row) for row, strings in zip(top, wanted, strict=True))


def test_int8_encoder_is_the_default_and_part_of_the_index_signature(embedder: Embedder,
                                                                     reference: Embedder) -> None:
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name.endswith("+onnx-int8")
    settings = Settings()
    assert index_signature(settings, embedder.name) != index_signature(settings, reference.name)


def test_int8_vectors_stay_within_cosine_099_of_fp32(embedder: Embedder, reference: Embedder) -> None:
    rows = [json.loads(line) for line in (DATA / "dev.jsonl").read_text(encoding="utf-8").splitlines()]
    rows += [json.loads(line) for line in (RGB / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = [r["question"] for r in rows][:100]
    passages = _bundled_passages()[::5][:100]
    assert len(queries) == 100 and len(passages) == 100
    for got, want in ((embedder.embed_queries(queries), reference.embed_queries(queries)),
                      (embedder.embed_documents(passages), reference.embed_documents(passages))):
        cosine = (got * want).sum(axis=1)
        assert cosine.min() >= 0.99, f"lowest cosine {cosine.min():.4f}"


def test_int8_finds_the_evidence_in_the_top_5_as_often_as_fp32_on_dev(embedder: Embedder,
                                                                      reference: Embedder) -> None:
    rows = [r for r in load_dataset(DATA / "dev.jsonl")[0] if r.answerable and r.evidence]
    passages = _bundled_passages()
    questions, wanted = [r.question for r in rows], [r.evidence for r in rows]
    fast, slow = (_hits_at_5(e, questions, passages, wanted) for e in (embedder, reference))
    assert fast >= slow, f"int8 {fast} vs fp32 {slow} of {len(rows)}"
    assert slow >= len(rows) // 2  # the comparison means something only if dense retrieval works at all


@pytest.mark.skipif(not RGB.is_dir(), reason="../shared/eval/rgb-dev is not beside the repository")
def test_int8_finds_the_answer_in_the_top_5_as_often_as_fp32_on_rgb_dev(embedder: Embedder,
                                                                        reference: Embedder) -> None:
    rows = [r for r in load_dataset(RGB / "questions.jsonl")[0] if r.answerable]
    passages = [p.read_text(encoding="utf-8") for p in sorted((RGB / "corpus").glob("*.txt"))]
    questions, wanted = [r.question for r in rows], [r.must_include[0] for r in rows]
    fast, slow = (_hits_at_5(e, questions, passages, wanted) for e in (embedder, reference))
    assert fast >= slow, f"int8 {fast} vs fp32 {slow} of {len(rows)}"
    assert slow >= len(rows) // 2


def test_a_damaged_encoder_file_is_refused_by_name(make_settings: Callable[..., Settings], embedder: Embedder,
                                                   tmp_path: Path) -> None:
    import shutil

    real = Path(make_settings().model_cache)
    (tmp_path / "multilingual-e5-small").symlink_to(real / "multilingual-e5-small")
    damaged = tmp_path / "multilingual-e5-small-onnx-int8"
    shutil.copytree(real / "multilingual-e5-small-onnx-int8", damaged)
    with (damaged / "model.onnx").open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    with pytest.raises(RuntimeError, match=r"model\.onnx does not match its checksum; delete .* to rebuild it"):
        OnnxEmbedder(make_settings(model_cache=tmp_path))
