"""Accuracy of a runner on labelled crops, and parity of an int8 model against fp32.

Per head:

* classification (``cls_logit``): ROC AUC and log loss of ``sigmoid(logit)`` against
  ``is_fake`` (log loss in nats; a constant 0.5 scores 0.693);
* segmentation (``seg_logits``): Dice of ``sigmoid(logit) > 0.5`` against the mask,
  pooled over every pixel of every crop (micro Dice; real crops have all-zero masks,
  so false positives on reals count against it);
* parity: cosine similarity between the int8 and fp32 logits of each head, over
  the whole split flattened to one vector (1.0 = identical direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from dfmask.deploy.runners import Runner


@dataclass(frozen=True)
class Predictions:
    """Logits of one runner on a split."""

    seg_logits: np.ndarray  # N×1×S×S float32
    cls_logit: np.ndarray  # N float32


def predict(runner: Runner, images: np.ndarray, batch: int = 16) -> Predictions:
    """Run ``runner`` over ``images`` (N×3×S×S float32) in batches of ``batch``."""
    segs, clss = [], []
    for start in range(0, len(images), batch):
        seg, cls = runner.run(images[start : start + batch])
        segs.append(seg.astype(np.float32))
        clss.append(cls.astype(np.float32).reshape(-1))
    return Predictions(np.concatenate(segs), np.concatenate(clss))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Micro Dice 2|P∩T| / (|P|+|T|) over all pixels; 1.0 when both are empty."""
    pred, truth = pred.astype(bool), truth.astype(bool)
    denom = int(pred.sum()) + int(truth.sum())
    return 1.0 if denom == 0 else 2.0 * int(np.logical_and(pred, truth).sum()) / denom


def head_metrics(preds: Predictions, masks: np.ndarray, is_fake: np.ndarray) -> dict[str, float | None]:
    """AUC, log loss (cls head) and Dice (seg head) against the labels.

    ``masks`` is N×S×S (nonzero = manipulated). AUC is None when only one class is
    present (undefined), instead of a misleading number.
    """
    prob = np.clip(sigmoid(preds.cls_logit), 1e-7, 1 - 1e-7)
    labels = is_fake.astype(int)
    two_classes = len(np.unique(labels)) == 2
    return {
        "auc": float(roc_auc_score(labels, prob)) if two_classes else None,
        "log_loss": float(log_loss(labels, prob, labels=[0, 1])),
        "dice": dice(preds.seg_logits[:, 0] > 0.0, masks > 0),  # logit > 0 ⇔ prob > 0.5
    }


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two arrays flattened to vectors (1.0 if both are zero)."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    norm = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return 1.0 if norm == 0 else float(a64 @ b64 / norm)


def parity(reference: Predictions, candidate: Predictions) -> dict[str, float]:
    """Cosine similarity and max |Δ logit| of ``candidate`` against ``reference``, per head."""
    return {
        "seg_cosine": cosine(reference.seg_logits, candidate.seg_logits),
        "cls_cosine": cosine(reference.cls_logit, candidate.cls_logit),
        "seg_max_abs_diff": float(np.max(np.abs(reference.seg_logits - candidate.seg_logits))),
        "cls_max_abs_diff": float(np.max(np.abs(reference.cls_logit - candidate.cls_logit))),
    }
