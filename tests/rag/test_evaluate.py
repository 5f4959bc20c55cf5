"""Scoring, on a small hand-made set of answers whose scores are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.evaluate import (
    Row,
    check_gates,
    compare,
    html_report,
    load_dataset,
    parse_gates,
    report,
    score_row,
    table,
)
from rag.types import Answer, Citation

DOC = "2021年我国人工智能市场收支规模达到82亿美元，占全球市场规模的9.6%，仅次于美国及欧盟，位居全球第三位。"


def row(**kw: object) -> Row:
    base: dict[str, object] = dict(id="q", question="?", category="market", answerable=True,
                                  must_include=[["82亿美元"], ["第三", "第3"]], evidence=["市场收支规模达到82亿美元"])
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def answer(text: str, quote: str = DOC, abstained: bool = False) -> Answer:
    cites = [] if abstained else [Citation(n=1, chunk_id="c", document_id="r", title="t", quote=quote, text=quote, start=0, end=len(quote))]
    return Answer(question="?", answer=text, abstained=abstained, citations=cites, timings_ms={"total": 10.0})


def score(r: Row, a: Answer, retrieved: list[str] | None = None) -> dict:
    return score_row(r, a, retrieved if retrieved is not None else ["x", DOC], lambda _id: DOC)


def test_matching_normalises_width_space_and_thousands_separators() -> None:
    assert score(row(must_include=[["4130.27亿元"]]), answer("峰值 ４,１３０.２７ 亿元[1]"))["correct"]


def test_citation_markers_are_not_part_of_what_the_answer_says() -> None:
    assert score(row(must_include=[["82亿美元。"]]), answer("规模达到82亿美元[1]。"))["correct"]


def test_every_group_is_required_and_any_alternative_counts() -> None:
    assert score(row(), answer("82亿美元，位居第3[1]"))["correct"]
    verdict = score(row(), answer("82亿美元[1]"))
    assert not verdict["correct"] and verdict["missing"] == [["第三", "第3"]]


def test_abstaining_is_wrong_when_answerable_and_right_when_not() -> None:
    assert not score(row(), answer("文档没有说", abstained=True))["correct"]
    assert score(row(answerable=False, must_include=[], evidence=[]), answer("文档没有说", abstained=True))["correct"]


def test_unsupported_numbers_and_non_verbatim_quotes_are_counted() -> None:
    verdict = score(row(), answer("82亿美元，第三，增长15.3%[1]", quote="规模达到82亿美元"))
    assert verdict["unsupported_numbers"] == ["15.3%", "第3"]  # "第三" is not in the quote either
    assert score(row(), answer("82亿美元[1]", quote="不在文档里的引文"))["non_verbatim_quotes"] == ["不在文档里的引文"]
    # the user's own numbers, repeated to name what was not found, are not claims
    asked = row(question="第一个试验区的规模是多少？2023年的呢？")
    assert score(asked, answer("82亿美元[1]。文档中没有找到关于“2023年第一个试验区”的内容。"))["unsupported_numbers"] == []


def test_metrics_on_a_known_set() -> None:
    results = [
        score(row(id="a"), answer("82亿美元，第三[1]"), ["x", DOC]),  # correct, hit@2
        score(row(id="b"), answer("82亿美元[1]", quote="别的段落"), [DOC]),  # wrong, citation wrong, hit@1
        score(row(id="c", answerable=False, must_include=[], evidence=[]), answer("", abstained=True), []),
        score(row(id="d", answerable=False, must_include=[], evidence=[]), answer("82亿美元[1]"), []),
    ]
    m = report(results)["overall"]
    assert m["answer_accuracy"] == 0.5
    assert m["citation_accuracy"] == 0.5
    assert m["abstention_accuracy"] == 0.5
    assert m["hit@1"] == 0.5 and m["hit@3"] == 1.0 and m["mrr"] == 0.75
    assert m["latency_ms"]["total"] == {"p50": 10.0, "p95": 10.0}
    assert "overall" in table(report(results)) and "<h1>" in html_report({"dataset": "x", "metrics": report(results), "results": results})


def test_gates_and_compare() -> None:
    gates = parse_gates(["answer_accuracy=0.95", "unsupported_number_answers=0"])
    assert check_gates({"answer_accuracy": 0.9, "unsupported_number_answers": 1}, gates) == [
        "answer_accuracy = 0.9 is under 0.95", "unsupported_number_answers = 1 is over 0.0"]
    assert check_gates({"answer_accuracy": 0.96, "unsupported_number_answers": 0}, gates) == []
    with pytest.raises(ValueError, match="METRIC=VALUE"):
        parse_gates(["accuracy"])
    old = {"results": [{"id": "a", "correct": True}], "metrics": {"overall": {"answer_accuracy": 1.0}}}
    new = {"results": [{"id": "a", "correct": False, "question": "Q", "answer": "A"}], "metrics": {"overall": {"answer_accuracy": 0.5}}}
    assert compare(new, old)[0].startswith("NEWLY FAILING a")


def test_bad_rows_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    good = {"id": "ok", "question": "Q", "answerable": True, "must_include": [["x"]], "evidence": ["x"]}
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps({"id": "x", "answerable": True}), json.dumps({**good, "turns": ["A", "那B呢？"], "question": ""})]), encoding="utf-8")
    rows, errors = load_dataset(path)
    assert [r.id for r in rows] == ["ok", "ok"] and rows[1].question == "那B呢？"
    assert [e.split(":")[1] for e in errors] == ["2", "3"]
