"""dfmask.metrics against scikit-learn (the reference implementation, kept side by side)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from dfmask import metrics


def _data(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    if ties:
        p = np.round(p, 1)  # many tied scores
    return y, p


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_classification_metrics_match_sklearn(seed: int, ties: bool) -> None:
    y, p = _data(seed, ties=ties)
    assert metrics.log_loss(y, p) == pytest.approx(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), rel=1e-9)
    assert metrics.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert metrics.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    fpr, tpr, thr = metrics.roc_curve(y, p)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    report = metrics.classification_report(y, p, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert report["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert report["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert report["f1"] == pytest.approx(skm.f1_score(y, pred))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (report["tn"], report["fp"], report["fn"], report["tp"]) == (tn, fp, fn, tp)


def test_constant_half_scores_ln2_and_auc_half() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p = np.full(5, 0.5)
    assert metrics.log_loss(y, p) == pytest.approx(math.log(2))
    assert metrics.roc_auc(y, p) == pytest.approx(0.5)


def test_single_class_auc_is_none_in_report() -> None:
    report = metrics.classification_report(np.ones(4), np.array([0.2, 0.9, 0.7, 0.6]))
    assert report["auc"] is None
    assert report["recall"] == pytest.approx(0.75)


def test_reliability_bins_match_sklearn_calibration_curve() -> None:
    y, p = _data(3, n=1000)
    bins = metrics.reliability_bins(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    nz = bins["count"] > 0
    np.testing.assert_allclose(bins["frac_pos"][nz], prob_true, atol=1e-12)
    np.testing.assert_allclose(bins["mean_p"][nz], prob_pred, atol=1e-12)


def test_ece_zero_when_calibrated_and_large_when_overconfident() -> None:
    # each bin's frequency equals its probability exactly
    p = np.repeat([0.05, 0.25, 0.75, 0.95], 20)
    y = np.concatenate(
        [
            np.r_[np.ones(1), np.zeros(19)],
            np.r_[np.ones(5), np.zeros(15)],
            np.r_[np.ones(15), np.zeros(5)],
            np.r_[np.ones(19), np.zeros(1)],
        ]
    )
    assert metrics.expected_calibration_error(y, p, 10) == pytest.approx(0.0, abs=1e-12)
    # always 0.99 but only half are fake: ECE = 0.49
    assert metrics.expected_calibration_error(np.r_[np.ones(10), np.zeros(10)], np.full(20, 0.99), 10) == (
        pytest.approx(0.49)
    )


def test_dice_and_iou_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    a = rng.random((32, 32)) > 0.6
    b = rng.random((32, 32)) > 0.5
    assert metrics.dice(a, b) == pytest.approx(skm.f1_score(b.ravel(), a.ravel()))
    assert metrics.iou(a, b) == pytest.approx(skm.jaccard_score(b.ravel(), a.ravel()))
    empty = np.zeros((4, 4), bool)
    assert metrics.dice(empty, empty) == 1.0 and metrics.iou(empty, empty) == 1.0
    assert metrics.dice(a, np.zeros_like(a)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(a, empty)
