"""Static figures of the evaluate stage (matplotlib, Agg backend, deterministic PNGs).

* ``overlays.png``: one row per test crop — the crop, its reference mask (the true swap
  mask where ground truth exists, else the SSIM mask: the column title and the figure's
  title say which; all zero for reals), the predicted mask probability, and the crop
  with the predicted mask outlined; the row title gives the label, the method (ground
  truth's ``method`` or ``swap_kind``) and p(FAKE). Rows are picked per method, real
  crops included (`pick_overlays`).
* ``reliability.png``: fraction of fakes vs mean predicted probability per equal-width
  bin for each curve (test videos raw and calibrated, test frames), with the diagonal
  (perfect calibration), each curve's ECE in the legend and the bin counts.
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


def pick_overlays(rows: np.ndarray, groups: Sequence[str], is_fake: np.ndarray, count: int) -> list[int]:
    """Deterministic pick of ``count`` rows spread over the groups (one method each; the
    real crops one group): the quota goes round the groups (fake methods in name order,
    then the reals) one crop at a time until ``count`` or every crop is taken, then each
    group's crops are taken evenly spaced in row order. Returned fakes first (by method),
    then reals."""
    members: dict[tuple[bool, str], list[int]] = {}
    for r, g, fake in zip(rows, groups, is_fake, strict=True):
        members.setdefault((not bool(fake), str(g)), []).append(int(r))
    order = sorted(members)
    quota = dict.fromkeys(order, 0)
    while sum(quota.values()) < min(count, len(rows)):
        for key in order:
            if quota[key] < len(members[key]) and sum(quota.values()) < count:
                quota[key] += 1
    picks: list[int] = []
    for key in order:
        if quota[key]:
            chosen = np.linspace(0, len(members[key]) - 1, quota[key])
            picks += [members[key][round(float(k))] for k in chosen]
    return picks


def overlays(
    path: Path,
    crops: Sequence[np.ndarray],
    ref_masks: Sequence[np.ndarray],
    pred_maps: Sequence[np.ndarray],
    labels: Sequence[str],
    probs: Sequence[float],
    mask_threshold: float,
    reference: str = "SSIM",
) -> Path:
    """Write the overlays figure (see module docstring); ``reference`` names the reference
    masks shown ("true" swap masks of the ground truth, or "SSIM" masks)."""
    n = len(crops)
    fig, axes = plt.subplots(max(n, 1), 4, figsize=(8, 2.1 * max(n, 1) + 0.4), squeeze=False)
    fig.suptitle(f"reference = {reference} masks", fontsize=9)
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
        axes[r, 1].set_title(f"{reference} mask", fontsize=8)
        axes[r, 2].imshow(prob, cmap="magma", vmin=0, vmax=1)
        axes[r, 2].set_title("predicted prob", fontsize=8)
        axes[r, 3].imshow(outline)
        axes[r, 3].set_title(f"pred >= {mask_threshold}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata=_META)
    plt.close(fig)
    return path


def reliability(path: Path, curves: Sequence[tuple[str, np.ndarray, np.ndarray]], n_bins: int, title: str) -> Path:
    """Write a reliability diagram of ``curves`` (label, y_true, p; a line style each),
    each curve's equal-width ECE in the legend, with the diagonal."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    styles = ("o-", "s--", "^:", "d-.")
    for k, (label, y_true, p) in enumerate(curves):
        if not len(y_true):
            continue
        bins = metrics.reliability_bins(y_true, p, n_bins)
        ece = metrics.expected_calibration_error(y_true, p, n_bins)
        nz = bins["count"] > 0
        ax.plot(
            bins["mean_p"][nz],
            bins["frac_pos"][nz],
            styles[k % len(styles)],
            ms=4,
            lw=1.2,
            label=f"{label} (ECE {ece:.3f})",
        )
        for x, y, c in zip(bins["mean_p"][nz], bins["frac_pos"][nz], bins["count"][nz], strict=True):
            ax.annotate(str(int(c)), (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted p(fake)")
    ax.set_ylabel("fraction fake")
    ax.legend(fontsize=6, loc="upper left")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata=_META)
    plt.close(fig)
    return path


def log_sklearn_plots(
    out_dir: Path,
    split: str,
    videos: tuple[np.ndarray, np.ndarray, np.ndarray],
    frames: tuple[np.ndarray, np.ndarray],
    threshold: float,
    n_bins: int,
) -> None:
    """DVCLive plots under ``out_dir/plots/sklearn/<split>/``: ROC and PR of the videos
    (``videos`` = (y, raw p, calibrated p); raw p), their confusion at ``threshold`` on
    the calibrated p (the val-chosen operating point), ROC and calibration curve of the
    frames (``frames`` = (y, p))."""
    from dvclive import Live

    with Live(dir=str(out_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        vy, vp, vcal = videos[0].astype(int), videos[1], videos[2]
        if len(np.unique(vy)) == 2:
            live.log_sklearn_plot("roc", vy, vp, name=f"{split}/roc_video.json", drop_intermediate=False)
            live.log_sklearn_plot("precision_recall", vy, vp, name=f"{split}/pr_video.json")
        if len(vy):
            labels = np.where(vy == 1, "fake", "real")
            predicted = np.where(vcal >= threshold, "fake", "real")
            live.log_sklearn_plot(
                "confusion_matrix", labels.tolist(), predicted.tolist(), name=f"{split}/confusion_video.json"
            )
        fy, fp = frames[0].astype(int), frames[1]
        if len(np.unique(fy)) == 2:
            live.log_sklearn_plot("roc", fy, fp, name=f"{split}/roc_frame.json", drop_intermediate=True)
            live.log_sklearn_plot("calibration", fy, fp, name=f"{split}/calibration_frame.json", n_bins=n_bins)
