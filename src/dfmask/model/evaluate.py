"""The ``evaluate`` stage: classification, segmentation, calibration, counterfactual.

For each split in ``evaluate.splits`` (val, test) it reports, into
``reports/eval/metrics.json`` (nested ``<split>.<group>.<metric>``):

* ``frame``: per-crop log loss, AUC, average precision, accuracy, precision, recall, F1
  and the confusion counts at ``evaluate.threshold``.
* ``video`` (the ``evaluate.aggregation`` score), ``video_mean``, ``video_confident``:
  the same per video of the split (every video of the splits table: a video without
  a face crop scores 0.5 and is counted in ``videos_without_faces``).
* ``calibration``: ECE (equal-width bins) of frame and video probabilities.
* ``seg_ssim``: Dice/IoU of predicted masks vs the SSIM masks (fakes with valid masks)
  next to the mean-mask baseline; ``seg_real_fp``: predicted mask area on real crops.
* with ground truth (the sample corpus only, `ground_truth`): ``seg_true``:
  Dice/IoU vs the true swap masks mapped through ``crop_box`` (+ baseline), on fake
  crops with a non-empty true mask, also per swap kind (``kind_full``, ``kind_mouth``);
  ``seg_true_all_crops``: the same over every crop of the split (reals and empty fakes
  have an all-zero truth, so a mask that fires on them scores 0 there);
  ``seg_true_empty_fp``: predicted area on fake crops whose true mask is empty (failed
  swaps); ``counterfactual``: the drop of p(FAKE) when the original's pixels are pasted
  back inside the true mask (the SSIM mask when there is no ground truth).

Plots (DVCLive, ``dvcyaml=False``; declared in dvc.yaml): ROC / PR / confusion of the
test videos, ROC of the test frames and the frame calibration curve under
``reports/eval/plots/sklearn/``; plus ``reliability.png`` and ``overlays.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from dfmask import metrics
from dfmask.corpus import corpus_kind
from dfmask.model import plots
from dfmask.model.crop_index import CropIndex, read_crop_tables
from dfmask.model.predict import predict_rows, video_scores
from dfmask.model.segeval import (
    GroundTruthMasks,
    counterfactual,
    false_positive_area,
    fit_mean_mask,
    seg_vs_masks,
)
from dfmask.model.uynet import UYNet, UYNetConfig, load_checkpoint
from dfmask.params import CorpusParams, EvaluateParams
from dfmask.schemas.splits import read_splits
from dfmask.tables import write_json


@dataclass(frozen=True)
class EvalPaths:
    """Inputs and outputs of the evaluate stage."""

    faces: Path  # faces stage root: part=N/ shards
    masks: Path  # masks stage root: part=N/ shards
    splits: Path  # the splits table
    checkpoint: Path  # the train stage's uynet.ckpt
    sample: Path  # the sample stage's folder (ground_truth.parquet when corpus.root is the sample)
    out_dir: Path  # reports/eval


@dataclass(frozen=True)
class EvalReport:
    """The ``metrics.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    params: EvaluateParams
    paths: EvalPaths

    def summary(self) -> str:
        return summary(self.doc, self.params) + f" (see {self.paths.out_dir}/metrics.json)"


def ground_truth(corpus_root: str, sample: Path) -> Path | None:
    """The true swap masks to score against: the sample's ``ground_truth.parquet`` when
    ``corpus.root`` is the generated sample (`dfmask.corpus.corpus_kind`), else None."""
    return sample / "ground_truth.parquet" if corpus_kind(corpus_root, str(sample)) == "sample" else None


@dataclass
class SplitResult:
    """Metrics of one split plus the arrays the plots need."""

    metrics: dict[str, Any]
    frame_y: np.ndarray
    frame_p: np.ndarray
    video_y: np.ndarray
    video_p: np.ndarray
    rows: np.ndarray
    maps: np.ndarray
    ref_masks: dict[int, np.ndarray]  # row → reference mask (crop resolution) for overlays


def split_videos(splits_path: Path, parts: tuple[int, ...] | None) -> dict[str, tuple[list[str], np.ndarray]]:
    """split → (video_ids, is_fake) of every video in the splits table."""
    table = read_splits(splits_path, ["part", "video_id", "is_fake", "split"])
    if parts is not None:
        table = table.filter(pc.is_in(table["part"].cast(pa.int64()), value_set=pa.array(list(parts), pa.int64())))
    cols = table.to_pydict()
    out: dict[str, tuple[list[str], list[bool]]] = {}
    for vid, fake, split in zip(cols["video_id"], cols["is_fake"], cols["split"], strict=True):
        ids, labels = out.setdefault(split, ([], []))
        ids.append(vid)
        labels.append(bool(fake))
    return {s: (ids, np.asarray(labels, bool)) for s, (ids, labels) in out.items()}


def evaluate_split(
    model: UYNet,
    config: UYNetConfig,
    index: CropIndex,
    videos: tuple[list[str], np.ndarray],
    split: str,
    params: EvaluateParams,
    baseline: tuple[np.ndarray, float],
    gt: GroundTruthMasks | None,
) -> SplitResult:
    rows = index.rows(split)
    p, maps = predict_rows(model, index, rows, config.input_size, params.batch_size)
    y = index.is_fake[rows]
    out: dict[str, Any] = {"crops": len(rows), "frame": metrics.classification_report(y, p, params.threshold)}

    video_ids, video_y = videos
    crop_vids = index.video_id[rows]
    scores = {}
    for method in ("mean", "confident"):
        scores[method], counts = video_scores(
            video_ids, crop_vids, p, method, params.confident_threshold, params.confident_min_frac
        )
        out[f"video_{method}"] = metrics.classification_report(video_y, scores[method], params.threshold)
    video_p = scores[params.aggregation]
    out["video"] = {**out[f"video_{params.aggregation}"], "aggregation": params.aggregation}
    out["videos_without_faces"] = int((counts == 0).sum())
    out["calibration"] = {
        "frame_ece": metrics.none_if_nan(metrics.expected_calibration_error(y, p, params.ece_bins)),
        "video_ece": metrics.none_if_nan(metrics.expected_calibration_error(video_y, video_p, params.ece_bins)),
        "bins": params.ece_bins,
    }

    crop_size = index.crop(int(rows[0])).shape[0] if len(rows) else config.input_size
    mean_mask, mean_t = baseline
    fake_valid = np.flatnonzero(index.is_fake[rows] & index.seg_ok[rows])
    ssim_masks = [index.mask(int(rows[k]), crop_size) for k in fake_valid]
    out["seg_ssim"] = seg_vs_masks(maps[fake_valid], ssim_masks, mean_mask, mean_t, params.mask_threshold)
    out["seg_real_fp"] = false_positive_area(maps[~y], params.mask_threshold)
    ref_masks = {int(rows[k]): m for k, m in zip(fake_valid, ssim_masks, strict=True)}

    fakes = np.flatnonzero(y)
    if gt is not None:
        with_gt = [int(k) for k in fakes if gt.has(str(index.video_id[rows[k]]), int(index.frame_idx[rows[k]]))]
        true = {
            k: gt.crop_mask(
                str(index.video_id[rows[k]]), int(index.frame_idx[rows[k]]), index.crop_box[rows[k]], crop_size
            )
            for k in with_gt
        }
        swapped = [k for k in with_gt if true[k].any()]
        empty = [k for k in with_gt if not true[k].any()]
        out["seg_true"] = seg_vs_masks(
            maps[swapped], [true[k] for k in swapped], mean_mask, mean_t, params.mask_threshold
        )
        out["seg_true"]["fake_crops_without_ground_truth"] = len(fakes) - len(with_gt)
        # per swap kind: the mean mask fits full-face swaps well and mouth-only ones badly
        for kind in sorted({gt.swap_kind.get(str(index.video_id[rows[k]]), "unknown") for k in swapped}):
            sel = [k for k in swapped if gt.swap_kind.get(str(index.video_id[rows[k]]), "unknown") == kind]
            out["seg_true"][f"kind_{kind}"] = seg_vs_masks(
                maps[sel], [true[k] for k in sel], mean_mask, mean_t, params.mask_threshold
            )
        out["seg_true_empty_fp"] = false_positive_area(maps[empty], params.mask_threshold)
        # every crop of the split (reals and empty fakes have an all-zero truth; Dice is 1
        # only for an empty prediction): the mask must also say WHETHER a face is swapped
        everyone = [k for k in range(len(rows)) if not y[k]] + list(with_gt)
        zeros = np.zeros((crop_size, crop_size), np.uint8)
        out["seg_true_all_crops"] = seg_vs_masks(
            maps[everyone], [true.get(k, zeros) for k in everyone], mean_mask, mean_t, params.mask_threshold
        )
        cf_rows, cf_masks, source = np.asarray(with_gt, np.int64), [true[k] for k in with_gt], "ground_truth"
        ref_masks.update({int(rows[k]): true[k] for k in with_gt})
    else:
        cf_rows, cf_masks, source = fake_valid, ssim_masks, "ssim"
    out["counterfactual"] = {
        "mask_source": source,
        **counterfactual(
            model, index, rows[cf_rows], cf_masks, p[cf_rows], config.input_size, params.threshold, params.batch_size
        ),
    }
    return SplitResult(out, y, p, video_y, video_p, rows, maps, ref_masks)


def _log_plots(out_dir: Path, result: SplitResult, split: str, n_bins: int, threshold: float) -> None:
    """ROC/PR/confusion (videos), ROC (frames), calibration (frames) via DVCLive."""
    from dvclive import Live

    with Live(dir=str(out_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        vy, vp = result.video_y.astype(int), result.video_p
        if len(np.unique(vy)) == 2:
            live.log_sklearn_plot("roc", vy, vp, name=f"{split}/roc_video.json", drop_intermediate=False)
            live.log_sklearn_plot("precision_recall", vy, vp, name=f"{split}/pr_video.json")
        if len(vy):
            labels = np.where(vy == 1, "fake", "real")
            predicted = np.where(vp >= threshold, "fake", "real")
            live.log_sklearn_plot(
                "confusion_matrix", labels.tolist(), predicted.tolist(), name=f"{split}/confusion_video.json"
            )
        fy, fp = result.frame_y.astype(int), result.frame_p
        if len(np.unique(fy)) == 2:
            live.log_sklearn_plot("roc", fy, fp, name=f"{split}/roc_frame.json", drop_intermediate=True)
            live.log_sklearn_plot("calibration", fy, fp, name=f"{split}/calibration_frame.json", n_bins=n_bins)


def _overlay_rows(result: SplitResult, index: CropIndex, count: int) -> list[int]:
    """Deterministic pick: fakes with a non-empty reference mask, then reals, evenly spaced."""
    fakes = [r for r in result.rows if int(r) in result.ref_masks and result.ref_masks[int(r)].any()]
    reals = [r for r in result.rows if not index.is_fake[r]]
    n_fake = min(len(fakes), (count + 1) // 2)
    n_real = min(len(reals), count - n_fake)
    pick = [fakes[int(k)] for k in np.linspace(0, len(fakes) - 1, n_fake)] if n_fake else []
    pick += [reals[int(k)] for k in np.linspace(0, len(reals) - 1, n_real)] if n_real else []
    return [int(r) for r in pick]


def run(params: EvaluateParams, paths: EvalPaths, corpus: CorpusParams) -> EvalReport:
    """Run the evaluation on ``corpus.parts`` and write ``reports/eval/``."""
    parts = corpus.parts
    if params.threads > 0:
        torch.set_num_threads(params.threads)
    model, config = load_checkpoint(paths.checkpoint)
    index = read_crop_tables(paths.faces, paths.masks, paths.splits, parts)
    videos = split_videos(paths.splits, parts)
    train_fakes = index.rows("train")
    train_fakes = train_fakes[index.is_fake[train_fakes] & index.seg_ok[train_fakes]]
    baseline = fit_mean_mask(index, train_fakes, config.input_size)
    gt = None
    truth = ground_truth(corpus.root, paths.sample)
    if truth is not None:
        gt = GroundTruthMasks(truth, {str(v) for v in index.video_id[index.is_fake]})
    doc: dict[str, Any] = {
        "model": {"checkpoint": str(paths.checkpoint), "config": config.to_dict()},
        "baseline_mean_mask": {"train_masks": len(train_fakes), "threshold": baseline[1]},
    }
    results = {}
    for split in params.splits:
        results[split] = evaluate_split(
            model, config, index, videos.get(split, ([], np.zeros(0, bool))), split, params, baseline, gt
        )
        doc[split] = results[split].metrics
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    shown = "test" if "test" in results else params.splits[-1]
    result = results[shown]
    _log_plots(paths.out_dir, result, shown, params.ece_bins, params.threshold)
    plots.reliability(
        paths.out_dir / "reliability.png", result.frame_y, result.frame_p, params.ece_bins, f"{shown} frames"
    )
    picks = _overlay_rows(result, index, params.overlays)
    pos = {int(r): k for k, r in enumerate(result.rows)}
    plots.overlays(
        paths.out_dir / "overlays.png",
        [index.crop(r) for r in picks],
        [result.ref_masks.get(r, np.zeros(index.crop(r).shape[:2], np.uint8)) for r in picks],
        [result.maps[pos[r]] for r in picks],
        ["FAKE" if index.is_fake[r] else "REAL" for r in picks],
        [float(result.frame_p[pos[r]]) for r in picks],
        params.mask_threshold,
    )
    write_json(paths.out_dir / "metrics.json", _round(doc))
    return EvalReport(doc, params, paths)


def _round(obj: Any) -> Any:
    """Round floats to 6 digits so metrics.json diffs stay readable."""
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_round(v) for v in obj]
    return obj


def summary(doc: dict[str, Any], params: EvaluateParams) -> str:
    """One line: per split, video AUC and log loss, and the mask Dice (true masks if any)."""
    parts = []
    for split in params.splits:
        m = doc.get(split, {})
        video = m.get("video", {})
        seg = m.get("seg_true") or m.get("seg_ssim") or {}
        auc, loss = video.get("auc"), video.get("log_loss")
        dice, base = seg.get("dice"), seg.get("baseline_dice")
        parts.append(
            f"{split}: video AUC {_fmt(auc)}, log loss {_fmt(loss)}, Dice {_fmt(dice)} (mean-mask {_fmt(base)})"
        )
    return "; ".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
