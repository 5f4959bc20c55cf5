"""Imports flow server → rag, server → ingest, ingest → rag; rag imports neither."""

from __future__ import annotations

import ast
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
