"""Calibration, operating threshold and the probability metrics, on tiny synthetic predictions."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.isotonic import IsotonicRegression

from dfmask import metrics
from dfmask.model import calibration as cal


def _overconfident(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose logits are 4 x the true log-odds: the right temperature is ~4."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, n)
    y = rng.random(n) < 1 / (1 + np.exp(-true_logit))
    return y, 1 / (1 + np.exp(-4 * true_logit))


def test_probability_metrics_match_sklearn() -> None:
    y, p = _overconfident(60)
    assert metrics.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, p))
    assert metrics.brier_score(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert math.isnan(metrics.brier_score([], []))


def test_hanley_mcneil_standard_error() -> None:
    # A = 0.8, 10 + 10: Q1 = 2/3, Q2 = 0.64 * 2 / 1.8; var = (0.16 + 9 (Q1 - 0.64) + 9 (Q2 - 0.64)) / 100
    q1, q2 = 0.8 / 1.2, 1.28 / 1.8
    expected = math.sqrt((0.16 + 9 * (q1 - 0.64) + 9 * (q2 - 0.64)) / 100)
    assert metrics.auc_standard_error(0.8, 10, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.10198, abs=1e-5)
    assert metrics.auc_standard_error(None, 10, 10) is None
    assert metrics.auc_standard_error(0.8, 0, 10) is None
    # of the order of the bootstrap spread of the AUC on data of that size
    y, p = _overconfident(80, seed=3)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(300):
        d = rng.integers(0, len(y), len(y))
        if y[d].any() and not y[d].all():
            boots.append(skm.roc_auc_score(y[d], p[d]))
    auc = skm.roc_auc_score(y, p)
    se = metrics.auc_standard_error(auc, int(y.sum()), int((~y).sum()))
    assert se is not None and 0.6 < se / np.std(boots) < 1.6


def test_equal_mass_ece_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.7])
    # 2 bins of 3 sorted by p: (0.1, 0.2, 0.3 | y 0 0 1) and (0.7, 0.8, 0.9 | y 0 1 1)
    expected = 0.5 * abs(1 / 3 - 0.2) + 0.5 * abs(2 / 3 - 0.8)
    assert metrics.equal_mass_ece(y, p, 2) == pytest.approx(expected)
    # more bins than items: one item per bin = mean |y - p|
    assert metrics.equal_mass_ece(y, p, 50) == pytest.approx(np.mean(np.abs(y - p)))
    assert math.isnan(metrics.equal_mass_ece([], [], 10))


def test_temperature_reduces_val_log_loss() -> None:
    y, p = _overconfident()
    fitted = cal.fit("temperature", y, p)
    assert fitted.method == "temperature" and 2.5 < fitted.temperature < 6
    before, after = metrics.log_loss(y, p), metrics.log_loss(y, fitted.apply(p))
    assert after < before - 0.05
    # the optimum: neither a slightly smaller nor larger T does better
    for t in (fitted.temperature * 0.9, fitted.temperature * 1.1):
        assert metrics.log_loss(y, cal.Calibration("temperature", temperature=t).apply(p)) >= after
    # monotone: the ranking (AUC) is unchanged
    assert metrics.roc_auc(y, fitted.apply(p)) == pytest.approx(metrics.roc_auc(y, p))


def test_isotonic_is_monotone_and_is_sklearns() -> None:
    y, p = _overconfident(120, seed=1)
    fitted = cal.fit("isotonic", y, p)
    assert fitted.method == "isotonic"
    assert np.all(np.diff(fitted.isotonic_x) >= 0) and np.all(np.diff(fitted.isotonic_y) >= 0)
    grid = np.linspace(-0.1, 1.1, 301)
    out = fitted.apply(grid)
    assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1
    ref = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y.astype(float))
    np.testing.assert_allclose(out, ref.predict(grid), atol=1e-12)
    assert metrics.log_loss(y, fitted.apply(p)) < metrics.log_loss(y, p)


def test_one_class_or_none_gives_identity() -> None:
    p = np.array([0.2, 0.9])
    assert cal.fit("temperature", np.array([True, True]), p) == cal.Calibration()
    assert cal.fit("none", np.array([False, True]), p).apply(p).tolist() == p.tolist()
    assert cal.youden_threshold(np.array([True, True]), p) is None


def test_youden_threshold_known_value() -> None:
    y = np.array([0, 0, 0, 1, 1, 1], bool)
    p = np.array([0.1, 0.2, 0.35, 0.4, 0.7, 0.9])
    assert cal.youden_threshold(y, p) == pytest.approx(0.4)  # J = 1 only there
    rates = cal.rates_at(y, p, 0.4)
    assert rates["false_positive_rate"] == 0.0 and rates["true_positive_rate"] == 1.0
    # a tie of J (t = 0.7: TPR 2/3, FPR 0; t = 0.4: TPR 1, FPR 1/3) takes the higher t
    p = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    assert cal.youden_threshold(y, p) == pytest.approx(0.7)
    assert cal.rates_at(y, p, 0.4) == {
        "threshold": 0.4,
        "n_real": 3,
        "n_fake": 3,
        "false_positive_rate": pytest.approx(1 / 3),
        "true_positive_rate": 1.0,
    }


def test_bootstrap_interval_is_seeded_and_brackets() -> None:
    y, p = _overconfident(50, seed=2)
    a = cal.bootstrap_interval(y, p, 10, 300, seed=0)
    b = cal.bootstrap_interval(y, p, 10, 300, seed=0)
    assert a == b and a is not None
    assert 0 <= a[0] <= a[1] <= 1
    assert cal.bootstrap_interval(y, p, 10, 0, seed=0) is None
    report = cal.probability_report(y, p, 10, 200, 0)
    assert report["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert report["ece_equal_mass_ci90"] is not None


@pytest.mark.parametrize("frame_rule", ["mean", "confident"])
@pytest.mark.parametrize("method", ["temperature", "isotonic", "none"])
def test_calibration_json_round_trip(method: str, frame_rule: str, tmp_path: Path) -> None:
    """What evaluate writes, the one reader (the scorer's too) maps to identical values."""
    y, p = _overconfident(80, seed=4)
    fitted = cal.fit(method, y, p)  # type: ignore[arg-type]
    point = cal.OperatingPoint(fitted, 0.42, "max", frame_rule, 0.75, 0.3, fitted_on="val")  # type: ignore[arg-type]
    path = cal.write_calibration(tmp_path / "calibration.json", point)
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1 and doc["method"] == method and doc["fitted_on"] == "val"
    assert doc["threshold"] == 0.42 and doc["aggregation"] == "max" and doc["frame_aggregation"] == frame_rule
    keys = {"temperature": {"temperature"}, "isotonic": {"x", "y"}, "none": set()}[method]
    rules = {"frame_aggregation", "confident_threshold", "confident_min_frac"}
    assert set(doc) == {"schema_version", "method", "threshold", "aggregation", "fitted_on"} | rules | keys
    back = cal.read_calibration(path)
    assert back == point and back.source == str(path)
    grid = np.concatenate([p, np.linspace(0, 1, 101), [1e-20, 1 - 1e-17]])
    np.testing.assert_array_equal(back.apply(grid), fitted.apply(grid))
