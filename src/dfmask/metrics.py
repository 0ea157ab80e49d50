"""Classification, segmentation and calibration metrics on numpy arrays.

Written out (not imported from scikit-learn) so the evaluation has no hidden
conventions; `tests/test_metrics.py` checks every function against scikit-learn.

Conventions:
* ``y_true`` is 0/1 (1 = FAKE), ``p`` a probability of FAKE in [0, 1].
* `log_loss` clips p to [eps, 1 - eps] with eps = 1e-15 (DFDC's metric; sklearn's
  clipping); a constant 0.5 scores ln 2 = 0.693.
* AUC is undefined with one class present: it returns NaN (reported as null).
* Threshold metrics use ``p >= threshold`` ⇒ FAKE.
* Dice/IoU of two empty masks is 1 (nothing to find, nothing predicted).
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-15


def _arrays(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and p differ in length: {y.shape} vs {s.shape}")
    return y, s


def log_loss(y_true: np.ndarray, p: np.ndarray, eps: float = EPS) -> float:
    """Mean binary cross-entropy in nats."""
    y, s = _arrays(y_true, p)
    if not len(y):
        return math.nan
    s = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))


def roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U with mid-ranks for ties)."""
    y, s = _arrays(y_true, p)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    # mid-ranks over runs of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, highest threshold first.

    The first point is (0, 0) at threshold +inf, as in sklearn (drop_intermediate=False).
    """
    y, s = _arrays(y_true, p)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s) - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    tps, fps = np.r_[0, tps], np.r_[0, fps]
    thresholds = np.r_[np.inf, s_sorted[last]]
    fpr = fps / fps[-1] if fps[-1] else np.full(len(fps), np.nan)
    tpr = tps / tps[-1] if tps[-1] else np.full(len(tps), np.nan)
    return fpr, tpr, thresholds


def average_precision(y_true: np.ndarray, p: np.ndarray) -> float:
    """Average precision: sum over thresholds of (R_n - R_{n-1}) P_n (sklearn's definition)."""
    y, s = _arrays(y_true, p)
    if y.sum() == 0:
        return math.nan
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s) - 1]
    tps = np.cumsum(y_sorted)[last]
    precision = tps / (last + 1)
    recall = tps / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, int]:
    """Counts tn, fp, fn, tp with ``p >= threshold`` ⇒ FAKE."""
    y, s = _arrays(y_true, p)
    pred = s >= threshold
    return {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }


def _div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def classification_report(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float | int | None]:
    """Log loss, AUC, AP, accuracy, precision, recall, F1 and counts; NaN → None (JSON null)."""
    y, s = _arrays(y_true, p)
    c = confusion(y, s, threshold)
    precision = _div(c["tp"], c["tp"] + c["fp"])
    recall = _div(c["tp"], c["tp"] + c["fn"])
    out: dict[str, float | int | None] = {
        "n": len(y),
        "n_fake": int(y.sum()),
        "log_loss": log_loss(y, s),
        "auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "accuracy": _div(c["tp"] + c["tn"], len(y)),
        "precision": precision,
        "recall": recall,
        "f1": _div(2 * precision * recall, precision + recall),
        **c,
    }
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


# ----------------------------------------------------------------------------- calibration


def reliability_bins(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-width bins over [0, 1]: per bin, count, mean p and fraction of fakes.

    Bin i holds p in [i/n, (i+1)/n), the last bin includes 1. Empty bins have NaN means.
    """
    y, s = _arrays(y_true, p)
    idx = np.clip((s * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sum_p = np.bincount(idx, weights=s, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = sum_p / count
        frac_pos = sum_y / count
    return {"count": count, "mean_p": mean_p, "frac_pos": frac_pos}


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE = sum over bins of (n_bin / n) |frac_fake - mean_p|, equal-width bins."""
    bins = reliability_bins(y_true, p, n_bins)
    n = bins["count"].sum()
    if not n:
        return math.nan
    nz = bins["count"] > 0
    gap = np.abs(bins["frac_pos"][nz] - bins["mean_p"][nz])
    return float(np.sum(bins["count"][nz] / n * gap))


# ----------------------------------------------------------------------------- segmentation


def _masks(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(pred, bool), np.asarray(true, bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    return a, b


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice = 2|A∩B| / (|A| + |B|) of two boolean masks; 1 when both are empty."""
    a, b = _masks(pred, true)
    denom = int(a.sum()) + int(b.sum())
    return 1.0 if denom == 0 else float(2 * np.logical_and(a, b).sum() / denom)


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU = |A∩B| / |A∪B| of two boolean masks; 1 when both are empty."""
    a, b = _masks(pred, true)
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def mean_or_none(values: list[float] | np.ndarray) -> float | None:
    """Mean of a list, None (JSON null) when empty."""
    arr = np.asarray(values, np.float64)
    return float(arr.mean()) if arr.size else None
