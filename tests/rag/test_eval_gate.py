"""The quality gate: the harness on the shipped dev set, at the bar of the answer issue, and on two more sets
(tests/data/heldout*.jsonl) written from the corpus by someone who had not seen the code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from rag.eval_run import main
from rag.pipeline import QA
from tests.conftest import DATA

GATES = [
    "answer_accuracy=0.95", "citation_accuracy=0.95", "abstention_accuracy=1.0",
    "unsupported_number_answers=0", "non_verbatim_quotes=0", "hit@5=0.9",
]


def args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = dict(dataset=str(DATA / "dev.jsonl"), url="", api_key="", json_out="", report="", compare="", baseline=False, fail_under=GATES)
    base.update(kw)
    return argparse.Namespace(**base)


def test_dev_set_meets_the_quality_bar(qa: QA, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, html = tmp_path / "eval.json", tmp_path / "eval.html"
    code = main(args(json_out=str(out), report=str(html)), qa.settings, qa)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    data = json.loads(out.read_text(encoding="utf-8"))
    overall = data["metrics"]["overall"]
    assert overall["answer_accuracy"] >= 0.95 and overall["abstention_accuracy"] == 1.0
    assert set(data["metrics"]["categories"]) >= {"market", "city", "policy", "unanswerable"}
    assert "overall" in printed.out and "latency ms" in printed.out
    page = html.read_text(encoding="utf-8")
    assert "<h1>policyqa evaluation</h1>" in page and "http" not in page.replace("http-equiv", "")
    # comparing with itself: nothing newly failing
    main(args(compare=str(out)), qa.settings, qa)
    assert "NEWLY FAILING" not in capsys.readouterr().out


@pytest.mark.parametrize("dataset", ["heldout.jsonl", "heldout2.jsonl"])
def test_other_question_sets_meet_the_same_bar(qa: QA, dataset: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(dataset=str(DATA / dataset)), qa.settings, qa) == 0, capsys.readouterr().err


def test_a_gate_above_the_measured_level_fails(qa: QA, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args(fail_under=["answer_accuracy=1.01"]), qa.settings, qa) == 1
    assert "FAIL: answer_accuracy" in capsys.readouterr().err


def test_over_http_gives_the_same_verdicts(qa: QA, live_server: str, tmp_path: Path) -> None:
    local, remote = tmp_path / "local.json", tmp_path / "remote.json"
    assert main(args(json_out=str(local)), qa.settings, qa) == 0
    assert main(args(url=live_server, json_out=str(remote)), qa.settings, None) == 0
    verdicts = lambda p: {r["id"]: r["correct"] for r in json.loads(p.read_text())["results"]}  # noqa: E731
    assert verdicts(local) == verdicts(remote)
