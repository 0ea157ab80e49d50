"""Every metric dfmask reports, defined once: classification, calibration, segmentation, parity.

Evaluation (``model.evaluate``, ``model.segeval``, ``model.plots``), validation during
training (``model.lightning``), mask QA (``masks.quality``), deployment accuracy and
int8 parity (``deploy.accuracy``) and the forensic tool (``tools/forensics.py``) all
call these functions, so a figure means the same thing in every report.

Conventions
-----------
* ``y_true`` is 0/1 (1 = FAKE); ``p`` is the probability of FAKE in [0, 1].
* **Log loss is DFDC's** (the Deepfake Detection Challenge leaderboard metric): binary
  cross-entropy in **nats** (natural log), with ``p`` first clipped to
  [1e-15, 1 − 1e-15], averaged with equal weight over the scored items. A confident
  miss therefore costs at most ln(1e15) ≈ 34.5 instead of ∞; a constant 0.5 scores
  ln 2 ≈ 0.693. DFDC scored **videos** (one p per video, mean over videos), so the
  comparable figure is ``evaluate``'s per-video one (``<split>.video.log_loss``); the
  per-crop figures (``frame``, ``val/frame_log_loss``, ``quant.json``, the benchmark)
  apply the same formula over crops.
* AUC and average precision are undefined without both classes (AP: without a fake);
  AUC, AP and log loss are undefined when a p is NaN (a diverged model). Undefined is
  NaN, reported as JSON null (`none_if_nan`).
* Threshold metrics use ``p >= threshold`` ⇒ FAKE.
* Dice/IoU of two empty masks is 1 (nothing to find, nothing predicted).

Where the numbers come from
---------------------------
scikit-learn computes AUC, average precision, log loss, the Brier score, the confusion
counts, accuracy, precision, recall and F1. Hanley–McNeil's AUC standard error is a
closed formula no library we use ships (`auc_standard_error`). The pieces below are
written out here, each tested against a library version or a hand computation
(``tests/test_metrics.py``, ``tests/model/test_calibration.py``), which shows why:

* `dice` / `iou`: scikit-learn's ``f1_score`` / ``jaccard_score`` on the flattened pixels
  give the same numbers (``zero_division=1``) but spend ~15 ms validating each 128 px
  mask, > 100 × the numpy count; mask QA and the mean-mask baseline call them ~10^5
  times (one per crop per threshold of a grid).
* `reliability_bins` / `expected_calibration_error`: scikit-learn has no ECE, and its
  ``calibration_curve`` puts a p on a bin edge into the lower bin (a video without a
  face scores exactly 0.5); torchmetrics' ``binary_calibration_error`` puts p = 1 (a
  saturated float32 sigmoid) into an extra bin of its own. Here bin i holds
  [i/n, (i+1)/n) and the last bin holds 1; elsewhere all three agree.
* `equal_mass_ece`: the same gap as `expected_calibration_error` over bins of equal
  count instead of equal width (scikit-learn's ``calibration_curve(strategy="quantile")``
  cuts at quantiles, which merges tied scores into one bin of any size).
* `cosine_similarity`: scikit-learn's works on rows of a matrix and scores an all-zero
  vector 0 against anything, itself included; two all-zero logit arrays are identical
  outputs and score 1 here (an all-zero array against a non-zero one scores 0, as there).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

#: DFDC's clipping of p before the log: [EPS, 1 - EPS].
EPS = 1e-15


def _arrays(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    s = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true and p differ in length: {y.shape} vs {s.shape}")
    return y, s


def _two_classes(y: np.ndarray) -> bool:
    return bool(y.any()) and not bool(y.all())


def _has_nan(s: np.ndarray) -> bool:
    """A NaN p (a diverged model) leaves a score undefined: NaN, not an exception."""
    return bool(np.isnan(s).any())


def none_if_nan(value: float) -> float | None:
    """A metric for a JSON report: NaN (undefined) becomes None (null)."""
    return None if math.isnan(value) else value


# ----------------------------------------------------------------------------- classification


def log_loss(y_true: np.ndarray, p: np.ndarray, eps: float = EPS) -> float:
    """DFDC log loss (see the module docstring): mean binary cross-entropy in nats of
    ``p`` clipped to [eps, 1 - eps]; NaN when there is nothing to score."""
    y, s = _arrays(y_true, p)
    if not len(y) or _has_nan(s):
        return math.nan
    return float(skm.log_loss(y, np.clip(s, eps, 1 - eps), labels=[0, 1]))


def roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN unless both classes are present."""
    y, s = _arrays(y_true, p)
    return float(skm.roc_auc_score(y, s)) if _two_classes(y) and not _has_nan(s) else math.nan


def average_precision(y_true: np.ndarray, p: np.ndarray) -> float:
    """Average precision, sum over thresholds of (R_n − R_{n−1}) P_n; NaN without a fake."""
    y, s = _arrays(y_true, p)
    return float(skm.average_precision_score(y, s)) if y.any() and not _has_nan(s) else math.nan


def confusion(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, int]:
    """Counts tn, fp, fn, tp with ``p >= threshold`` ⇒ FAKE."""
    y, s = _arrays(y_true, p)
    if not len(y):
        return {"tn": 0, "fp": 0, "fn": 0, "tp": 0}
    tn, fp, fn, tp = skm.confusion_matrix(y, (s >= threshold).astype(np.int64), labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def classification_report(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float | int | None]:
    """Log loss, AUC, AP, accuracy, precision, recall, F1 and counts; NaN → None (JSON null).

    Precision, recall and F1 are 0 when undefined (no FAKE predicted / present), as is
    the accuracy of an empty set.
    """
    y, s = _arrays(y_true, p)
    pred = (s >= threshold).astype(np.int64)
    if len(y):
        accuracy = float(skm.accuracy_score(y, pred))
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y, pred, average="binary", labels=[0, 1], zero_division=0.0
        )
    else:
        accuracy = precision = recall = f1 = 0.0
    out: dict[str, float | int | None] = {
        "n": len(y),
        "n_fake": int(y.sum()),
        "log_loss": none_if_nan(log_loss(y, s)),
        "auc": none_if_nan(roc_auc(y, s)),
        "average_precision": none_if_nan(average_precision(y, s)),
        "accuracy": accuracy,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        **confusion(y, s, threshold),
    }
    return out


def auc_standard_error(auc: float | None, n_fake: int, n_real: int) -> float | None:
    """Hanley & McNeil's (1982) standard error of an AUC from ``n_fake`` positives and
    ``n_real`` negatives: sqrt((A(1−A) + (n₁−1)(Q₁−A²) + (n₀−1)(Q₂−A²)) / (n₁ n₀)) with
    Q₁ = A/(2−A), Q₂ = 2A²/(1+A). None when the AUC is undefined."""
    if auc is None or math.isnan(auc) or n_fake < 1 or n_real < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_fake - 1) * (q1 - auc * auc) + (n_real - 1) * (q2 - auc * auc)) / (n_fake * n_real)
    return math.sqrt(max(var, 0.0))


def brier_score(y_true: np.ndarray, p: np.ndarray) -> float:
    """Brier score: mean (p − y)² in probability² units (0 = perfect, 0.25 = constant 0.5);
    NaN when there is nothing to score."""
    y, s = _arrays(y_true, p)
    if not len(y) or _has_nan(s):
        return math.nan
    return float(skm.brier_score_loss(y, s, pos_label=1))


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
    """ECE = sum over bins of (n_bin / n) |frac_fake − mean_p|, `reliability_bins`' bins,
    in probability units (0 = calibrated); NaN when there is nothing to score."""
    bins = reliability_bins(y_true, p, n_bins)
    n = bins["count"].sum()
    if not n:
        return math.nan
    nz = bins["count"] > 0
    gap = np.abs(bins["frac_pos"][nz] - bins["mean_p"][nz])
    return float(np.sum(bins["count"][nz] / n * gap))


def equal_mass_ece(y_true: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE over equal-mass bins: the items sorted by p (stable, so ties keep their order)
    are cut into ``n_bins`` groups of (nearly) equal count (`numpy.array_split`); ECE =
    sum over groups of (n_group / n) |frac_fake − mean_p|. With few items (~50 test
    videos) equal-width bins leave most bins empty; equal mass keeps every bin populated.
    NaN when there is nothing to score."""
    y, s = _arrays(y_true, p)
    if not len(y) or _has_nan(s):
        return math.nan
    order = np.argsort(s, kind="stable")
    total = 0.0
    for group in np.array_split(order, min(n_bins, len(y))):
        total += len(group) / len(y) * abs(float(y[group].mean()) - float(s[group].mean()))
    return total


# ----------------------------------------------------------------------------- segmentation


def _overlap(pred: np.ndarray, true: np.ndarray) -> tuple[int, int, int]:
    """(|A∩B|, |A|, |B|) of two masks of the same shape; nonzero = manipulated."""
    a, b = np.asarray(pred, bool), np.asarray(true, bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    return int(np.count_nonzero(a & b)), int(np.count_nonzero(a)), int(np.count_nonzero(b))


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice = 2|A∩B| / (|A| + |B|) over every pixel of two masks; 1 when both are empty.

    Masks of any shape: an N×S×S stack gives the pooled (micro) Dice of N crops.
    """
    inter, n_pred, n_true = _overlap(pred, true)
    total = n_pred + n_true
    return 1.0 if total == 0 else 2 * inter / total


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU = |A∩B| / |A∪B| over every pixel of two masks; 1 when both are empty."""
    inter, n_pred, n_true = _overlap(pred, true)
    union = n_pred + n_true - inter
    return 1.0 if union == 0 else inter / union


def mean_or_none(values: list[float] | np.ndarray) -> float | None:
    """Mean of a list, None (JSON null) when empty."""
    arr = np.asarray(values, np.float64)
    return float(arr.mean()) if arr.size else None


# ----------------------------------------------------------------------------- parity


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays flattened to vectors (1.0 = same direction).

    Two all-zero arrays agree exactly (1.0); an all-zero array against a non-zero one
    shares no direction (0.0), so a backend that outputs zeros never passes a parity
    check against one that does not.
    """
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    norm_a, norm_b = float(np.linalg.norm(a64)), float(np.linalg.norm(b64))
    if norm_a == 0 or norm_b == 0:
        return 1.0 if norm_a == norm_b else 0.0
    return float(a64 @ b64 / (norm_a * norm_b))
