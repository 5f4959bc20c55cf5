"""`policyqa fit`: fit the evidence and confidence weights on public question sets, print them, save them.

Each set is answered by a pipeline over its own corpus. A candidate unit is a positive when it holds one of
the row's evidence strings (or, for sets without evidence, its expected answer); an ask's best candidate is
a confident one when the row is answerable and that candidate is a positive. Both models are logistic
regressions on standardised features, small enough to read: `policyqa fit` prints every weight.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluate import Row
from rag.evidence import CONFIDENCE, FEATURES, WEIGHTS, Evidence, Model, load_models
from rag.text import normalize

L2 = 0.01
# features whose direction is known by design (a soft match of what the question asks): their weights may not
# turn negative, and a feature the sets never exercise (no variance) keeps this prior weight
SIGNED = {
    "year": 1.0, "place": 1.0, "ordinal": 1.0, "kind": 1.0, "scope": 1.0, "doc": 1.0, "article": 1.0,
    "superlative": 1.0, "defines": 1.0, "section": 1.0, "focus": 1.0, "question": -1.0,
    # confidence: more of each is more reason to answer
    "top": 1.0, "margin": 1.0, "constraints": 1.0, "key_cover": 1.0, "key_local": 1.0, "agree": 1.0,
}


@dataclass
class Samples:
    x: list[np.ndarray] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    group: list[str] = field(default_factory=list)  # the row each sample comes from
    keep: list[bool] = field(default_factory=list)  # an ask whose best candidate is right: answering it is a must


def positive(e: Evidence, row: Row) -> bool:
    text = normalize(e.unit.text)
    if row.evidence:
        return any(normalize(ev) in text or (len(text) >= 8 and text in normalize(ev)) for ev in row.evidence)
    groups = [[normalize(a) for a in g] for g in row.must_include]
    return bool(groups) and all(any(a in text for a in g) for g in groups)


@dataclass
class Case:
    """One ask of one row, with its candidates (features computed once; scores change with the weights)."""

    scorer: Any
    ask: Any
    ranked: list[Evidence]
    row: Row


def collect(qa: Any, rows: list[Row]) -> list[Case]:
    """Every ask of every row with its candidates."""
    loaded = qa.loaded
    cases = []
    for row in rows:
        _, reading = qa.read(row.question, row.turns[:-1] if row.turns else [])
        vectors = qa.embedder.embed_queries([a.text for a in reading.asks])
        for ask, vector in zip(reading.asks, vectors, strict=True):
            passages = loaded.retriever.search(ask.text, qa.settings.top_k, None, {}, ask, vector)
            ranked = loaded.scorer.candidates(ask, vector, passages)
            if ranked:
                cases.append(Case(loaded.scorer, ask, ranked, row))
    return cases


def evidence_samples(cases: list[Case]) -> Samples:
    out = Samples()
    for case in cases:
        labels = [positive(e, case.row) for e in case.ranked]
        if case.row.answerable and any(labels):
            out.x += [e.x for e in case.ranked]
            out.y += [int(v) for v in labels]
            out.group += [case.row.id] * len(case.ranked)
    return out


def confidence_samples(cases: list[Case], model: Model) -> Samples:
    """Rescore every ask's candidates with the fitted evidence model; label: the row is answerable."""
    out = Samples()
    for case in cases:
        scores = model.logit(np.stack([e.x for e in case.ranked]))
        for e, sc in zip(case.ranked, scores, strict=True):
            e.score = float(sc)
        case.ranked.sort(key=lambda e: -e.score)
        out.x.append(case.scorer.confidence_features(case.ask, case.ranked))
        out.y.append(int(case.row.answerable))
        out.group.append(case.row.id)
        out.keep.append(case.row.answerable and positive(case.ranked[0], case.row))
    return out


def logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], balanced: bool = True) -> Model:
    """L2-regularised logistic regression by gradient descent on standardised features."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    unseen = scale < 1e-6
    scale[unseen] = 1.0
    mean[unseen] = 0.0
    z = (x - mean) / scale
    pos = max(1, int(y.sum()))
    w = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * max(1, len(y) - pos))) if balanced else np.ones(len(y))
    sign = np.array([SIGNED.get(n, 0.0) for n in names])
    coef, b = np.zeros(z.shape[1]), 0.0
    for _ in range(3000):
        p = 1 / (1 + np.exp(-(z @ coef + b)))
        g = (p - y) * w
        coef -= 0.5 * (z.T @ g / len(y) + L2 * coef)
        b -= 0.5 * float(g.mean())
        coef = np.where(sign * coef < 0, 0.0, coef)  # projected: a signed feature never points the wrong way
    coef = np.where(unseen, sign, coef)
    return Model(names, mean, scale, coef, b)


KEEP = 0.97  # share of rightly answerable asks the threshold must still answer


def best_threshold(model: Model, x: np.ndarray, keep: np.ndarray) -> float:
    """The highest probability cut that still answers KEEP of the asks whose best evidence is right: refuse as
    much as possible without losing answers (a wrong answer is worse than none, a lost right one is a loss)."""
    p = 1 / (1 + np.exp(-model.logit(x)))
    kept = np.sort(p[keep])
    return float(kept[int((1 - KEEP) * len(kept))]) if len(kept) else 0.5


def fit(sets: list[tuple[Any, list[Row]]], out: Path = WEIGHTS) -> dict[str, Any]:
    """Fit both models on the sets (pipeline, rows) and save them; returns what was saved."""
    cases = [case for qa, rows in sets for case in collect(qa, rows)]
    evidence = evidence_samples(cases)
    ev = logistic(np.stack(evidence.x), np.array(evidence.y), FEATURES)
    confidence = confidence_samples(cases, ev)
    cx, cy = np.stack(confidence.x), np.array(confidence.y)
    conf = logistic(cx, cy, CONFIDENCE)
    conf.threshold = best_threshold(conf, cx, np.array(confidence.keep))
    data = {
        "_about": "Fitted by `policyqa fit`; features are standardised (mean, scale) before the coefficients apply.",
        "evidence": ev.to_dict(), "confidence": conf.to_dict(),
        "samples": {"evidence": len(evidence.y), "evidence_positive": int(sum(evidence.y)), "asks": len(cy), "asks_answerable": int(cy.sum())},
    }
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    load_models.cache_clear()
    for qa, _ in sets:  # the pipelines in this process answer with the new weights from now on
        qa.loaded.scorer.model, qa.loaded.scorer.confidence_model = load_models(out)
    return data


def describe(data: dict[str, Any]) -> str:
    """The weights as a table people can read."""
    lines = []
    for name in ("evidence", "confidence"):
        m = data[name]
        lines.append(f"{name} model (intercept {m['intercept']:+.3f}, threshold {m['threshold']}):")
        lines += [f"  {f:14} {c:+.3f}" for f, c in sorted(zip(m["features"], m["coef"], strict=True), key=lambda fc: -abs(fc[1]))]
    lines.append(f"samples: {data.get('samples')}")
    return "\n".join(lines)
