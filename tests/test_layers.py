"""Imports flow server → rag, server → ingest, ingest → rag; rag imports neither."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"rag": {"ingest", "server"}, "ingest": {"server"}}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        bad = imported(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_nothing_but_settings_reads_the_environment() -> None:
    reads = re.compile(r"os\.getenv|os\.environ\.get|os\.environ\[[^\]]+\](?!\s*=)")
    for package in ("rag", "ingest", "server"):
        for path in (ROOT / package).rglob("*.py"):
            assert not reads.search(path.read_text(encoding="utf-8")), f"{path.relative_to(ROOT)} reads the environment"


def _runs(text: str) -> set[str]:
    """Runs of a text with punctuation and spaces removed: 10 characters holding 8 or more Chinese ones, or
    30 characters with none (several English words)."""
    text = re.sub(r"[\W_]+", "", text)
    cjk = [bool(re.match(r"[\u4e00-\u9fff]", c)) for c in text]
    runs = {text[i : i + 10] for i in range(len(text) - 9) if sum(cjk[i : i + 10]) >= 8}
    return runs | {text[i : i + 30] for i in range(len(text) - 29) if not any(cjk[i : i + 30])}


def test_no_evaluation_question_is_written_into_the_code() -> None:
    """A rule written for one question does nothing for the next: no 10-character run of any question of the
    shipped or shared question sets may appear in the source of ingest/, rag/ or server/."""
    sets = list((ROOT / "tests" / "data").glob("*.jsonl")) + list((ROOT.parent / "shared" / "eval").rglob("*.jsonl"))
    assert sets, "no question sets found"
    runs: dict[str, str] = {}
    for path in sets:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            for text in [row.get("question", ""), *(row.get("turns") or [])]:
                for run in _runs(str(text)):
                    runs.setdefault(run, f"{path.name}:{row.get('id')}")
    found = []
    for package in ("ingest", "rag", "server"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)} holds {run!r} ({runs[run]})" for run in _runs(source) & runs.keys()]
    assert not found, "\n".join(found[:20])
