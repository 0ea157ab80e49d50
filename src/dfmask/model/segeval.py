"""Segmentation evaluation: predicted masks vs SSIM masks and true swap masks.

All comparisons happen at the stored crop resolution (``faces.size``): the predicted
probability map (model input size) is resized bilinearly to the crop and thresholded;
a true full-frame swap mask is cut through the crop's ``crop_box`` exactly as the faces
stage cut the crop (`dfmask.faces.crops.cut_window`, zero outside the frame) and
area-resized, a pixel being manipulated when at least half of it is.

Baseline: the **mean mask** (`mean_mask_baseline`, i.e. `dfmask.masks.scoring.fit_baseline`,
the one baseline of ``masks_quality`` too) — the average of the train split's non-empty
fake-crop masks, thresholded at the level that maximises the mean IoU against those same
train masks; evaluate reports its Dice (``baseline_dice``) next to the model's. Against
SSIM masks it is fitted on the train fakes' valid SSIM masks (`fit_mean_mask`); against
the true swap masks on the train fakes' non-empty true masks (`fit_true_mean_mask`). It
knows where swaps usually are and nothing about the crop; a model must beat it to show
that it localises.

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
from dfmask.masks.scoring import fit_baseline
from dfmask.model.crop_index import CropIndex
from dfmask.model.predict import Models, predict_images
from dfmask.tables import decode_png


def upsample_prob(prob: np.ndarray, size: int) -> np.ndarray:
    """Resize a probability map (S, S) to (size, size), bilinear, float32."""
    prob = np.asarray(prob, np.float32)
    if prob.shape[0] == size:
        return prob
    return cv2.resize(prob, (size, size), interpolation=cv2.INTER_LINEAR)


def mean_mask_baseline(masks: list[np.ndarray] | np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The mean-mask baseline of a stack of 0/1 masks (S, S) of one size: (the mean of
    the non-empty ones, float32 (S, S); its threshold), as `dfmask.masks.scoring.fit_baseline`
    fits it for ``masks_quality`` (grid 0.05 … 0.95, best mean IoU, lowest t on a tie),
    so that evaluate's ``baseline_dice`` and the mask QA report measure one baseline. No
    non-empty mask: an all-zero mean at ``size`` and threshold 0.5.
    """
    baseline = fit_baseline([np.asarray(m) > 0 for m in masks])
    if baseline is None:
        return np.zeros((size, size), np.float32), 0.5
    return baseline.mean_mask, baseline.threshold


def fit_mean_mask(index: CropIndex, rows: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The mean-mask baseline of the SSIM masks of ``rows`` (the train split's fakes with
    valid masks) at ``size`` (`mean_mask_baseline`)."""
    return mean_mask_baseline([index.mask(int(i), size) for i in rows], size)


def fit_true_mean_mask(
    index: CropIndex, rows: np.ndarray, gt: TrueMasks, size: int
) -> tuple[tuple[np.ndarray, float], int]:
    """The mean-mask baseline of the non-empty true masks of ``rows`` (the train split's
    fakes) at ``size``, and how many masks it averaged."""
    masks = []
    for i in rows:
        vid, frame = str(index.video_id[i]), int(index.frame_idx[i])
        if gt.has(vid, frame):
            mask = gt.crop_mask(vid, frame, index.crop_box[i], size)
            if mask.any():
                masks.append(mask)
    return mean_mask_baseline(masks, size), len(masks)


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


def per_crop_seg(
    pred_maps: np.ndarray,
    truths: list[np.ndarray | None],
    baseline: np.ndarray,
    baseline_threshold: float,
    mask_threshold: float,
) -> dict[str, np.ndarray]:
    """Per crop, for the breakdowns (`dfmask.model.breakdown.SplitArrays`): ``dice`` and
    ``baseline_dice`` vs a non-empty truth (NaN where the truth is empty or unknown:
    None), ``area`` (share of the crop's pixels predicted manipulated, at the truth's
    size, else the map's) and ``truth_empty``."""
    n = len(truths)
    out = {
        "dice": np.full(n, np.nan),
        "baseline_dice": np.full(n, np.nan),
        "area": np.zeros(n),
        "truth_empty": np.zeros(n, bool),
    }
    base_at: dict[int, np.ndarray] = {}
    for k, (prob, truth) in enumerate(zip(pred_maps, truths, strict=True)):
        size = truth.shape[0] if truth is not None else prob.shape[0]
        pred = upsample_prob(prob, size) >= mask_threshold
        out["area"][k] = float(pred.mean())
        if truth is None:
            continue
        true = truth > 0
        if not true.any():
            out["truth_empty"][k] = True
            continue
        if size not in base_at:
            base_at[size] = upsample_prob(baseline, size) >= baseline_threshold
        out["dice"][k] = metrics.dice(pred, true)
        out["baseline_dice"][k] = metrics.dice(base_at[size], true)
    return out


def true_mask_report(
    gt: TrueMasks,
    index: CropIndex,
    rows: np.ndarray,
    maps: np.ndarray,
    crop_size: int,
    baseline: tuple[np.ndarray, float],
    mask_threshold: float,
) -> tuple[dict[str, Any], dict[int, np.ndarray]]:
    """``seg_true`` (per swap kind too), ``seg_true_empty_fp`` and ``seg_true_all_crops``
    of the split's crops ``rows`` (predicted ``maps``) against the true masks, and the
    true crop mask of every fake crop the ground truth covers (position in ``rows`` →
    mask; see `dfmask.model.evaluate`)."""
    y = index.is_fake[rows]
    fakes = np.flatnonzero(y)
    with_gt = [int(k) for k in fakes if gt.has(str(index.video_id[rows[k]]), int(index.frame_idx[rows[k]]))]
    true = {
        k: gt.crop_mask(str(index.video_id[rows[k]]), int(index.frame_idx[rows[k]]), index.crop_box[rows[k]], crop_size)
        for k in with_gt
    }
    swapped = [k for k in with_gt if true[k].any()]
    empty = [k for k in with_gt if not true[k].any()]
    mean, t = baseline
    out: dict[str, Any] = {}
    out["seg_true"] = seg_vs_masks(maps[swapped], [true[k] for k in swapped], mean, t, mask_threshold)
    out["seg_true"]["fake_crops_without_ground_truth"] = len(fakes) - len(with_gt)
    # per swap kind: the mean mask fits full-face swaps well and mouth-only ones badly
    kinds = {k: gt.swap_kind.get(str(index.video_id[rows[k]]), "unknown") for k in swapped}
    for kind in sorted(set(kinds.values())):
        sel = [k for k in swapped if kinds[k] == kind]
        out["seg_true"][f"kind_{kind}"] = seg_vs_masks(maps[sel], [true[k] for k in sel], mean, t, mask_threshold)
    out["seg_true_empty_fp"] = false_positive_area(maps[empty], mask_threshold)
    # every crop of the split (reals and empty fakes have an all-zero truth; Dice is 1
    # only for an empty prediction): the mask must also say WHETHER a face is swapped
    zeros = np.zeros((crop_size, crop_size), np.uint8)
    everyone = [k for k in range(len(rows)) if not y[k]] + list(with_gt)
    out["seg_true_all_crops"] = seg_vs_masks(
        maps[everyone], [true.get(k, zeros) for k in everyone], mean, t, mask_threshold
    )
    return out, true


def false_positive_area(pred_maps: np.ndarray, mask_threshold: float) -> dict[str, Any]:
    """On real crops: mean share of pixels predicted manipulated, and share of crops > 1 %."""
    if not len(pred_maps):
        return {"n": 0, "mean_area": None, "crops_over_1pct": None}
    area = (np.asarray(pred_maps, np.float32) >= mask_threshold).mean(axis=(1, 2))
    return {"n": len(area), "mean_area": float(area.mean()), "crops_over_1pct": float((area > 0.01).mean())}


#: Video-level ground-truth columns used for breakdowns when the table has them
#: (`dfmask.model.breakdown`); older tables lack them.
VIDEO_ATTRIBUTES = ("method", "crf", "preset", "encode_differs")


class GroundTruthMasks:
    """Lazy lookup of true full-frame swap masks from the sample's ground-truth table."""

    def __init__(self, path: str | Path, video_ids: set[str]) -> None:
        from dfmask.schemas.ground_truth import read_ground_truth

        path = Path(path)
        self.path = path  # the table, for messages that name it
        if not path.exists():
            raise DfmaskError(
                f"{path}: no ground truth, but corpus.root lies inside the sample folder; "
                "generate the sample corpus (dvc repro sample) or point corpus.root at a real corpus"
            )
        import pyarrow.parquet as pq

        present = set(pq.read_schema(path).names)
        extra = [c for c in VIDEO_ATTRIBUTES if c in present]
        table = read_ground_truth(path, ["video_id", "frame_idx", "is_fake", "swap_kind", "mask", *extra])
        self.cells: dict[tuple[str, int], bytes | None] = {}
        self.swap_kind: dict[str, str] = {}
        #: video_id → the video-level columns of `VIDEO_ATTRIBUTES` the table has
        self.attributes: dict[str, dict[str, Any]] = {}
        cols = table.to_pydict()
        for k, (vid, frame, is_fake, kind, cell) in enumerate(
            zip(cols["video_id"], cols["frame_idx"], cols["is_fake"], cols["swap_kind"], cols["mask"], strict=True)
        ):
            if vid not in video_ids:
                continue
            self.swap_kind[vid] = kind
            if vid not in self.attributes:
                self.attributes[vid] = {"swap_kind": kind, **{c: cols[c][k] for c in extra}}
            if is_fake and (vid, frame) not in self.cells:
                self.cells[(vid, int(frame))] = cell["bytes"] if cell else None

    def has(self, video_id: str, frame_idx: int) -> bool:
        return (video_id, frame_idx) in self.cells

    def crop_mask(self, video_id: str, frame_idx: int, crop_box: np.ndarray, size: int) -> np.ndarray:
        cell = self.cells[(video_id, frame_idx)]
        if cell is None:
            return np.zeros((size, size), np.uint8)
        return mask_in_crop(decode_png(cell, grey=True), crop_box, size)


class CorpusTruthMasks:
    """True swap masks from a corpus's own mask videos (FaceForensics++'s ``masks/videos/``,
    a video's ``mask_path`` in the ingest table), with `GroundTruthMasks`' lookup.

    Each mask video is decoded once, for the frames that ``needed`` names for the fakes
    that use it (`dfmask.corpus.truemasks.corpus_masks`), and stored as PNG. With ``windows`` (the
    union of the crop windows each (video, frame) will be asked for, `crop_windows`) only
    that part of the frame is kept: a 1080p mask frame is ~2 MB raw and ~12 kB as a PNG
    (measured on an H.264 mask video decoded as here), ~128k of them for FaceForensics++'s
    fakes at one quality (~1.6 GB); a 704-px face window of that frame kept 4.8 kB of its
    12.3 kB.
    `crop_mask` gives the same bytes either way. Frame ``i`` of the mask video is taken as frame ``i``
    of the fake (FF++ writes them frame for frame); a mask video whose header declares
    another frame count than the fake's is not used. What cannot be scored is counted by
    reason in ``skipped`` (frames) with one example each, never dropped silently:
    ``mask_unreadable``, ``mask_frames_missing``, ``mask_length_mismatch``,
    ``mask_size_mismatch`` (the mask is not the video's frame as displayed,
    `dfmask.corpus.truemasks.mask_shape`). Every corpus swap is scored as a full swap
    (``swap_kind``; FF++'s NeuralTextures, a mouth-region method, ships Face2Face's face
    masks); the corpus's methods go to the breakdowns through the ingest table.
    """

    def __init__(
        self,
        corpus_root: str | Path,
        videos: list[dict[str, Any]],
        needed: Mapping[str, set[int]],
        windows: Mapping[tuple[str, int], tuple[int, int, int, int]] | None = None,
    ) -> None:
        from dfmask.corpus.truemasks import corpus_masks
        from dfmask.tables import encode_png

        # (video, frame) → (PNG of the kept part of the frame's mask, its left, its top)
        self.cells: dict[tuple[str, int], tuple[bytes, int, int]] = {}
        self.swap_kind: dict[str, str] = {}
        self.skipped: dict[str, int] = {}
        self.skipped_examples: dict[str, str] = {}
        for vid, f, seen, why, example in corpus_masks(corpus_root, videos, needed):
            if seen is None:
                self._skip(str(why), example, 1)
            else:
                part, x0, y0 = _kept(seen, None if windows is None else windows.get((vid, f)))
                self.cells[(vid, f)] = (encode_png(part.astype(np.uint8) * 255), x0, y0)
                self.swap_kind[vid] = "full"

    def _skip(self, reason: str, example: str, n: int) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n
        self.skipped_examples.setdefault(reason, example)

    def report(self) -> dict[str, Any]:
        return {
            "source": "corpus mask videos (mask_path)",
            "videos": len(self.swap_kind),  # fakes with at least one frame scored
            "frames": len(self.cells),
            "skipped_frames": dict(sorted(self.skipped.items())),
            "skipped_examples": dict(sorted(self.skipped_examples.items())),
        }

    def has(self, video_id: str, frame_idx: int) -> bool:
        return (video_id, frame_idx) in self.cells

    def crop_mask(self, video_id: str, frame_idx: int, crop_box: np.ndarray, size: int) -> np.ndarray:
        png, x0, y0 = self.cells[(video_id, frame_idx)]
        # the crop window as mask_in_crop rounds it, moved into the kept part's coordinates
        window = np.rint(np.asarray(crop_box, np.float64)) - np.array([x0, y0, x0, y0], np.float64)
        return mask_in_crop(decode_png(png, grey=True), window, size)


def crop_windows(index: CropIndex, rows: np.ndarray) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    """(video, frame) → the union of the ``rows``' crop windows there, rounded as
    `mask_in_crop` rounds them: the part of a frame's mask those crops can see."""
    out: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    for i in rows:
        key = (str(index.video_id[i]), int(index.frame_idx[i]))
        x0, y0, x1, y1 = (int(v) for v in np.rint(np.asarray(index.crop_box[i], np.float64)))
        if key in out:
            a0, b0, a1, b1 = out[key]
            x0, y0, x1, y1 = min(x0, a0), min(y0, b0), max(x1, a1), max(y1, b1)
        out[key] = (x0, y0, x1, y1)
    return out


def _kept(mask: np.ndarray, window: tuple[int, int, int, int] | None) -> tuple[np.ndarray, int, int]:
    """The part of a frame's ``mask`` inside ``window`` (clipped to the frame) and its
    top-left corner; the whole mask when ``window`` is None. Outside the frame a crop
    sees zeros either way, so nothing a crop inside ``window`` sees is lost."""
    if window is None:
        return mask, 0, 0
    h, w = mask.shape
    x0, y0 = min(max(window[0], 0), w), min(max(window[1], 0), h)
    x1, y1 = max(min(window[2], w), x0), max(min(window[3], h), y0)
    if x1 == x0 or y1 == y0:  # the window lies outside the frame: nothing to keep
        return np.zeros((1, 1), bool), 0, 0
    return mask[y0:y1, x0:x1], x0, y0


def original_rows(index: CropIndex) -> Mapping[tuple[str, int, int], int]:
    """(video_id, frame_idx, track_id) → row, for real crops (to find a fake's original)."""
    return {
        (str(index.video_id[i]), int(index.frame_idx[i]), int(index.track_id[i])): int(i)
        for i in np.flatnonzero(~index.is_fake)
    }


def counterfactual(
    model: Models,
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


#: Either source of true swap masks: the sample's ground truth or a corpus's mask videos.
TrueMasks = GroundTruthMasks | CorpusTruthMasks
