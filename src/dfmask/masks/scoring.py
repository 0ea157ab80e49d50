"""Mask scores per method, CRF band and case, each next to one method-agnostic baseline.

Plain functions on arrays: `dfmask.masks.quality` loads the crops and writes the report.

* **Crop scores.** IoU and Dice (`dfmask.metrics`) of the stored mask against the true
  mask in the crop, on crops whose true mask is non-empty ("swapped" crops), whatever
  their valid flag (an invalid swapped crop is a miss, counted in ``valid_swapped``).
  Crops with an empty true mask (failed / no-change fakes, the unswapped face of a
  two-face video) score their mask area (share of crop pixels) and ``invalid``.
* **Baseline.** ONE method-agnostic predictor: the mean of the true masks of the
  non-empty *train*-split fake crops, thresholded at the level (grid 0.05…0.95) with the
  best mean IoU on those same train crops, then applied unchanged to val and test. It
  is a constant mask: always "valid", same area on every crop.
* **Cells.** Scores are reported on the test split. A cell is a set of crops (a method,
  a band, a case); it is ``pooled_enough`` when it holds at least `MIN_TEST_VIDEOS`
  test videos. Methods are pooled over all bands (``by_method``), bands over all
  methods (``by_band``); the method × band grid is reported for reading, and only
  pooled cells with enough videos decide a target (else the target reads
  ``insufficient``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dfmask import metrics
from dfmask.corpus.groundtruth import crf_band

#: Per-crop cases: a one-face full or mouth swap, the swapped / unswapped face of a video
#: where one of two faces is swapped, and fakes whose pixels do not change.
CASES = ("full", "mouth", "two_faces_swapped", "two_faces_unswapped", "failed_or_no_change")
#: A cell decides a target only with at least this many test videos (issue 16).
MIN_TEST_VIDEOS = 8
#: Baseline thresholds tried on train.
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 1.0, 0.05))


def band_of(crf: int | None) -> str:
    """The report band of a CRF: the sample's `dfmask.corpus.groundtruth.crf_band`
    (``"18-22"`` …, ``"other"`` outside them), ``"unknown"`` for None."""
    return "unknown" if crf is None else crf_band(crf)


@dataclass(frozen=True)
class CropScore:
    """One fake crop's figures (IoU/Dice None where the true mask is empty)."""

    video_id: str
    method: str
    band: str
    case: str
    split: str
    swapped: bool  # the true mask has a pixel in the crop
    valid: bool
    area: float  # share of crop pixels in our mask
    iou: float | None
    dice: float | None
    baseline_iou: float | None
    baseline_dice: float | None


@dataclass(frozen=True)
class Baseline:
    """The mean true mask of the train split's non-empty fake crops and its threshold."""

    mean_mask: np.ndarray  # (S, S) float32 in [0, 1]
    threshold: float
    train_crops: int
    train_mean_iou: float

    def predict(self, size: int) -> np.ndarray:
        pred: np.ndarray = (self.mean_mask >= self.threshold).astype(np.uint8)
        if pred.shape[0] != size:
            pred = cv2.resize(pred, (size, size), interpolation=cv2.INTER_NEAREST)
        return pred

    def describe(self) -> dict[str, Any]:
        return {
            "what": "mean true mask of the non-empty train-split fake crops, thresholded",
            "threshold": self.threshold,
            "threshold_chosen_on": "train (best mean IoU on the same train crops)",
            "train_crops": self.train_crops,
            "train_mean_iou": self.train_mean_iou,
            "area": float(self.predict(self.mean_mask.shape[0]).mean()),
        }


def _resized(mask: np.ndarray, size: int) -> np.ndarray:
    return mask if mask.shape[0] == size else cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def fit_baseline(train_truths: Sequence[np.ndarray]) -> Baseline | None:
    """The baseline from the train split's non-empty true crop masks (None without any)."""
    truths = [t for t in train_truths if t.any()]
    if not truths:
        return None
    size = truths[0].shape[0]
    stack = np.stack([_resized(t, size) for t in truths]).astype(bool)
    mean_mask = stack.mean(axis=0, dtype=np.float64).astype(np.float32)
    best: tuple[float, float] | None = None
    for threshold in THRESHOLDS:
        pred = mean_mask >= threshold
        inter = (stack & pred).sum(axis=(1, 2))
        union = (stack | pred).sum(axis=(1, 2))
        score = float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))
        if best is None or score > best[1]:
            best = (threshold, score)
    assert best is not None
    return Baseline(mean_mask, best[0], len(truths), best[1])


def score_crop(truth: np.ndarray, mask: np.ndarray, valid: bool, baseline: Baseline | None, **meta: Any) -> CropScore:
    """Ours and the baseline's figures on one crop (``meta``: video_id, method, band, case, split)."""
    swapped = bool(truth.any())
    base = baseline.predict(truth.shape[0]) if baseline is not None else None
    return CropScore(
        swapped=swapped,
        valid=bool(valid),
        area=float(np.count_nonzero(mask)) / mask.size,
        iou=metrics.iou(mask, truth) if swapped else None,
        dice=metrics.dice(mask, truth) if swapped else None,
        baseline_iou=metrics.iou(base, truth) if swapped and base is not None else None,
        baseline_dice=metrics.dice(base, truth) if swapped and base is not None else None,
        **meta,
    )


def cell(scores: Sequence[CropScore]) -> dict[str, Any]:
    """A cell's figures: videos, crops, mean IoU/Dice (ours and baseline) over swapped
    crops, valid share of swapped crops, invalid share and mean area of unswapped ones."""
    swapped = [s for s in scores if s.swapped]
    unswapped = [s for s in scores if not s.swapped]
    videos = len({s.video_id for s in scores})
    mean = metrics.mean_or_none
    return {
        "videos": videos,
        "crops": len(scores),
        "pooled_enough": videos >= MIN_TEST_VIDEOS,
        "swapped_crops": len(swapped),
        "mean_iou": mean([s.iou for s in swapped if s.iou is not None]),
        "mean_dice": mean([s.dice for s in swapped if s.dice is not None]),
        "baseline_mean_iou": mean([s.baseline_iou for s in swapped if s.baseline_iou is not None]),
        "baseline_mean_dice": mean([s.baseline_dice for s in swapped if s.baseline_dice is not None]),
        "valid_swapped": mean([float(s.valid) for s in swapped]),
        "unswapped_crops": len(unswapped),
        "invalid_unswapped": mean([float(not s.valid) for s in unswapped]),
        "mean_area_unswapped": mean([s.area for s in unswapped]),
    }


def cells(scores: Sequence[CropScore], key: str) -> dict[str, dict[str, Any]]:
    """`cell` per value of the attribute ``key`` (method, band or case), sorted by name."""
    values = sorted({getattr(s, key) for s in scores})
    return {v: cell([s for s in scores if getattr(s, key) == v]) for v in values}


def _check(name: str, target: str, figures: dict[str, Any], ok: bool | None) -> dict[str, Any]:
    status = "insufficient" if ok is None else ("pass" if ok else "fail")
    return {"name": name, "target": target, **figures, "status": status}


def _ge(a: float | None, b: float | None, margin: float = 0.0) -> bool | None:
    return None if a is None or b is None else a >= b + margin


def targets(
    by_method: dict[str, dict[str, Any]],
    by_band: dict[str, dict[str, Any]],
    by_case: dict[str, dict[str, Any]],
    codec_area: float | None,
) -> list[dict[str, Any]]:
    """Issue 16's targets on the test cells, each ``pass``, ``fail`` or ``insufficient``
    (a cell under `MIN_TEST_VIDEOS` test videos, or no such crops)."""
    out = []
    for group, table in (("method", by_method), ("band", by_band)):
        for name, c in table.items():
            if not c["swapped_crops"]:
                continue
            ok = _ge(c["mean_iou"], c["baseline_mean_iou"], -0.01) if c["pooled_enough"] else None
            out.append(
                _check(
                    f"{group} {name}: IoU >= baseline - 0.01",
                    "ours >= baseline - 0.01",
                    {"ours": c["mean_iou"], "baseline": c["baseline_mean_iou"], "videos": c["videos"]},
                    ok,
                )
            )
            ok = (c["valid_swapped"] >= 0.98) if c["pooled_enough"] else None
            out.append(_check(f"{group} {name}: valid swapped crops", ">= 0.98", {"figure": c["valid_swapped"]}, ok))
            if c["unswapped_crops"]:
                ok = (c["invalid_unswapped"] >= 0.98) if c["pooled_enough"] else None
                out.append(
                    _check(
                        f"{group} {name}: invalid unswapped crops", ">= 0.98", {"figure": c["invalid_unswapped"]}, ok
                    )
                )
    with_truth = [c for c in by_method.values() if c["mean_iou"] is not None and c["baseline_mean_iou"] is not None]
    ours = metrics.mean_or_none([c["mean_iou"] for c in with_truth])
    base = metrics.mean_or_none([c["baseline_mean_iou"] for c in with_truth])
    enough = bool(with_truth) and all(c["pooled_enough"] for c in with_truth)
    out.append(
        _check(
            "overall: mean over methods with non-empty truth",
            "ours >= baseline + 0.03",
            {"ours": ours, "baseline": base},
            _ge(ours, base, 0.03) if enough else None,
        )
    )
    # a case without test crops is reported as such, not left out
    absent = {"videos": 0, "crops": 0, "pooled_enough": False, "mean_iou": None, "baseline_mean_iou": None}
    absent |= {"mean_area_unswapped": None, "invalid_unswapped": None}
    by_case = {c: by_case.get(c, absent) for c in ("mouth", "two_faces_swapped", "two_faces_unswapped")} | by_case
    mouth = by_case.get("mouth")
    if mouth is not None:
        enough = mouth["pooled_enough"]
        out.append(
            _check(
                "mouth: IoU",
                ">= 0.60 and >= baseline + 0.20",
                {"ours": mouth["mean_iou"], "baseline": mouth["baseline_mean_iou"], "videos": mouth["videos"]},
                (bool(_ge(mouth["mean_iou"], 0.60)) and bool(_ge(mouth["mean_iou"], mouth["baseline_mean_iou"], 0.20)))
                if enough
                else None,
            )
        )
    swapped, unswapped = by_case.get("two_faces_swapped"), by_case.get("two_faces_unswapped")
    if swapped is not None:
        out.append(
            _check(
                "two faces: swapped face IoU",
                ">= baseline",
                {"ours": swapped["mean_iou"], "baseline": swapped["baseline_mean_iou"], "videos": swapped["videos"]},
                _ge(swapped["mean_iou"], swapped["baseline_mean_iou"]) if swapped["pooled_enough"] else None,
            )
        )
    if unswapped is not None:
        area, invalid = unswapped["mean_area_unswapped"], unswapped["invalid_unswapped"]
        out.append(
            _check(
                "two faces: unswapped face",
                "mean area <= 0.01 and >= 0.98 of crops invalid",
                {"area": area, "invalid": invalid, "videos": unswapped["videos"]},
                (area is not None and area <= 0.01 and invalid is not None and invalid >= 0.98)
                if unswapped["pooled_enough"]
                else None,
            )
        )
    out.append(
        _check(
            "codec-noise pairs: mean mask area",
            "<= 0.01",
            {"figure": codec_area},
            None if codec_area is None else codec_area <= 0.01,
        )
    )
    return out
