"""The ``evaluate`` stage: classification, segmentation, calibration, counterfactual.

For each split in ``evaluate.splits`` (val, test) it reports, into
``reports/eval/metrics.json`` (nested ``<split>.<group>.<metric>``):

* ``frame``: per-crop log loss, AUC, average precision, accuracy, precision, recall, F1
  and the confusion counts at ``evaluate.threshold``.
* ``video`` (the ``evaluate.aggregation`` score of each face track, then the
  ``evaluate.track_aggregation`` over a video's tracks: `dfmask.model.predict.video_scores`),
  ``video_mean``, ``video_confident``: the same per video of the split (every video of
  the splits table: a video without a face crop scores 0.5 and is counted in
  ``videos_without_faces``).
* ``calibration``: ECE (equal-width bins) of raw frame and video probabilities; the
  video probabilities before and after the val-fitted calibration (``evaluate.calibration``,
  `dfmask.model.calibration`): log loss, Brier, equal-mass ECE with its bootstrap 90 %
  interval; and the other calibration methods' test figures beside it.
* ``operating_point``: video false- and true-positive rates at the threshold that
  maximises Youden's J on the calibrated val videos.
* ``seg_ssim``: Dice/IoU of predicted masks vs the SSIM masks (fakes with valid masks)
  next to the mean-mask baseline; ``seg_real_fp``: predicted mask area on real crops.
* with true masks (the sample corpus's `ground_truth`, or a corpus's own mask videos,
  `corpus_truth`, with a ``truth`` section saying what was used and skipped): ``seg_true``:
  Dice/IoU vs the true swap masks mapped through ``crop_box`` (+ the mean TRUE mask
  baseline), on fake crops with a non-empty true mask, also per swap kind (``kind_full``,
  ``kind_mouth``); ``seg_true_all_crops``: the same over every crop of the split (reals
  and empty fakes have an all-zero truth, so a mask that fires on them scores 0 there);
  ``seg_true_empty_fp``: predicted area on fake crops whose true mask is empty (failed
  swaps); ``counterfactual``: the drop of p(FAKE) when the original's pixels are pasted
  back inside the true mask (the SSIM mask when there is no ground truth).
* ``ensemble`` (several checkpoints): each member's test figures beside the ensemble's
  (the members' logits averaged, `dfmask.model.predict`).

Also written: ``breakdown.json`` (per method and CRF band, `dfmask.model.breakdown`; a
plain report, not a DVC metric), ``calibration.json`` (the calibration and threshold the
inference path applies, `dfmask.model.calibration`), DVCLive plots (``dvcyaml=False``;
declared in dvc.yaml: ROC / PR of the test videos, their confusion at the val-chosen
threshold on calibrated p, ROC of the test frames, the frame calibration curve under
``reports/eval/plots/sklearn/``), ``reliability.png`` and ``overlays.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from dfmask import metrics
from dfmask.corpus import corpus_kind
from dfmask.corpus.groundtruth import CRF_BANDS
from dfmask.model import breakdown, plots, temporal
from dfmask.model import calibration as cal
from dfmask.model.crop_index import CropIndex, read_crop_tables
from dfmask.model.predict import FRAME_STATS, ensemble_p, load_models, predict_rows_members, video_scores
from dfmask.model.segeval import (
    CorpusTruthMasks,
    GroundTruthMasks,
    TrueMasks,
    counterfactual,
    crop_windows,
    false_positive_area,
    fit_mean_mask,
    fit_true_mean_mask,
    per_crop_seg,
    seg_vs_masks,
    true_mask_report,
)
from dfmask.model.uynet import UYNet, UYNetConfig
from dfmask.params import CorpusParams, EvaluateParams
from dfmask.schemas.splits import read_splits
from dfmask.schemas.videos import read_corpus_videos, read_sources
from dfmask.tables import write_json

#: Seed of the bootstrap resampling of the ECE interval (fixed: same data, same interval).
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class EvalPaths:
    """Inputs and outputs of the evaluate stage."""

    faces: Path  # faces stage root: part=N/ shards
    masks: Path  # masks stage root: part=N/ shards
    splits: Path  # the splits table
    checkpoint: Path  # the train stage's uynet.ckpt
    sample: Path  # the sample stage's folder (ground_truth.parquet when corpus.root is the sample)
    out_dir: Path  # reports/eval
    extra_checkpoints: tuple[Path, ...] = ()  # more members of an ensemble (logits averaged)
    videos: Path | None = None  # the ingest tables: a corpus's own methods and qualities (breakdown)


@dataclass(frozen=True)
class EvalReport:
    """The ``metrics.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    params: EvaluateParams
    paths: EvalPaths

    def summary(self) -> str:
        return summary(self.doc, self.params) + f" (see {self.paths.out_dir}/metrics.json)"


def _corpus_attributes(videos: Path | None, parts: Sequence[int]) -> dict[str, dict[str, Any]] | None:
    """A corpus's own methods and qualities per video (`breakdown.corpus_attributes`)."""
    if videos is None:
        return None
    table = read_corpus_videos(videos, parts, ["video_id", "method", "quality"])
    return breakdown.corpus_attributes(table, read_sources(videos, parts))


def corpus_truth(
    corpus_root: str, videos: Path | None, parts: Sequence[int], index: CropIndex
) -> CorpusTruthMasks | None:
    """A corpus's own true masks (FaceForensics++'s mask videos) for the fake crops of
    ``index``, when its ingest tables name any (``mask_path``); else None."""
    if videos is None:
        return None
    columns = ["video_id", "mask_path", "width", "height", "rotation", "declared_frames"]
    table = read_corpus_videos(videos, parts, columns)
    if table is None:
        return None
    fakes = np.flatnonzero(index.is_fake)
    needed: dict[str, set[int]] = {}
    for i in fakes:
        needed.setdefault(str(index.video_id[i]), set()).add(int(index.frame_idx[i]))
    rows = table.to_pylist()  # CorpusTruthMasks keeps the fakes of `needed` that name a mask video
    if not any(r["mask_path"] and str(r["video_id"]) in needed for r in rows):
        return None
    # only the part of each frame the crops see is kept (memory: CorpusTruthMasks)
    return CorpusTruthMasks(corpus_root, rows, needed, crop_windows(index, fakes))


def ground_truth(corpus_root: str, sample: Path) -> Path | None:
    """The true swap masks to score against: the sample's ``ground_truth.parquet`` when
    ``corpus.root`` is the generated sample (`dfmask.corpus.corpus_kind`), else None."""
    return sample / "ground_truth.parquet" if corpus_kind(corpus_root, str(sample)) == "sample" else None


@dataclass
class SplitPrediction:
    """The model's raw outputs on one split: per-member cls logits (M, N), the ensemble
    p(FAKE) (N,), seg probability maps (N, S, S), and the video scores."""

    rows: np.ndarray
    logits: np.ndarray
    p: np.ndarray
    maps: np.ndarray
    video_ids: list[str]
    video_y: np.ndarray
    video_p: np.ndarray  # the headline aggregation
    by_method: dict[str, np.ndarray]  # "mean" / "confident" track scores, then over tracks
    counts: np.ndarray  # crops per video
    features: np.ndarray | None = None  # per crop, for the temporal head (`evaluate.temporal` only)


@dataclass
class SplitResult:
    """Metrics of one split plus the arrays the plots need."""

    metrics: dict[str, Any]
    frame_y: np.ndarray
    frame_p: np.ndarray
    video_y: np.ndarray
    video_p: np.ndarray
    video_cal: np.ndarray
    rows: np.ndarray
    maps: np.ndarray
    ref_masks: dict[int, np.ndarray]  # row → reference mask (crop resolution) for overlays
    arrays: breakdown.SplitArrays


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


def video_level(
    index: CropIndex, rows: np.ndarray, p: np.ndarray, videos: tuple[list[str], np.ndarray], params: EvaluateParams
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Video scores of crops ``rows`` with probabilities ``p`` by frame→track rule ("mean",
    "confident"; each then ``evaluate.track_aggregation`` over tracks), and crops per video."""
    scores, counts = {}, np.zeros(0, np.int64)
    for method in ("mean", "confident"):
        scores[method], counts = video_scores(
            videos[0],
            index.video_id[rows],
            p,
            method,
            params.confident_threshold,
            params.confident_min_frac,
            crop_track_ids=index.track_id[rows],
            over_tracks=params.track_aggregation,
        )
    return scores, counts


def predict_split(
    models: list[UYNet],
    config: UYNetConfig,
    index: CropIndex,
    videos: tuple[list[str], np.ndarray],
    split: str,
    params: EvaluateParams,
) -> SplitPrediction:
    rows = index.rows(split)
    logits, maps, features = predict_rows_members(
        models, index, rows, config.input_size, params.batch_size, features=params.temporal.enabled
    )
    p = ensemble_p(logits)
    scores, counts = video_level(index, rows, p, videos, params)
    return SplitPrediction(
        rows, logits, p, maps, list(videos[0]), videos[1], scores[params.aggregation], scores, counts, features
    )


def evaluate_split(
    models: list[UYNet],
    config: UYNetConfig,
    index: CropIndex,
    pred: SplitPrediction,
    params: EvaluateParams,
    baselines: dict[str, tuple[np.ndarray, float]],
    gt: TrueMasks | None,
    fitted: cal.Calibration,
    threshold: float,
    val: SplitPrediction | None,
) -> SplitResult:
    rows, p, maps = pred.rows, pred.p, pred.maps
    y = index.is_fake[rows]
    out: dict[str, Any] = {"crops": len(rows), "frame": metrics.classification_report(y, p, params.threshold)}
    video_y, video_p = pred.video_y, pred.video_p
    for method, scores in pred.by_method.items():
        out[f"video_{method}"] = metrics.classification_report(video_y, scores, params.threshold)
    out["video"] = {
        **out[f"video_{params.aggregation}"],
        "aggregation": params.aggregation,
        "track_aggregation": params.track_aggregation,
    }
    for group in ("frame", "video"):  # Hanley–McNeil standard error of the headline AUCs
        g = out[group]
        g["auc_se"] = metrics.auc_standard_error(g["auc"], g["n_fake"], g["n"] - g["n_fake"])
    out["videos_without_faces"] = int((pred.counts == 0).sum())
    video_cal = fitted.apply(video_p)
    out["calibration"] = {
        "frame_ece": metrics.none_if_nan(metrics.expected_calibration_error(y, p, params.ece_bins)),
        "video_ece": metrics.none_if_nan(metrics.expected_calibration_error(video_y, video_p, params.ece_bins)),
        "bins": params.ece_bins,
        **cal.split_report(
            video_y,
            video_p,
            fitted,
            None if val is None else (val.video_y, val.video_p),
            params.ece_bins,
            params.bootstrap,
            BOOTSTRAP_SEED,
        ),
    }
    out["operating_point"] = {**cal.rates_at(video_y, video_cal, threshold), "chosen_on": "val (Youden's J)"}

    crop_size = index.crop(int(rows[0])).shape[0] if len(rows) else config.input_size
    mean_mask, mean_t = baselines["ssim"]
    fake_valid = np.flatnonzero(index.is_fake[rows] & index.seg_ok[rows])
    ssim_masks = [index.mask(int(rows[k]), crop_size) for k in fake_valid]
    out["seg_ssim"] = seg_vs_masks(maps[fake_valid], ssim_masks, mean_mask, mean_t, params.mask_threshold)
    out["seg_real_fp"] = false_positive_area(maps[~y], params.mask_threshold)
    ref_masks = {int(rows[k]): m for k, m in zip(fake_valid, ssim_masks, strict=True)}

    truths: list[np.ndarray | None] = [None if fake else np.zeros((crop_size, crop_size), np.uint8) for fake in y]
    true_mean, true_t = baselines.get("true", baselines["ssim"])
    if gt is not None:
        seg_true, true = true_mask_report(gt, index, rows, maps, crop_size, (true_mean, true_t), params.mask_threshold)
        out.update(seg_true)
        for k, mask in true.items():
            truths[k] = mask
        source = "ground_truth" if isinstance(gt, GroundTruthMasks) else "corpus_masks"
        cf_rows, cf_masks = np.asarray(sorted(true), np.int64), [true[k] for k in sorted(true)]
        ref_masks.update({int(rows[k]): m for k, m in true.items()})
    if gt is None or not len(cf_rows):  # no truth, or none for this split's fakes: the SSIM masks
        cf_rows, cf_masks, source = fake_valid, ssim_masks, "ssim"
    out["counterfactual"] = {
        "mask_source": source,
        **counterfactual(
            models, index, rows[cf_rows], cf_masks, p[cf_rows], config.input_size, params.threshold, params.batch_size
        ),
    }
    seg = per_crop_seg(maps, truths, true_mean, true_t, params.mask_threshold)
    arrays = breakdown.SplitArrays(
        pred.video_ids, video_y, video_p, video_cal, list(index.video_id[rows]), y, p,
        seg["dice"], seg["baseline_dice"], seg["area"], seg["truth_empty"],
    )  # fmt: skip
    return SplitResult(out, y, p, video_y, video_p, video_cal, rows, maps, ref_masks, arrays)


def ensemble_section(
    index: CropIndex, pred: SplitPrediction, videos: tuple[list[str], np.ndarray], params: EvaluateParams
) -> dict[str, Any]:
    """Each member's frame AUC and video AUC / log loss beside the ensemble's."""

    def figures(p: np.ndarray) -> dict[str, float | None]:
        video_p = video_level(index, pred.rows, p, videos, params)[0][params.aggregation]
        return {
            "frame_auc": metrics.none_if_nan(metrics.roc_auc(index.is_fake[pred.rows], p)),
            "video_auc": metrics.none_if_nan(metrics.roc_auc(pred.video_y, video_p)),
            "video_log_loss": metrics.none_if_nan(metrics.log_loss(pred.video_y, video_p)),
        }

    singles = [figures(ensemble_p(pred.logits[m : m + 1])) for m in range(len(pred.logits))]
    return {"members": len(singles), "single": singles, "ensemble": figures(pred.p)}


def temporal_section(
    models: list[UYNet],
    config: UYNetConfig,
    index: CropIndex,
    videos: dict[str, tuple[list[str], np.ndarray]],
    preds: Mapping[str, SplitPrediction],
    params: EvaluateParams,
) -> dict[str, Any]:
    """``evaluate.temporal``: the head trained on the train split's tracks, and its video
    figures on every evaluated split beside the ``mean`` and ``confident`` rules'.

    Each score's log loss is given raw and after a temperature fitted on val (in-sample on
    val, as the pipeline's own calibration; applied unchanged to test), with the log loss of
    the split's base rate (a constant score) as the floor of "no information". The val
    gains over the better rule, raw and calibrated, decide (issue 17): on by default only
    for a gain >= 0.02 in both, outside the seed spread. A raw gain alone can come from a
    score that sits near the base rate, not from information (docs/model.md)."""
    def tracks_of(rows: np.ndarray, features: np.ndarray | None, video_ids: list[str]) -> temporal.Tracks:
        assert features is not None  # predict_split keeps them when evaluate.temporal is enabled
        ids, tracks, frames = index.video_id[rows], index.track_id[rows], index.frame_idx[rows]
        return temporal.build_tracks(features, ids, tracks, frames, video_ids)

    train_ids, train_y = videos.get("train", ([], np.zeros(0, bool)))
    rows = index.rows("train")
    train_features = predict_rows_members(models, index, rows, config.input_size, params.batch_size, features=True)[2]
    tracks = tracks_of(rows, train_features, train_ids)
    head = temporal.fit_head(tracks, train_y, params.temporal)
    out: dict[str, Any] = {
        "features": f"per member: pooled bottleneck + {', '.join(FRAME_STATS)}; "
        f"{tracks.x.shape[1]} in all ({len(models)} member(s))",
        "train": {
            "videos": len(train_ids),
            "tracks": len(tracks.x),
            "frames_max": int(tracks.mask.shape[1]),
            "loss_first": head.losses[0],
            "loss_last": head.losses[-1],
        },
    }
    scores: dict[str, dict[str, np.ndarray]] = {}
    for split, pred in preds.items():
        split_tracks = tracks_of(pred.rows, pred.features, pred.video_ids)
        scores[split] = {"temporal": head.predict(split_tracks), **pred.by_method}
    # fitted on val only (no val split: every score stays raw)
    fitted = {name: cal.fit("temperature", preds["val"].video_y, p) for name, p in scores.get("val", {}).items()}
    for split, pred in preds.items():
        y = pred.video_y
        base = float(y.mean()) if len(y) else 0.5
        doc: dict[str, Any] = {
            "videos": len(y),
            "n_fake": int(y.sum()),
            "base_rate_log_loss": metrics.none_if_nan(metrics.log_loss(y, np.full(len(y), base))),
        }
        for name, p in scores[split].items():
            calibrated = fitted[name].apply(p) if name in fitted else p
            doc[name] = {
                "auc": metrics.none_if_nan(metrics.roc_auc(y, p)),
                "log_loss": metrics.none_if_nan(metrics.log_loss(y, p)),
                "log_loss_calibrated": metrics.none_if_nan(metrics.log_loss(y, calibrated)),
            }
        out[split] = doc
    if "val" in out:
        v = out["val"]
        for kind in ("log_loss", "log_loss_calibrated"):
            best = min(("mean", "confident"), key=lambda rule: v[rule][kind])
            out[f"val_gain_{kind}"] = {"best_rule": best, "gain": v[best][kind] - v["temporal"][kind]}
    out["keep_rule"] = (
        "on by default only if both val gains are >= 0.02 outside the seed spread (issue 17); "
        "the headline, calibration and scorer use evaluate.aggregation"
    )
    return out


def run(params: EvaluateParams, paths: EvalPaths, corpus: CorpusParams) -> EvalReport:
    """Run the evaluation on ``corpus.parts`` and write ``reports/eval/``."""
    parts = corpus.parts
    if params.threads > 0:
        torch.set_num_threads(params.threads)
    models, config = load_models(paths.checkpoint, paths.extra_checkpoints)
    index = read_crop_tables(paths.faces, paths.masks, paths.splits, parts)
    videos = split_videos(paths.splits, parts)
    train_fakes = index.rows("train")
    train_fakes = train_fakes[index.is_fake[train_fakes]]
    ssim_rows = train_fakes[index.seg_ok[train_fakes]]
    baselines = {"ssim": fit_mean_mask(index, ssim_rows, config.input_size)}
    doc: dict[str, Any] = {
        "model": {
            "checkpoint": str(paths.checkpoint),
            "extra_checkpoints": [str(c) for c in paths.extra_checkpoints],
            "config": config.to_dict(),
        },
        "baseline_mean_mask": {"train_masks": len(ssim_rows), "threshold": baselines["ssim"][1]},
    }
    gt: TrueMasks | None = None
    truth = ground_truth(corpus.root, paths.sample)
    if truth is not None:
        gt = GroundTruthMasks(truth, {str(v) for v in index.video_id})
    else:
        gt = corpus_truth(corpus.root, paths.videos, parts, index)
        if gt is not None:
            doc["truth"] = gt.report()
    if gt is not None:
        crop_size = index.crop(int(index.rows("train")[0])).shape[0] if len(index.rows("train")) else config.input_size
        true_baseline, n_true = fit_true_mean_mask(index, train_fakes, gt, crop_size)
        if n_true:
            baselines["true"] = true_baseline
            doc["baseline_mean_true_mask"] = {"train_masks": n_true, "threshold": true_baseline[1]}
        else:  # no train fake has a true mask: seg_true is held to the SSIM mean mask instead
            doc["baseline_mean_true_mask"] = {
                "train_masks": 0,
                "threshold": None,
                "note": "no train fake crop has a true mask; seg_true uses the SSIM mean-mask baseline",
            }
    no_videos: tuple[list[str], np.ndarray] = ([], np.zeros(0, bool))
    preds = {
        split: predict_split(models, config, index, videos.get(split, no_videos), split, params)
        for split in dict.fromkeys((*params.splits, "val"))
        if split in params.splits or split in videos
    }
    val = preds.get("val")
    fitted = cal.fit(params.calibration, val.video_y, val.video_p) if val else cal.Calibration()
    youden = cal.youden_threshold(val.video_y, fitted.apply(val.video_p)) if val else None
    threshold = params.threshold if youden is None else youden
    point = cal.OperatingPoint(
        fitted,
        threshold,
        aggregation=params.track_aggregation,
        frame_aggregation=params.aggregation,
        confident_threshold=params.confident_threshold,
        confident_min_frac=params.confident_min_frac,
        fitted_on="val",
    )
    fitted_doc = point.to_json()
    doc["calibration"] = {  # the breakpoints only in calibration.json (exact, not rounded)
        **{k: v for k, v in fitted_doc.items() if k not in ("x", "y")},
        "isotonic_breakpoints": len(fitted.isotonic_x),
        "requested": params.calibration,
        "threshold_source": "evaluate.threshold (val lacks a class)" if youden is None else "Youden's J on val",
        "val_videos": 0 if val is None else len(val.video_ids),
    }
    results: dict[str, SplitResult] = {}
    for split in params.splits:
        results[split] = evaluate_split(
            models, config, index, preds[split], params, baselines, gt, fitted, threshold, val
        )
        doc[split] = results[split].metrics
    if params.temporal.enabled:
        doc["temporal"] = temporal_section(models, config, index, videos, preds, params)
    shown = "test" if "test" in results else params.splits[-1]
    if len(models) > 1:
        doc["ensemble"] = ensemble_section(index, preds[shown], videos.get(shown, no_videos), params)
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    cal.write_calibration(paths.out_dir / "calibration.json", point)
    attributes = gt.attributes if isinstance(gt, GroundTruthMasks) else _corpus_attributes(paths.videos, parts)
    per_split = {
        split: breakdown.split_breakdown(r.arrays, attributes, threshold, params.ece_bins)
        for split, r in results.items()
    }
    write_json(
        paths.out_dir / "breakdown.json",
        _round(per_split | {"crf_bands": [label for label, _, _ in CRF_BANDS], "threshold": threshold}),
    )
    table = breakdown.cross_corpus(per_split)
    if table is not None:  # a mixed run: each source side by side (a DVC metric)
        doc["by_source"] = table
    _figures(paths.out_dir, results[shown], shown, index, params, threshold, attributes, gt is not None)
    write_json(paths.out_dir / "metrics.json", _round(doc))
    return EvalReport(doc, params, paths)


def _figures(
    out_dir: Path,
    result: SplitResult,
    split: str,
    index: CropIndex,
    params: EvaluateParams,
    threshold: float,
    attributes: Mapping[str, Mapping[str, Any]] | None,
    true_masks: bool,
) -> None:
    """DVCLive plots, reliability.png and overlays.png of one split (overlays picked per
    method of ``attributes``, the truth's or the corpus's)."""
    plots.log_sklearn_plots(
        out_dir, split, (result.video_y, result.video_p, result.video_cal), (result.frame_y, result.frame_p),
        threshold, params.ece_bins,
    )  # fmt: skip
    curves = [
        (f"{split} videos, raw", result.video_y, result.video_p),
        (f"{split} videos, calibrated", result.video_y, result.video_cal),
        (f"{split} frames, raw", result.frame_y, result.frame_p),
    ]
    plots.reliability(out_dir / "reliability.png", curves, params.ece_bins, f"{split}: reliability")
    attributes = attributes or {}
    groups = [
        str(breakdown.video_method(attributes.get(str(index.video_id[r])), bool(index.is_fake[r])) or
            ("fake" if index.is_fake[r] else breakdown.REAL_METHOD))
        for r in result.rows
    ]  # fmt: skip
    picks = plots.pick_overlays(result.rows, groups, index.is_fake[result.rows], params.overlays)
    pos = {int(r): k for k, r in enumerate(result.rows)}
    plots.overlays(
        out_dir / "overlays.png",
        [index.crop(r) for r in picks],
        [result.ref_masks.get(r, np.zeros(index.crop(r).shape[:2], np.uint8)) for r in picks],
        [result.maps[pos[r]] for r in picks],
        [f"{'FAKE' if index.is_fake[r] else 'REAL'} ({groups[pos[r]]})" for r in picks],
        [float(result.frame_p[pos[r]]) for r in picks],
        params.mask_threshold,
        "true" if true_masks else "SSIM",
    )


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
    """One line: per split, video AUC and log loss, and the mask Dice (true masks if any);
    the test video false-positive / true-positive rates at the val-chosen threshold."""
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
    op = doc.get("test", {}).get("operating_point")
    if op:
        parts.append(
            f"test at val threshold {_fmt(op['threshold'])}: FPR {_fmt(op['false_positive_rate'])}, "
            f"TPR {_fmt(op['true_positive_rate'])}"
        )
    by_source = (doc.get("by_source") or {}).get("test")
    if by_source:  # a mixed run: the cross-corpus figures
        shown = ", ".join(f"{n} video AUC {_fmt(g['video_auc'])}" for n, g in by_source.items())
        parts.append(f"test by source: {shown}")
    return "; ".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
