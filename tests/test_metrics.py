"""dfmask.metrics: the DFDC log-loss convention, the library versions beside the
hand-written pieces (and why those stay), and parity with the code it replaced."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import metrics_previous as previous
import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from torchmetrics.functional.classification import binary_calibration_error

from dfmask import metrics


def _data(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    if ties:
        p = np.round(p, 1)  # many tied scores
    return y, p


# ----------------------------------------------------------------------------- log loss (DFDC)


def test_log_loss_is_dfdc_natural_log_clipped_at_1e15_mean_over_items() -> None:
    # natural log: a constant 0.5 scores ln 2 (log2 would give 1, log10 0.301)
    assert metrics.log_loss(np.array([0, 1, 1, 0, 1]), np.full(5, 0.5)) == pytest.approx(math.log(2), rel=1e-15)
    # clipped at 1e-15: a certain miss costs ln(1e15) = 34.54, not inf (nor ln(1e7) = 16.1)
    assert metrics.EPS == 1e-15
    assert metrics.log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-math.log(1e-15), rel=1e-12)
    assert metrics.log_loss(np.array([0]), np.array([1.0])) == pytest.approx(-math.log(1e-15), rel=1e-3)
    # a mean over the scored items (videos, for the DFDC figure), not a sum
    y, p = np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.6, 0.5])
    per_item = -np.log([0.9, 0.8, 0.6, 0.5])
    assert metrics.log_loss(y, p) == pytest.approx(per_item.mean(), rel=1e-15)
    assert math.isnan(metrics.log_loss(np.zeros(0), np.zeros(0)))


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_log_loss_is_sklearns_with_the_explicit_clip(seed: int, ties: bool) -> None:
    y, p = _data(seed, ties=ties)
    p[:3], p[3:6] = 0.0, 1.0
    assert metrics.log_loss(y, p) == skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))


# ----------------------------------------------------------------------------- classification


def test_classification_report_matches_sklearn() -> None:
    y, p = _data(0, ties=True)
    report = metrics.classification_report(y, p, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    assert report["auc"] == skm.roc_auc_score(y, p)
    assert report["average_precision"] == skm.average_precision_score(y, p)
    assert report["accuracy"] == skm.accuracy_score(y, pred)
    assert report["precision"] == skm.precision_score(y, pred)
    assert report["recall"] == skm.recall_score(y, pred)
    assert report["f1"] == skm.f1_score(y, pred)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert (report["tn"], report["fp"], report["fn"], report["tp"]) == (tn, fp, fn, tp)


def test_constant_half_scores_auc_half() -> None:
    assert metrics.roc_auc(np.array([0, 1, 1, 0, 1]), np.full(5, 0.5)) == pytest.approx(0.5)


def test_undefined_scores_are_null_in_the_report() -> None:
    report = metrics.classification_report(np.ones(4), np.array([0.2, 0.9, 0.7, 0.6]))
    assert report["auc"] is None and report["average_precision"] == 1.0
    assert report["recall"] == pytest.approx(0.75)
    reals = metrics.classification_report(np.zeros(3), np.array([0.2, 0.9, 0.7]))
    assert reals["auc"] is None and reals["average_precision"] is None and reals["precision"] == 0.0
    # a diverged model (NaN p) has no AUC or log loss, and does not raise
    nan = metrics.classification_report(np.array([0, 1]), np.array([0.3, np.nan]))
    assert nan["auc"] is None and nan["log_loss"] is None and nan["n"] == 2


# ----------------------------------------------------------------------------- parity with the replaced code

CASES = {
    "random": _data(10),
    "ties": _data(11, ties=True),
    "p_0_and_1": (np.array([1, 0, 1, 0, 1, 0]), np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.5])),
    "all_fake": (np.ones(5, int), np.array([0.1, 0.9, 0.9, 0.4, 1.0])),
    "all_real": (np.zeros(5, int), np.array([0.1, 0.9, 0.9, 0.4, 0.0])),
    "two": (np.array([0, 1]), np.array([0.7, 0.7])),
    "empty": (np.zeros(0, int), np.zeros(0)),
    "float32_sigmoid": (
        np.random.default_rng(12).integers(0, 2, 1000),
        (1 / (1 + np.exp(-np.random.default_rng(13).normal(0, 8, 1000)))).astype(np.float32),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_report_equals_the_previous_hand_written_one(case: str, threshold: float) -> None:
    """Counts and log loss are bit-identical; AUC, AP and F1 differ from the old rank
    formulas by at most a few ulps (the reports round to 6 digits)."""
    y, p = CASES[case]
    new, old = metrics.classification_report(y, p, threshold), previous.classification_report(y, p, threshold)
    assert list(new) == list(old)
    for key in old:
        if old[key] is None or isinstance(old[key], int):
            assert new[key] == old[key], key
        elif key == "log_loss":
            assert new[key] == old[key]
        else:
            assert new[key] == pytest.approx(old[key], abs=1e-15), key


@pytest.mark.parametrize("seed", range(4))
def test_masks_scores_equal_all_three_previous_copies(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (6, 16, 16) if seed % 2 else (32, 32)
    pred = (rng.random(shape) > rng.uniform(0.2, 0.9)).astype(np.uint8)
    true = (rng.random(shape) > rng.uniform(0.2, 0.9)).astype(np.uint8)
    empty = np.zeros(shape, np.uint8)
    for a, b in [(pred, true), (pred, empty), (empty, true), (empty, empty), (pred, pred)]:
        dice, iou = metrics.dice(a, b), metrics.iou(a, b)
        assert dice == previous.metrics_dice(a, b) == previous.deploy_dice(a, b) == previous.masks_iou_dice(a, b)[1]
        assert iou == previous.metrics_iou(a, b) == previous.masks_iou_dice(a, b)[0]


def test_cosine_equals_the_previous_one() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 1, 8, 8)).astype(np.float32), rng.normal(size=(4, 1, 8, 8)).astype(np.float32)
    zero = np.zeros_like(a)
    for x, y in [(a, b), (a, a), (zero, zero)]:
        assert metrics.cosine_similarity(x, y) == previous.cosine(x, y)
    # the one intended difference: the previous one scored zeros against a real output 1.0
    assert previous.cosine(a, zero) == 1.0
    assert metrics.cosine_similarity(a, zero) == 0.0


# ----------------------------------------------------------------------------- hand-written: Dice / IoU


def test_dice_and_iou_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    a = rng.random((32, 32)) > 0.6
    b = rng.random((32, 32)) > 0.5
    assert metrics.dice(a, b) == pytest.approx(skm.f1_score(b.ravel(), a.ravel()), abs=1e-15)
    assert metrics.iou(a, b) == pytest.approx(skm.jaccard_score(b.ravel(), a.ravel()), abs=1e-15)
    empty = np.zeros((4, 4), bool)
    assert metrics.dice(empty, empty) == skm.f1_score(empty.ravel(), empty.ravel(), zero_division=1.0) == 1.0
    assert metrics.iou(empty, empty) == skm.jaccard_score(empty.ravel(), empty.ravel(), zero_division=1.0) == 1.0
    assert metrics.dice(a, np.zeros_like(a)) == 0.0
    # a stack of crops gives the pooled (micro) Dice over all their pixels
    stack_a, stack_b = rng.random((5, 8, 8)) > 0.5, rng.random((5, 8, 8)) > 0.5
    assert metrics.dice(stack_a, stack_b) == pytest.approx(skm.f1_score(stack_b.ravel(), stack_a.ravel()))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(a, empty)


def test_dice_is_written_out_because_sklearn_is_too_slow_per_mask() -> None:
    """Why `dice`/`iou` are not sklearn's: mask QA and the mean-mask baseline score
    ~10^5 masks (crops x threshold grid); sklearn validates each for > 10x the count."""
    rng = np.random.default_rng(6)
    a, b = rng.random((128, 128)) > 0.5, rng.random((128, 128)) > 0.4

    def best_of(fn: Callable[[], float], repeat: int = 5) -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    ours = best_of(lambda: metrics.dice(a, b))
    library = best_of(lambda: skm.f1_score(b.ravel(), a.ravel(), zero_division=1.0))
    assert library > 10 * ours, (library, ours)


# ----------------------------------------------------------------------------- hand-written: calibration


def test_reliability_bins_match_sklearn_calibration_curve() -> None:
    y, p = _data(3, n=1000)
    bins = metrics.reliability_bins(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    nz = bins["count"] > 0
    np.testing.assert_allclose(bins["frac_pos"][nz], prob_true, atol=1e-12)
    np.testing.assert_allclose(bins["mean_p"][nz], prob_pred, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_ece_matches_torchmetrics_off_the_bin_edges(seed: int) -> None:
    y, p = _data(seed, n=2000)
    ours = metrics.expected_calibration_error(y, p, 10)
    library = binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y), n_bins=10, norm="l1")
    assert ours == pytest.approx(float(library), abs=1e-12)


def test_ece_is_written_out_for_its_bin_edges() -> None:
    """Why ECE is not a library's: p = 1 (a saturated float32 sigmoid) belongs to the
    last bin [0.9, 1], and p = 0.5 (a video without a face) to [0.5, 0.6)."""
    y = np.array([1, 0, 1, 0, 1, 0])
    p = np.array([1.0, 1.0, 0.95, 0.5, 0.55, 0.45])
    bins = metrics.reliability_bins(y, p, 10)
    assert bins["count"][9] == 3 and bins["count"][5] == 2 and bins["count"][4] == 1
    expected = (3 * abs(2 / 3 - 2.95 / 3) + 2 * abs(1 / 2 - 1.05 / 2) + abs(0 - 0.45)) / 6
    assert metrics.expected_calibration_error(y, p, 10) == pytest.approx(expected, abs=1e-15)
    # torchmetrics gives p = 1 a bin of its own; sklearn's calibration_curve puts 0.5 in [0.4, 0.5]
    library = float(binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y), n_bins=10, norm="l1"))
    assert library != pytest.approx(expected, abs=1e-6)
    _, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    assert prob_pred[0] == pytest.approx((0.45 + 0.5) / 2)


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


# ----------------------------------------------------------------------------- hand-written: cosine


def test_cosine_matches_sklearn_except_for_all_zero_arrays() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, 1, 8, 8)), rng.normal(size=(3, 1, 8, 8))
    library = skm.pairwise.cosine_similarity(a.reshape(1, -1), b.reshape(1, -1))[0, 0]
    assert metrics.cosine_similarity(a, b) == pytest.approx(library, abs=1e-15)
    assert metrics.cosine_similarity(a, 2 * a) == pytest.approx(1.0, abs=1e-15)
    zero = np.zeros((1, 4))
    # two identical (all-zero) outputs are in parity; sklearn scores them 0
    assert skm.pairwise.cosine_similarity(zero, zero)[0, 0] == 0.0
    assert metrics.cosine_similarity(zero, zero) == 1.0
    # but zeros against a real output are not in parity, whichever side they are on
    assert metrics.cosine_similarity(zero, np.ones((1, 4))) == 0.0
    assert metrics.cosine_similarity(np.ones((1, 4)), zero) == 0.0
    assert skm.pairwise.cosine_similarity(zero, np.ones((1, 4)))[0, 0] == 0.0
