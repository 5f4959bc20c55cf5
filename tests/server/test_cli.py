"""The `policyqa` command as an operator meets it: --help, bad settings, API keys and the client address behind a proxy."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.cli import parser
from tests.conftest import free_port, stop_server

COMMANDS = ["ingest", "documents", "search", "eval", "fit", "bench", "serve"]  # `ask` is documented on its own
ARGS = {"search": ["4130.27亿元"], "fit": ["tests/data/dev.jsonl"], "ask": ["数据安全法什么时候施行？"]}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_each_option_with_an_example(command: str) -> None:
    sub = _subparsers()[command]
    undocumented = [a.dest for a in sub._actions if a.dest != "help" and not (a.help or "").strip()]
    assert not undocumented, f"`policyqa {command} --help` does not explain {undocumented}"
    text = sub.format_help()
    assert sub.description and sub.description.split()[0] in text
    examples = text.split("examples:\n", 1)[1].splitlines() if "examples:\n" in text else []
    assert any(line.strip().startswith(f"policyqa {command}") for line in examples), text


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLICYQA_")} | env
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=environ, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [*COMMANDS, "ask"])
def test_a_bad_setting_stops_every_command_with_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    done = _run([command, *ARGS.get(command, [])], {"POLICYQA_TOP_K": "abc", "POLICYQA_INDEX_DIR": str(tmp_path)})
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == ["error (invalid_settings): POLICYQA_TOP_K='abc': expected a whole number, e.g. 6"]
    assert not list(tmp_path.iterdir()), "a command ran despite the bad setting"


def test_an_unknown_setting_is_named_once(tmp_path: Path) -> None:
    done = _run(["documents"], {"POLICYQA_RATE_LIMT_PER_MINUTE": "0", "POLICYQA_INDEX_DIR": str(tmp_path / "index")})
    warnings = [line for line in done.stderr.splitlines() if "unknown setting" in line]
    assert len(warnings) == 1, done.stderr[-2000:]
    assert warnings[0].endswith("unknown setting POLICYQA_RATE_LIMT_PER_MINUTE is ignored (did you mean POLICYQA_RATE_LIMIT_PER_MINUTE?)")


# -- `policyqa serve` as operators configure it ----------------------------------------------------------


@pytest.fixture(scope="module")
def one_law_index(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> dict[str, str]:
    """A small index (one law) for servers started by `policyqa serve`."""
    import shutil

    from ingest.pipeline import Ingestor
    from rag.settings import Settings
    from rag.store import VectorIndex
    from tests.conftest import CORPUS

    root = tmp_path_factory.mktemp("serve")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "policies" / "2021-data-security-law.md", corpus)
    settings = Settings(index_dir=root / "index", corpus_dir=corpus, chroma_url="")
    Ingestor(settings, embedder, VectorIndex(settings)).run()
    return {"POLICYQA_INDEX_DIR": str(settings.index_dir), "POLICYQA_CORPUS_DIR": str(corpus), "HF_HUB_OFFLINE": "1"}


def _serve(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLICYQA_")} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=environ,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"policyqa serve exited: {proc.stderr.read()[-3000:] if proc.stderr else ''}")
            assert time.time() < deadline, "policyqa serve did not become ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def serve(one_law_index: dict[str, str]) -> Iterator[Any]:
    servers: list[Iterator[str]] = []

    def start(**env: str) -> str:
        server = _serve({**one_law_index, **env})
        servers.append(server)
        return next(server)

    yield start
    for server in servers:
        next(server, None)


def test_api_keys_as_a_comma_separated_list(serve: Any) -> None:
    url = serve(POLICYQA_API_KEYS="k1,k2")
    for key in ("k1", "k2"):
        r = httpx.get(f"{url}/v1/documents", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, (key, r.text)
    assert httpx.get(f"{url}/v1/documents").status_code == 401
    assert httpx.get(f"{url}/v1/documents", headers={"Authorization": "Bearer k1,k2"}).status_code == 401


# documentation addresses (RFC 5737): written into a header only, never contacted
OFFICE_A, OFFICE_B = "192.0.2.10", "192.0.2.20"


def _through_proxy(url: str, client: str) -> int:
    return httpx.get(f"{url}/v1/documents", headers={"X-Forwarded-For": client}).status_code


def test_behind_a_trusted_proxy_each_client_has_its_own_rate_limit(serve: Any) -> None:
    url = serve(POLICYQA_RATE_LIMIT_PER_MINUTE="2", POLICYQA_FORWARDED_ALLOW_IPS="127.0.0.1")
    assert [_through_proxy(url, OFFICE_A) for _ in range(3)] == [200, 200, 429]
    assert _through_proxy(url, OFFICE_B) == 200  # another person behind the same proxy is not throttled


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(serve: Any) -> None:
    url = serve(POLICYQA_RATE_LIMIT_PER_MINUTE="2", POLICYQA_FORWARDED_ALLOW_IPS="")
    assert [_through_proxy(url, OFFICE_A) for _ in range(2)] == [200, 200]
    # a client cannot escape the limit by writing its own X-Forwarded-For
    assert _through_proxy(url, OFFICE_B) == 429
