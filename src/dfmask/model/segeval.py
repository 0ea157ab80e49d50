"""Segmentation evaluation: predicted masks vs SSIM masks and true swap masks.

All comparisons happen at the stored crop resolution (``faces.size``): the predicted
probability map (model input size) is resized bilinearly to the crop and thresholded;
a true full-frame swap mask is cut through the crop's ``crop_box`` exactly as the faces
stage cut the crop (`dfmask.faces.crops.cut_window`, zero outside the frame) and
area-resized, a pixel being manipulated when at least half of it is.

Baseline: the **mean mask** — the average SSIM mask of the train split's valid fake
crops, thresholded at the level that maximises the mean Dice against those same train
masks. It knows where swaps usually are and nothing about the crop; a model must beat
it to show that it localises.

Counterfactual: paste the original's pixels back into a fake crop inside its true mask
(crops of a fake and its original are pixel-aligned) and re-score it. If the classifier
looks at the manipulated region, p(FAKE) drops.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask import metrics
from dfmask.errors import DfmaskError
from dfmask.faces.crops import mask_in_crop
from dfmask.model.crop_index import CropIndex
from dfmask.model.predict import predict_images
from dfmask.model.uynet import UYNet
from dfmask.tables import decode_png


def upsample_prob(prob: np.ndarray, size: int) -> np.ndarray:
    """Resize a probability map (S, S) to (size, size), bilinear, float32."""
    prob = np.asarray(prob, np.float32)
    if prob.shape[0] == size:
        return prob
    return cv2.resize(prob, (size, size), interpolation=cv2.INTER_LINEAR)


def fit_mean_mask(index: CropIndex, rows: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The mean-mask baseline: (mean SSIM mask of ``rows`` at ``size``, fitted threshold).

    ``rows`` should be the train split's fakes with valid masks. The threshold is the
    grid level in (0, 1) with the best mean Dice against the same masks.
    """
    if not len(rows):
        return np.zeros((size, size), np.float32), 0.5
    masks = np.stack([index.mask(int(i), size) for i in rows]).astype(np.float32)
    mean = masks.mean(axis=0)
    best_t, best_dice = 0.5, -1.0
    for t in np.round(np.arange(0.05, 1.0, 0.05), 2):
        pred = mean >= t
        score = float(np.mean([metrics.dice(pred, m) for m in masks]))
        if score > best_dice:
            best_t, best_dice = float(t), score
    return mean, best_t


def mask_scores(pred: list[np.ndarray], true: list[np.ndarray]) -> dict[str, Any]:
    """Mean Dice and IoU over pairs of boolean masks (None when there are none)."""
    return {
        "n": len(true),
        "dice": metrics.mean_or_none([metrics.dice(p, t) for p, t in zip(pred, true, strict=True)]),
        "iou": metrics.mean_or_none([metrics.iou(p, t) for p, t in zip(pred, true, strict=True)]),
    }


def seg_vs_masks(
    pred_maps: np.ndarray,
    true_masks: list[np.ndarray],
    baseline: np.ndarray,
    baseline_threshold: float,
    mask_threshold: float,
) -> dict[str, Any]:
    """Model and mean-mask baseline Dice/IoU against ``true_masks`` (crop resolution)."""
    preds, base = [], []
    for prob, true in zip(pred_maps, true_masks, strict=True):
        size = true.shape[0]
        preds.append(upsample_prob(prob, size) >= mask_threshold)
        base.append(upsample_prob(baseline, size) >= baseline_threshold)
    truth = [t > 0 for t in true_masks]
    model, mean_mask = mask_scores(preds, truth), mask_scores(base, truth)
    out = {
        "n": model["n"],
        "dice": model["dice"],
        "iou": model["iou"],
        "baseline_dice": mean_mask["dice"],
        "baseline_iou": mean_mask["iou"],
    }
    if model["dice"] is not None and mean_mask["dice"] is not None:
        out["dice_gain"] = model["dice"] - mean_mask["dice"]
    return out


def false_positive_area(pred_maps: np.ndarray, mask_threshold: float) -> dict[str, Any]:
    """On real crops: mean share of pixels predicted manipulated, and share of crops > 1 %."""
    if not len(pred_maps):
        return {"n": 0, "mean_area": None, "crops_over_1pct": None}
    area = (np.asarray(pred_maps, np.float32) >= mask_threshold).mean(axis=(1, 2))
    return {"n": len(area), "mean_area": float(area.mean()), "crops_over_1pct": float((area > 0.01).mean())}


class GroundTruthMasks:
    """Lazy lookup of true full-frame swap masks from the sample's ground-truth table."""

    def __init__(self, path: str | Path, video_ids: set[str]) -> None:
        from dfmask.schemas.ground_truth import read_ground_truth

        path = Path(path)
        if not path.exists():
            raise DfmaskError(
                f"{path}: no ground truth, but corpus.root lies inside the sample folder; "
                "generate the sample corpus (dvc repro sample) or point corpus.root at a real corpus"
            )
        table = read_ground_truth(path, ["video_id", "frame_idx", "is_fake", "swap_kind", "mask"])
        self.cells: dict[tuple[str, int], bytes | None] = {}
        self.swap_kind: dict[str, str] = {}
        cols = table.to_pydict()
        for vid, frame, is_fake, kind, cell in zip(
            cols["video_id"], cols["frame_idx"], cols["is_fake"], cols["swap_kind"], cols["mask"], strict=True
        ):
            if vid not in video_ids:
                continue
            self.swap_kind[vid] = kind
            if is_fake and (vid, frame) not in self.cells:
                self.cells[(vid, int(frame))] = cell["bytes"] if cell else None

    def has(self, video_id: str, frame_idx: int) -> bool:
        return (video_id, frame_idx) in self.cells

    def crop_mask(self, video_id: str, frame_idx: int, crop_box: np.ndarray, size: int) -> np.ndarray:
        cell = self.cells[(video_id, frame_idx)]
        if cell is None:
            return np.zeros((size, size), np.uint8)
        return mask_in_crop(decode_png(cell, grey=True), crop_box, size)


def original_rows(index: CropIndex) -> Mapping[tuple[str, int, int], int]:
    """(video_id, frame_idx, track_id) → row, for real crops (to find a fake's original)."""
    return {
        (str(index.video_id[i]), int(index.frame_idx[i]), int(index.track_id[i])): int(i)
        for i in np.flatnonzero(~index.is_fake)
    }


def counterfactual(
    model: UYNet,
    index: CropIndex,
    rows: np.ndarray,
    true_masks: list[np.ndarray],
    p_fake: np.ndarray,
    input_size: int,
    threshold: float,
    batch_size: int,
) -> dict[str, Any]:
    """Re-score fake crops with the original's pixels pasted back inside the true mask.

    Only crops with a non-empty true mask and an original crop at the same frame and
    track are used. Reports mean p(FAKE) before/after, the mean and median drop, and the
    share of crops called FAKE before that are called REAL after.
    """
    originals = original_rows(index)
    edited, before, skipped = [], [], {"empty_mask": 0, "no_original_crop": 0}
    for k, i in enumerate(rows):
        mask = true_masks[k] > 0
        if not mask.any():
            skipped["empty_mask"] += 1
            continue
        key = (str(index.original_id[i]), int(index.frame_idx[i]), int(index.track_id[i]))
        if key not in originals:
            skipped["no_original_crop"] += 1
            continue
        fake, real = index.crop(int(i)), index.crop(originals[key])
        edited.append(np.where(mask[..., None], real, fake))
        before.append(p_fake[k])
    if not edited:
        return {"n": 0, "skipped": skipped}
    after, _ = predict_images(model, edited, input_size, batch_size)
    b = np.asarray(before)
    drop = b - after
    called_fake = b >= threshold
    return {
        "n": len(b),
        "skipped": skipped,
        "p_fake_before": float(b.mean()),
        "p_fake_after": float(after.mean()),
        "drop_mean": float(drop.mean()),
        "drop_median": float(np.median(drop)),
        "flipped_to_real": float(np.mean(after[called_fake] < threshold)) if called_fake.any() else None,
    }
