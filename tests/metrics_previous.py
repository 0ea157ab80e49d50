"""The metric code as it was before `dfmask.metrics` delegated to scikit-learn (commit 373a4e0).

Frozen here only so that tests/test_metrics.py can show the move changed no reported
figure: the hand-written AUC / AP / report of the old ``dfmask/metrics.py``, and the
Dice copies of ``deploy/accuracy.py`` and ``masks/quality.py``. Nothing else imports it.
"""

from __future__ import annotations

import math

import numpy as np


def _arrays(y_true: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(y_true).astype(np.int64).ravel(), np.asarray(p, dtype=np.float64).ravel()


def log_loss(y_true: np.ndarray, p: np.ndarray, eps: float = 1e-15) -> float:
    y, s = _arrays(y_true, p)
    if not len(y):
        return math.nan
    s = np.clip(s, eps, 1 - eps)
    return float(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))


def roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
    y, s = _arrays(y_true, p)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(y_true: np.ndarray, p: np.ndarray) -> float:
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


def _div(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def classification_report(y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float | int | None]:
    y, s = _arrays(y_true, p)
    pred = s >= threshold
    c = {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }
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


def metrics_dice(pred: np.ndarray, true: np.ndarray) -> float:
    a, b = np.asarray(pred, bool), np.asarray(true, bool)
    denom = int(a.sum()) + int(b.sum())
    return 1.0 if denom == 0 else float(2 * np.logical_and(a, b).sum() / denom)


def metrics_iou(pred: np.ndarray, true: np.ndarray) -> float:
    a, b = np.asarray(pred, bool), np.asarray(true, bool)
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def deploy_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    pred, truth = pred.astype(bool), truth.astype(bool)
    denom = int(pred.sum()) + int(truth.sum())
    return 1.0 if denom == 0 else 2.0 * int(np.logical_and(pred, truth).sum()) / denom


def masks_iou_dice(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    p, t = pred > 0, truth > 0
    inter = int(np.count_nonzero(p & t))
    union = int(np.count_nonzero(p | t))
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    if union == 0:
        return 1.0, 1.0
    return inter / union, 2.0 * inter / total


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return 1.0 if norm == 0 else float(a64 @ b64 / norm)
