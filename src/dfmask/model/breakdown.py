"""Per-method and per-quality breakdowns of the evaluation (``reports/eval/breakdown.json``).

One overall AUC hides what a detector cannot see: a method it never catches, or a
compression level that erases its cue. Where the ground truth says per video which
manipulation ``method`` made a fake and at which ``crf`` it was encoded (the generated
sample; `dfmask.model.segeval.VIDEO_ATTRIBUTES`), the evaluate stage splits its figures
by both. A table without ``method`` falls back to ``swap_kind`` (none | full | mouth |
failed); without ``crf`` there is no quality breakdown. A corpus whose videos table names
methods and qualities (FaceForensics++, Celeb-DF, ..., `corpus_attributes`) is broken
down by those (its ``quality``, e.g. ``c23``, in place of a CRF band; its seg figures have
no true masks). A corpus with neither (DFDC) has no breakdown (the report says so).

Groups (each with its counts; figures of a group without both classes are null):

* ``by_method.<m>`` for each fake method: the fakes of that method **against every real
  video of the split** (an AUC needs both classes); ``by_method.none``: the real videos
  alone (their accuracy is 1 − the false-positive rate).
* ``by_crf_band.<band>``: every video, real or fake, whose CRF lies in the band
  (`dfmask.corpus.groundtruth.CRF_BANDS`; ``other`` outside them).
* ``by_source.<name>`` (a mixed run, ``corpus.kind: mixed``): every video, real or fake,
  of one ``corpus.sources`` entry: the cross-corpus table (train on one source, test on
  another: ``split.holdout_sources``), side by side with the in-corpus figures.

Per group: ``videos`` and ``frames`` (raw probabilities: AUC with its Hanley–McNeil
standard error, log loss in nats, accuracy at 0.5, equal-mass ECE), ``videos_calibrated``
(the val-fitted calibration: log loss, Brier, ECE, and the false/true-positive rates at
the val-chosen threshold) and ``seg`` over the group's own crops (a method group: its fake
crops; ``none``: the real crops): Dice vs the true mask next to the mean-mask baseline on
crops whose truth is non-empty, and the predicted area on crops whose truth is empty
(real crops; fakes whose swap left nothing, e.g. ``no_change``).

This is a plain JSON report, not a DVC metric: ``dvc exp show`` stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dfmask import metrics
from dfmask.corpus.groundtruth import crf_band
from dfmask.model import calibration as cal

REAL_METHOD = "none"


def video_band(crf: int | None) -> str | None:
    """The CRF band of one video (`dfmask.corpus.groundtruth.crf_band`: ``"18-22"`` …
    ``"30-32"``, ``"other"`` outside them), None when its CRF is unknown."""
    return None if crf is None else crf_band(int(crf))


def video_method(attributes: Mapping[str, Any] | None, is_fake: bool) -> str | None:
    """The method of one video: the table's ``method`` if it has one, else its
    ``swap_kind``; ``none`` for a real video; None without ground truth."""
    if attributes is None:
        return None
    if not is_fake:
        return REAL_METHOD
    method = attributes.get("method")
    return str(method if method is not None else attributes.get("swap_kind", "unknown"))


def _band(attributes: Mapping[str, Any]) -> str | None:
    """A video's quality group: its CRF band (the sample), else its corpus quality (FF++
    ``c23``), else None."""
    band = video_band(attributes.get("crf"))
    return band if band is not None else attributes.get("quality")


def corpus_attributes(table: Any, sources: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]] | None:
    """video_id → ``{"method", "quality"}`` (and ``"source"`` from ``sources``, a mixed
    run's `dfmask.schemas.videos.read_sources`) from a videos table with the adapter
    columns (`dfmask.schemas.videos.read_corpus_videos`), for `split_breakdown`; None when
    the table is None or names no method, no quality and no source (nothing to break down by)."""
    if table is None:
        return None
    rows = table.select(["video_id", "method", "quality"]).to_pylist()
    if not sources and not any(r["method"] or r["quality"] for r in rows):
        return None
    out = {str(r["video_id"]): {"method": r["method"], "quality": r["quality"]} for r in rows}
    for video_id, name in (sources or {}).items():
        out.setdefault(str(video_id), {"method": None, "quality": None})["source"] = name
    return out


@dataclass
class SplitArrays:
    """What a breakdown needs of one split, as parallel arrays.

    Videos: ``video_ids``, ``video_y`` (bool), ``video_p`` (raw score), ``video_cal``
    (calibrated). Crops: ``crop_video`` (video id per crop), ``frame_y``, ``frame_p``, and
    per crop ``seg_dice`` / ``seg_baseline_dice`` (NaN unless the true mask is non-empty),
    ``seg_area`` (share of the crop predicted manipulated) and ``truth_empty`` (the crop's
    truth is known and empty: reals and empty fakes).
    """

    video_ids: Sequence[str]
    video_y: np.ndarray
    video_p: np.ndarray
    video_cal: np.ndarray
    crop_video: Sequence[str]
    frame_y: np.ndarray
    frame_p: np.ndarray
    seg_dice: np.ndarray
    seg_baseline_dice: np.ndarray
    seg_area: np.ndarray
    truth_empty: np.ndarray


def classification_group(y: np.ndarray, p: np.ndarray, n_bins: int) -> dict[str, Any]:
    """Counts, AUC ± Hanley–McNeil SE, log loss, accuracy at 0.5, equal-mass ECE."""
    y = np.asarray(y, bool)
    auc = metrics.none_if_nan(metrics.roc_auc(y, p))
    n_fake, n_real = int(y.sum()), int((~y).sum())
    return {
        "n": len(y),
        "n_fake": n_fake,
        "n_real": n_real,
        "auc": auc,
        "auc_se": metrics.auc_standard_error(auc, n_fake, n_real),
        "log_loss": metrics.none_if_nan(metrics.log_loss(y, p)),
        "accuracy": float(np.mean((np.asarray(p) >= 0.5) == y)) if len(y) else None,
        "ece_equal_mass": metrics.none_if_nan(metrics.equal_mass_ece(y, p, n_bins)),
    }


def calibrated_group(y: np.ndarray, p_cal: np.ndarray, threshold: float, n_bins: int) -> dict[str, Any]:
    """Log loss, Brier, equal-mass ECE of calibrated p and the rates at ``threshold``."""
    rates = cal.rates_at(y, p_cal, threshold)
    return {
        "log_loss": metrics.none_if_nan(metrics.log_loss(y, p_cal)),
        "brier": metrics.none_if_nan(metrics.brier_score(y, p_cal)),
        "ece_equal_mass": metrics.none_if_nan(metrics.equal_mass_ece(y, p_cal, n_bins)),
        "false_positive_rate": rates["false_positive_rate"],
        "true_positive_rate": rates["true_positive_rate"],
    }


def seg_group(a: SplitArrays, crops: np.ndarray) -> dict[str, Any]:
    """Seg figures over the selected crops (boolean mask over the split's crops)."""
    swapped = crops & ~np.isnan(a.seg_dice)
    real = crops & a.truth_empty & ~a.frame_y
    empty_fake = crops & a.truth_empty & a.frame_y
    dice = metrics.mean_or_none(a.seg_dice[swapped])
    base = metrics.mean_or_none(a.seg_baseline_dice[swapped])
    return {
        "n_swapped_crops": int(swapped.sum()),
        "dice": dice,
        "baseline_dice": base,
        "dice_gain": None if dice is None or base is None else dice - base,
        "n_real_crops": int(real.sum()),
        "fp_area_real": metrics.mean_or_none(a.seg_area[real]),
        "real_crops_over_1pct": metrics.mean_or_none((a.seg_area[real] > 0.01).astype(float)),
        "n_empty_fake_crops": int(empty_fake.sum()),
        "fp_area_empty_fake": metrics.mean_or_none(a.seg_area[empty_fake]),
    }


def _group(a: SplitArrays, videos: np.ndarray, crops: np.ndarray, threshold: float, n_bins: int) -> dict[str, Any]:
    return {
        "videos": classification_group(a.video_y[videos], a.video_p[videos], n_bins),
        "videos_calibrated": calibrated_group(a.video_y[videos], a.video_cal[videos], threshold, n_bins),
        "frames": classification_group(a.frame_y[crops], a.frame_p[crops], n_bins),
    }


def split_breakdown(
    a: SplitArrays, attributes: Mapping[str, Mapping[str, Any]] | None, threshold: float, n_bins: int
) -> dict[str, Any]:
    """``by_method``, ``by_crf_band`` and (a mixed run) ``by_source`` of one split (see
    module docstring)."""
    if attributes is None:
        return {"by_method": None, "by_crf_band": None, "reason": "no ground truth and no methods in the videos table"}
    vy = np.asarray(a.video_y, bool)
    # a video the truth does not cover: method "unknown" (fake) / "none" (real), no CRF
    methods = np.array(
        [video_method(attributes.get(str(v), {}), bool(f)) for v, f in zip(a.video_ids, vy, strict=True)]
    )
    bands = np.array([_band(attributes.get(str(v), {})) for v in a.video_ids], dtype=object)
    pos = {str(v): k for k, v in enumerate(a.video_ids)}
    crop_video = np.array([pos.get(str(v), -1) for v in a.crop_video], np.int64)
    known = crop_video >= 0

    def crops_of(videos: np.ndarray) -> np.ndarray:
        return known & videos[np.where(known, crop_video, 0)]

    real = ~vy
    by_method: dict[str, Any] = {}
    for m in sorted({str(m) for m in methods[vy]}) if vy.any() else []:
        own = vy & (methods == m)
        doc = _group(a, own | real, crops_of(own | real), threshold, n_bins)
        by_method[m] = {**doc, "seg": seg_group(a, crops_of(own))}
    if real.any():
        by_method[REAL_METHOD] = {
            **_group(a, real, crops_of(real), threshold, n_bins),
            "seg": seg_group(a, crops_of(real)),
        }
    by_band: dict[str, Any] | None = None
    if any(b is not None for b in bands):
        by_band = {}
        for band in sorted({str(b) for b in bands if b is not None}):
            sel = np.array([b == band for b in bands], bool)
            by_band[band] = {**_group(a, sel, crops_of(sel), threshold, n_bins), "seg": seg_group(a, crops_of(sel))}
    out: dict[str, Any] = {"by_method": by_method, "by_crf_band": by_band}
    names = np.array([attributes.get(str(v), {}).get("source") for v in a.video_ids], dtype=object)
    if any(n is not None for n in names):
        out["by_source"] = {}
        for name in sorted({str(n) for n in names if n is not None}):
            sel = np.array([n == name for n in names], bool)
            out["by_source"][name] = {
                **_group(a, sel, crops_of(sel), threshold, n_bins),
                "seg": seg_group(a, crops_of(sel)),
            }
    return out


def cross_corpus(breakdowns: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The side-by-side table of a mixed run for metrics.json: per split and source, the
    video and frame AUC and counts (`split_breakdown`'s ``by_source``); None otherwise."""
    out = {}
    for split, doc in breakdowns.items():
        if doc.get("by_source"):
            out[split] = {
                name: {
                    "video_auc": g["videos"]["auc"],
                    "frame_auc": g["frames"]["auc"],
                    "videos": g["videos"]["n"],
                    "fake_videos": g["videos"]["n_fake"],
                    "frames": g["frames"]["n"],
                }
                for name, g in doc["by_source"].items()
            }
    return out or None
