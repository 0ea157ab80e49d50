"""Static figures of the evaluate stage (matplotlib, Agg backend, deterministic PNGs).

* ``overlays.png``: one row per test crop — the crop, its reference mask (true swap mask
  where ground truth exists, else the SSIM mask; all zero for reals), the predicted
  mask probability, and the crop with the predicted mask outlined; the title gives the
  label and p(FAKE).
* ``reliability.png``: fraction of fakes vs mean predicted probability per bin, with the
  diagonal (perfect calibration) and the bin counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dfmask import metrics

_META = {"Software": None, "Creation Time": None}  # no timestamps / versions in PNGs


def overlays(
    path: Path,
    crops: Sequence[np.ndarray],
    ref_masks: Sequence[np.ndarray],
    pred_maps: Sequence[np.ndarray],
    labels: Sequence[str],
    probs: Sequence[float],
    mask_threshold: float,
) -> Path:
    """Write the overlays figure (see module docstring)."""
    n = len(crops)
    fig, axes = plt.subplots(max(n, 1), 4, figsize=(8, 2.1 * max(n, 1)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (crop, ref, pred, label, p) in enumerate(zip(crops, ref_masks, pred_maps, labels, probs, strict=True)):
        size = crop.shape[0]
        prob = cv2.resize(np.asarray(pred, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
        outline = crop.copy()
        contours, _ = cv2.findContours(
            (prob >= mask_threshold).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(outline, contours, -1, (255, 0, 0), 1)
        axes[r, 0].imshow(crop)
        axes[r, 0].set_title(f"{label}  p(fake)={p:.2f}", fontsize=8)
        axes[r, 1].imshow(ref > 0, cmap="gray", vmin=0, vmax=1)
        axes[r, 1].set_title("reference mask", fontsize=8)
        axes[r, 2].imshow(prob, cmap="magma", vmin=0, vmax=1)
        axes[r, 2].set_title("predicted prob", fontsize=8)
        axes[r, 3].imshow(outline)
        axes[r, 3].set_title(f"pred >= {mask_threshold}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata=_META)
    plt.close(fig)
    return path


def reliability(path: Path, y_true: np.ndarray, p: np.ndarray, n_bins: int, title: str) -> Path:
    """Write a reliability diagram with the ECE in the title."""
    bins = metrics.reliability_bins(y_true, p, n_bins)
    ece = metrics.expected_calibration_error(y_true, p, n_bins)
    nz = bins["count"] > 0
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot(bins["mean_p"][nz], bins["frac_pos"][nz], "o-")
    for x, y, c in zip(bins["mean_p"][nz], bins["frac_pos"][nz], bins["count"][nz], strict=True):
        ax.annotate(str(int(c)), (x, y), fontsize=7, xytext=(3, -8), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted p(fake)")
    ax.set_ylabel("fraction fake")
    ax.set_title(f"{title}  ECE={ece:.3f}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata=_META)
    plt.close(fig)
    return path
