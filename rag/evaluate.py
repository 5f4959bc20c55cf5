"""Evaluation: answer accuracy, citations, abstention, unsupported numbers, retrieval hit@k and latency.

Scoring is pure (`score_row`, `summarize`) so it can be tested on hand-made answers; `run` drives either
the in-process pipeline or a running server through a small `Target` protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rag.text import checked_numbers, normalize
from rag.types import Answer
from rag.verify import MARKER, number_supported, quote_is_verbatim

KS = (1, 3, 5, 10)
METRICS_HIGHER_IS_BETTER = {
    "answer_accuracy", "citation_accuracy", "citation_precision", "abstention_accuracy", "hit@1", "hit@3",
    "hit@5", "hit@10", "mrr",
}


@dataclass
class Row:
    """One evaluation question; `turns` makes it a conversation scored on its last answer."""

    id: str
    question: str
    category: str
    answerable: bool
    must_include: list[list[str]]
    evidence: list[str]
    source: str | None = None
    reference_answer: str = ""
    turns: list[str] = field(default_factory=list)


def load_dataset(path: Path) -> tuple[list[Row], list[str]]:
    """Rows and, for each bad line, an error naming its line number."""
    rows, errors = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            turns = [str(t) for t in d.get("turns") or []]
            question = str(d.get("question") or (turns[-1] if turns else ""))
            if not question:
                raise ValueError("no question or turns")
            groups = d.get("must_include") or []
            if not all(isinstance(g, list) and g for g in groups):
                raise ValueError("must_include must be a list of non-empty lists")
            answerable = bool(d.get("answerable", True))
            if answerable and not groups:
                raise ValueError("an answerable row needs must_include")
            rows.append(Row(
                id=str(d.get("id") or f"line-{n}"), question=question, category=str(d.get("category") or "uncategorized"),
                answerable=answerable, must_include=[[str(x) for x in g] for g in groups],
                evidence=[str(e) for e in d.get("evidence") or []], source=d.get("source"),
                reference_answer=str(d.get("reference_answer") or ""), turns=turns,
            ))
        except (ValueError, TypeError, AttributeError) as exc:
            errors.append(f"{path.name}:{n}: {exc}")
    return rows, errors


class Target(Protocol):
    """What is evaluated: answers, retrieval lists and document texts."""

    def ask(self, question: str, history: list[str]) -> Answer: ...

    def retrieve(self, question: str, k: int) -> list[str]: ...

    def document_text(self, doc_id: str) -> str: ...


def _contains(haystack: str, needle: str) -> bool:
    return normalize(needle) in normalize(haystack)


def score_row(row: Row, answer: Answer, retrieved: list[str], doc_text: Callable[[str], str]) -> dict[str, Any]:
    """The verdict on one answer; every field is something a user would notice."""
    text = MARKER.sub("", answer.answer)  # a citation marker is not part of what is said ("98元[1]。")
    groups_found = [any(_contains(text, alt) for alt in g) for g in row.must_include]
    correct = (not answer.abstained and all(groups_found)) if row.answerable else answer.abstained
    cited = [c.quote + "\n" + c.text for c in answer.citations]
    citation_ok = any(_contains(c, e) for c in cited for e in row.evidence) if row.evidence and not answer.abstained else None
    alts = [a for g in row.must_include for a in g] + row.evidence
    supporting = [any(_contains(c, a) for a in alts) for c in cited]
    unsupported = []
    if not answer.abstained:
        # a number the user wrote ("第一个", "2023年") and the answer repeats when it names what is asked is not a claim
        passages = [c.quote for c in answer.citations] + [c.text for c in answer.citations] + [row.question]
        unsupported = [n for n in checked_numbers(text) if not number_supported(n, passages)]
    bad_quotes = [c.quote for c in answer.citations if not quote_is_verbatim(c.quote, doc_text(c.document_id))]
    hit_rank = next((i + 1 for i, p in enumerate(retrieved) if any(_contains(p, e) for e in row.evidence)), None)
    return {
        "id": row.id, "category": row.category, "question": row.question, "answerable": row.answerable,
        "answer": text, "abstained": answer.abstained, "correct": correct,
        "missing": [g for g, ok in zip(row.must_include, groups_found, strict=True) if not ok],
        "citation_ok": citation_ok, "citation_precision": (sum(supporting) / len(supporting)) if supporting else None,
        "unsupported_numbers": unsupported, "non_verbatim_quotes": bad_quotes,
        "has_evidence": bool(row.evidence), "hit_rank": hit_rank,
        "citations": [c.model_dump() for c in answer.citations], "timings_ms": answer.timings_ms,
        "expected": row.must_include, "reference_answer": row.reference_answer,
    }


def _mean(values: Iterable[float | bool | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))], 1)


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics over a set of verdicts (overall, or one category)."""
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]
    with_evidence = [r for r in answerable if r["has_evidence"]]
    m: dict[str, Any] = {
        "questions": len(results),
        "answer_accuracy": _mean(r["correct"] for r in answerable),
        "citation_accuracy": _mean((r["citation_ok"] is True) for r in with_evidence),
        "citation_precision": _mean(r["citation_precision"] for r in answerable),
        "abstention_accuracy": _mean(r["correct"] for r in unanswerable),
        "false_abstentions": sum(1 for r in answerable if r["abstained"]),
        "unsupported_number_answers": sum(1 for r in results if r["unsupported_numbers"]),
        "non_verbatim_quotes": sum(len(r["non_verbatim_quotes"]) for r in results),
    }
    ranks = [r["hit_rank"] for r in with_evidence]
    for k in KS:
        m[f"hit@{k}"] = _mean((rk is not None and rk <= k) for rk in ranks) if ranks else None
    m["mrr"] = _mean((1.0 / rk if rk else 0.0) for rk in ranks) if ranks else None
    stages: dict[str, list[float]] = {}
    for r in results:
        for stage, ms in (r.get("timings_ms") or {}).items():
            stages.setdefault(stage, []).append(float(ms))
    m["latency_ms"] = {s: {"p50": _pct(v, 0.5), "p95": _pct(v, 0.95)} for s, v in sorted(stages.items())}
    return m


def report(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_cat.setdefault(r["category"], []).append(r)
    return {"overall": summarize(results), "categories": {c: summarize(rs) for c, rs in sorted(by_cat.items())}}


def run(rows: list[Row], target: Target, progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    results = []
    for i, row in enumerate(rows):
        history = row.turns[:-1] if row.turns else []
        answer = target.ask(row.question, history)
        retrieved = target.retrieve(answer.resolved_question or row.question, max(KS))
        results.append(score_row(row, answer, retrieved, target.document_text))
        if progress:
            progress(i + 1, len(rows))
    return results


# -- gates and comparisons ---------------------------------------------------------------------------


def parse_gates(specs: list[str]) -> dict[str, float]:
    gates = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        try:
            gates[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--fail-under expects METRIC=VALUE, got '{spec}'") from None
    return gates


def check_gates(metrics: dict[str, Any], gates: dict[str, float]) -> list[str]:
    """Failures: a higher-is-better metric under its bar, or a count (unsupported numbers...) over it."""
    failures = []
    for name, bar in gates.items():
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name}: not measured")
        elif name in METRICS_HIGHER_IS_BETTER and value < bar:
            failures.append(f"{name} = {value} is under {bar}")
        elif name not in METRICS_HIGHER_IS_BETTER and value > bar:
            failures.append(f"{name} = {value} is over {bar}")
    return failures


def compare(current: dict[str, Any], previous: dict[str, Any]) -> list[str]:
    """What changed against a previous JSON: newly failing questions first, then metric deltas."""
    before = {r["id"]: r for r in previous.get("results", [])}
    lines = []
    newly_failing = [r for r in current["results"] if r["id"] in before and before[r["id"]]["correct"] and not r["correct"]]
    newly_passing = [r for r in current["results"] if r["id"] in before and not before[r["id"]]["correct"] and r["correct"]]
    lines += [f"NEWLY FAILING {r['id']}: {r['question']} → {r['answer'][:80]}" for r in newly_failing]
    lines += [f"newly passing {r['id']}: {r['question']}" for r in newly_passing]
    for name, value in current["metrics"]["overall"].items():
        old = previous.get("metrics", {}).get("overall", {}).get(name)
        if isinstance(value, int | float) and isinstance(old, int | float) and value != old:
            lines.append(f"{name}: {old} → {value} ({value - old:+.4g})")
    return lines


# -- output ------------------------------------------------------------------------------------------

_TABLE_COLS = [
    ("answer_accuracy", "answer"), ("citation_accuracy", "citation"), ("citation_precision", "precision"),
    ("abstention_accuracy", "abstain"), ("false_abstentions", "false-abst"), ("unsupported_number_answers", "unsup-num"),
    ("non_verbatim_quotes", "bad-quote"), ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "mrr"),
]


def table(rep: dict[str, Any], title: str = "") -> str:
    """A plain-text table: one line overall, one per category."""
    head = f"{'':16}{'n':>4}" + "".join(f"{label:>11}" for _, label in _TABLE_COLS)
    lines = [title, head] if title else [head]
    for name, m in [("overall", rep["overall"]), *rep["categories"].items()]:
        cells = "".join(f"{_fmt(m.get(key)):>11}" for key, _ in _TABLE_COLS)
        lines.append(f"{name:16}{m['questions']:>4}{cells}")
    lat = rep["overall"].get("latency_ms", {})
    if lat:
        lines.append("latency ms (p50/p95): " + ", ".join(f"{s} {v['p50']}/{v['p95']}" for s, v in lat.items()))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def html_report(data: dict[str, Any]) -> str:
    """A self-contained page: metrics, a per-category bar chart, the failing questions."""
    import html as h

    def bars(metric: str) -> str:
        rows = []
        for cat, m in data["metrics"]["categories"].items():
            v = m.get(metric)
            if v is None:
                continue
            rows.append(
                f"<div class=bar><span>{h.escape(cat)}</span><i style='width:{v * 300:.0f}px'></i><b>{v:.2f}</b></div>"
            )
        return "".join(rows)

    systems = [("policyqa", data)] + ([("baseline", data["baseline"])] if data.get("baseline") else [])
    metric_rows = "".join(
        f"<tr><th>{k}</th>" + "".join(f"<td>{_fmt(s['metrics']['overall'].get(k))}</td>" for _, s in systems) + "</tr>"
        for k, _ in _TABLE_COLS
    )
    failing = [r for r in data["results"] if not r["correct"] or r["unsupported_numbers"] or r["non_verbatim_quotes"]]
    fails = "".join(
        f"<tr><td>{h.escape(r['id'])}</td><td>{h.escape(r['question'])}</td><td>{h.escape(r['answer'])}</td>"
        f"<td>{h.escape(json.dumps(r['expected'], ensure_ascii=False))}</td><td>{h.escape(str(r['unsupported_numbers']))}</td></tr>"
        for r in failing
    ) or "<tr><td colspan=5>none</td></tr>"
    return f"""<!doctype html><html lang=zh><meta charset=utf-8><title>policyqa evaluation</title>
<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}.bar{{display:flex;align-items:center;gap:8px;margin:2px 0}}
.bar span{{width:140px}}.bar i{{display:inline-block;height:14px;background:#3b7dd8}}</style>
<h1>policyqa evaluation</h1><p>{h.escape(data['dataset'])} — {len(data['results'])} questions</p>
<table><tr><th>metric</th>{''.join(f'<th>{n}</th>' for n, _ in systems)}</tr>{metric_rows}</table>
<h2>Answer accuracy by category</h2>{bars('answer_accuracy')}
<h2>Citation accuracy by category</h2>{bars('citation_accuracy')}
<h2>Failing questions</h2><table><tr><th>id</th><th>question</th><th>answer</th><th>expected</th><th>unsupported numbers</th></tr>{fails}</table>
</html>"""
