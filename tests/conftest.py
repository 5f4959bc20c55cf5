"""Shared fixtures: the real embedding model (loaded once), and the bundled corpus indexed once per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rag.settings import ROOT, Settings  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
CORPUS = ROOT / "corpus"
PDFS = DATA / "pdf"


def pytest_configure(config: pytest.Config) -> None:
    # sessions of this suite never see the developer's own .env
    os.environ["POLICYQA_CHROMA_URL"] = os.environ.get("POLICYQA_TEST_CHROMA_URL", "")


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Settings for a fresh index in its own temp dir; keyword arguments override."""

    def make(**overrides: object) -> Settings:
        base: dict[str, object] = {"index_dir": tmp_path_factory.mktemp("index"), "corpus_dir": CORPUS, "chroma_url": ""}
        base.update(overrides)
        return Settings(**base)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def embedder(make_settings: Callable[..., Settings]):  # type: ignore[no-untyped-def]
    from rag.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(make_settings())


@pytest.fixture(scope="session")
def corpus_settings(make_settings: Callable[..., Settings], embedder) -> Settings:  # type: ignore[no-untyped-def]
    """The bundled corpus, indexed once for every read-only test."""
    from ingest.pipeline import Ingestor
    from rag.store import VectorIndex

    settings = make_settings()
    report = Ingestor(settings, embedder, VectorIndex(settings)).run()
    assert not report.failed, report.failed
    return settings


@pytest.fixture(scope="session")
def qa(corpus_settings: Settings, embedder):  # type: ignore[no-untyped-def]
    from rag.pipeline import QA
    from rag.store import VectorIndex

    return QA(corpus_settings, embedder, VectorIndex(corpus_settings))


@pytest.fixture
def small_corpus(tmp_path: Path) -> Iterator[Path]:
    """A writable corpus of three short laws, for tests that change files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("2021-data-security-law.md", "2021-algorithmic-recommendation-provisions.md", "2016-cybersecurity-law.md"):
        shutil.copy(CORPUS / "policies" / name, folder / name)
    yield folder
