"""Accuracy of a runner on labelled crops, and parity of an int8 model against fp32.

Per head:

* classification (``cls_logit``): ROC AUC and log loss of ``sigmoid(logit)`` against
  ``is_fake`` (`dfmask.metrics`; log loss in nats; a constant 0.5 scores 0.693);
* segmentation (``seg_logits``): Dice of ``sigmoid(logit) > 0.5`` against the mask,
  pooled over every pixel of every crop (micro Dice; real crops have all-zero masks,
  so false positives on reals count against it);
* parity: cosine similarity between the int8 and fp32 logits of each head, over
  the whole split flattened to one vector (1.0 = identical direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfmask import metrics
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


def head_metrics(preds: Predictions, masks: np.ndarray, is_fake: np.ndarray) -> dict[str, float | None]:
    """AUC, log loss (cls head) and Dice (seg head) against the labels.

    ``masks`` is N×S×S (nonzero = manipulated). AUC is None when only one class is
    present (undefined), instead of a misleading number. The log loss is DFDC's, as in
    ``reports/eval`` (`dfmask.metrics.log_loss` clips p to [1e-15, 1 − 1e-15]); AUC
    ranks the unclipped p.
    """
    prob = sigmoid(preds.cls_logit)
    labels = is_fake.astype(int)
    return {
        "auc": metrics.none_if_nan(metrics.roc_auc(labels, prob)),
        "log_loss": metrics.log_loss(labels, prob),
        # pooled (micro) Dice over every pixel of every crop; logit > 0 ⇔ prob > 0.5
        "dice": metrics.dice(preds.seg_logits[:, 0] > 0.0, masks > 0),
    }


def parity(reference: Predictions, candidate: Predictions) -> dict[str, float]:
    """Cosine similarity and max |Δ logit| of ``candidate`` against ``reference``, per head."""
    return {
        "seg_cosine": metrics.cosine_similarity(reference.seg_logits, candidate.seg_logits),
        "cls_cosine": metrics.cosine_similarity(reference.cls_logit, candidate.cls_logit),
        "seg_max_abs_diff": float(np.max(np.abs(reference.seg_logits - candidate.seg_logits))),
        "cls_max_abs_diff": float(np.max(np.abs(reference.cls_logit - candidate.cls_logit))),
    }
