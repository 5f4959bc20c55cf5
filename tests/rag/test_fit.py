"""The fitted models: small, readable, and honest about what the data can and cannot say."""

from __future__ import annotations

import numpy as np

from rag.evidence import CONFIDENCE, FEATURES, load_models
from rag.fit import best_threshold, describe, logistic


def test_the_shipped_weights_match_the_features_the_code_computes() -> None:
    evidence, confidence = load_models()
    assert evidence.features == FEATURES and confidence.features == CONFIDENCE
    assert len(evidence.coef) == len(FEATURES) and 0 < confidence.threshold < 1


def test_logistic_learns_the_direction_of_a_signal() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.1 * rng.standard_normal(400) > 0).astype(int)
    m = logistic(x, y, ("a", "b", "c"))
    assert m.coef[0] > 1 and m.coef[1] < -0.3 and abs(m.coef[2]) < 0.3
    p = 1 / (1 + np.exp(-m.logit(x)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.9


def test_a_signed_feature_never_points_the_wrong_way_and_an_unseen_one_keeps_its_prior() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.standard_normal(300), rng.standard_normal(300), np.zeros(300)])
    y = (x[:, 0] < 0).astype(int)  # "year" would want a negative weight here; it may not have one
    m = logistic(x, y, ("year", "dense", "article"))
    assert m.coef[0] == 0.0 and m.coef[2] == 1.0


def test_the_threshold_refuses_what_it_can_without_losing_right_answers() -> None:
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    m = logistic(x, np.array([0, 0, 1, 1, 1, 1]), ("top",))
    t = best_threshold(m, x, np.array([False, False, True, True, True, True]))
    p = 1 / (1 + np.exp(-m.logit(x)))
    assert p[1] < t <= p[2]  # both unanswerable rows refused, every rightly answered one kept


def test_describe_prints_every_weight() -> None:
    evidence, confidence = load_models()
    text = describe({"evidence": evidence.to_dict(), "confidence": confidence.to_dict()})
    assert all(f in text for f in FEATURES + CONFIDENCE) and "threshold" in text
