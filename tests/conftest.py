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
RGB = ROOT.parent / "shared" / "eval" / "rgb-dev"  # the external benchmark beside the clone


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
    from rag.embed import build_embedder

    return build_embedder(make_settings())


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


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(index_dir: Path, corpus_dir: Path = CORPUS, **env: str):  # type: ignore[no-untyped-def]
    """A real `uvicorn` process serving the app; returns (process, base URL) once /readyz answers."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    environ = {**os.environ, "POLICYQA_INDEX_DIR": str(index_dir), "POLICYQA_CORPUS_DIR": str(corpus_dir), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not become ready")


def stop_server(proc) -> None:  # type: ignore[no-untyped-def]
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except Exception:
        proc.kill()


@pytest.fixture(scope="session")
def live_process(corpus_settings: Settings) -> Iterator[tuple[object, str]]:
    """The app in a real uvicorn process on the session's corpus index (no keys, loopback, no rate limit)."""
    proc, url = start_server(corpus_settings.index_dir, POLICYQA_RATE_LIMIT_PER_MINUTE="0")
    yield proc, url
    stop_server(proc)


@pytest.fixture(scope="session")
def live_server(live_process: tuple[object, str]) -> str:
    return live_process[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
