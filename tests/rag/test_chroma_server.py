"""The same index on a real `chroma run` server: retrieval, and several policyqa instances sharing it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import Ingestor
from rag.pipeline import QA
from rag.retrieve import Filters, Retriever
from rag.store import VectorIndex
from server.bench_scale import start_chroma
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, port = start_chroma(tmp_path_factory.mktemp("chroma"))
    url = f"http://127.0.0.1:{port}"
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_retrieval_against_a_chroma_server(chroma_url, make_settings, embedder, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_dir=small_corpus, chroma_url=chroma_url, collection_prefix="retrieval")
    report = Ingestor(settings, embedder, VectorIndex(settings)).run()
    assert len(report.added) == 3
    retriever = Retriever(VectorIndex(settings).open(), embedder)
    top = retriever.search("《数据安全法》第二十一条", 1)[0].chunk
    assert (top.doc_id, top.article) == ("2021-data-security-law", "第二十一条")
    assert retriever.search("网络运营者应当制定网络安全事件应急预案", 1)[0].chunk.doc_id == "2016-cybersecurity-law"
    scoped = retriever.search("安全", 5, Filters(doc_id="2021-algorithmic-recommendation-provisions"))
    assert {p.chunk.doc_id for p in scoped} == {"2021-algorithmic-recommendation-provisions"}
    answer = QA(settings, embedder, VectorIndex(settings)).ask("算法推荐服务提供者应当向用户提供哪些选项？")
    assert "个人特征" in answer.answer and "关闭" in answer.answer
    assert Ingestor(settings, embedder, VectorIndex(settings)).run().changed is False


def test_two_instances_share_one_chroma_and_switch_versions_together(chroma_url, make_settings, small_corpus: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(corpus_dir=small_corpus, chroma_url=chroma_url, collection_prefix="shared")
    env = {"POLICYQA_CHROMA_URL": chroma_url, "POLICYQA_COLLECTION_PREFIX": "shared", "POLICYQA_RATE_LIMIT_PER_MINUTE": "0"}
    first, url1 = start_server(settings.index_dir, small_corpus, **env)
    second, url2 = start_server(settings.index_dir, small_corpus, **env)
    try:
        v1 = httpx.get(f"{url1}/readyz").json()["index_version"]
        assert httpx.get(f"{url2}/readyz").json()["index_version"] == v1
        law = small_corpus / "2021-data-security-law.md"
        law.write_text(law.read_text(encoding="utf-8").replace("2021年9月1日", "2031年9月1日"), encoding="utf-8")
        cli_env = {**os.environ, "POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(small_corpus), **env}
        done = subprocess.run([sys.executable, "-m", "server.cli", "ingest"], env=cli_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        for url in (url1, url2):
            deadline, answer = time.time() + 30, ""
            while time.time() < deadline and "2031年9月1日" not in answer:
                answer = httpx.post(f"{url}/v1/ask", json={"question": "《数据安全法》从什么时候开始施行？"}, timeout=60).json()["answer"]
                time.sleep(1)
            assert "2031年9月1日" in answer
        versions = {httpx.get(f"{u}/readyz").json()["index_version"] for u in (url1, url2)}
        assert len(versions) == 1 and versions != {v1}
    finally:
        stop_server(first)
        stop_server(second)
