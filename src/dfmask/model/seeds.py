"""``make eval-seeds``: train + evaluate once per seed, report mean ± sd of the headline figures.

One training run says little about a small test split; the seeds show the spread. Each
seed trains with the params.yaml ``train`` section (``train.seed`` replaced) into
``<paths.work>/eval_seeds/seed=N/`` (outside every DVC output, so the pipeline's own
``<paths.train>`` is untouched) and is evaluated with the ``evaluate`` section. The
summary goes to ``<paths.reports>/eval_seeds.json``: per seed and as mean / sd (sample sd,
ddof = 1) over seeds, for the test split's video AUC and log loss (raw and calibrated),
Brier, the video false/true-positive rates at the val-chosen threshold, frame AUC, the
mask Dice vs true swap masks and its mean-mask baseline, the seg head's false-positive
area on real crops, and the counterfactual drop. With two seeds or more, the seeds'
checkpoints are also evaluated as one **ensemble** (logits averaged,
`dfmask.model.predict`) under ``<paths.work>/eval_seeds/ensemble/``: its figures and
each member's beside it go to the summary's ``ensemble``.

Run: ``dfmask seeds [--params params.yaml] [--out reports/eval_seeds.json] [--jobs N]``
(``--jobs 3`` trains the three seeds in parallel processes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.params import CorpusParams, EvaluateParams, PathsParams, TrainParams, to_dict
from dfmask.tables import write_json

#: (name, path into the evaluate metrics document) of the figures summarised.
FIGURES = {
    "video_auc": ("test", "video", "auc"),
    "video_log_loss": ("test", "video", "log_loss"),
    "frame_auc": ("test", "frame", "auc"),
    "seg_true_dice": ("test", "seg_true", "dice"),
    "seg_true_baseline_dice": ("test", "seg_true", "baseline_dice"),
    "seg_true_dice_gain": ("test", "seg_true", "dice_gain"),
    "seg_ssim_dice": ("test", "seg_ssim", "dice"),
    "seg_real_fp_area": ("test", "seg_real_fp", "mean_area"),
    "counterfactual_drop": ("test", "counterfactual", "drop_mean"),
    "video_log_loss_calibrated": ("test", "calibration", "video_after", "log_loss"),
    "video_brier": ("test", "calibration", "video_before", "brier"),
    "video_brier_calibrated": ("test", "calibration", "video_after", "brier"),
    "video_fpr_at_val_threshold": ("test", "operating_point", "false_positive_rate"),
    "video_tpr_at_val_threshold": ("test", "operating_point", "true_positive_rate"),
}


def _get(doc: dict[str, Any], path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc if isinstance(doc, int | float) else None


def summarise(per_seed: dict[int, dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """mean / sd / min / max / n of every figure over the seeds that have it."""
    out: dict[str, dict[str, float | int | None]] = {}
    for name, path in FIGURES.items():
        values = np.array([v for doc in per_seed.values() if (v := _get(doc, path)) is not None], np.float64)
        out[name] = {
            "n": int(values.size),
            "mean": float(values.mean()) if values.size else None,
            "sd": float(values.std(ddof=1)) if values.size > 1 else None,
            "min": float(values.min()) if values.size else None,
            "max": float(values.max()) if values.size else None,
        }
    return out


def _checkpoint(work: Path, seed: int) -> Path:
    return work / f"seed={seed}" / "models" / "uynet.ckpt"


def run_seed(
    seed: int,
    train_params: TrainParams,
    eval_params: EvaluateParams,
    corpus: CorpusParams,
    paths: PathsParams,
    work: Path,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train and evaluate one seed under ``work/seed=N``; (train report, metrics doc)."""
    from dfmask.model import evaluate, train

    run_dir = work / f"seed={seed}"
    tables = (Path(paths.faces), Path(paths.masks), Path(paths.splits))
    tpaths = train.TrainPaths(*tables, model_dir=run_dir / "models", report_dir=run_dir / "reports/train")
    report = train.run(dataclasses.replace(train_params, seed=seed), tpaths, corpus.parts)
    assert tpaths.checkpoint == _checkpoint(work, seed)
    epaths = evaluate.EvalPaths(*tables, tpaths.checkpoint, Path(paths.sample), run_dir / "reports/eval")
    return report.doc, evaluate.run(eval_params, epaths, corpus).doc


def run_ensemble(
    seeds: list[int], eval_params: EvaluateParams, corpus: CorpusParams, paths: PathsParams, work: Path
) -> dict[str, Any]:
    """Evaluate the seeds' checkpoints as one ensemble under ``work/ensemble``: its
    headline figures and the members' (`dfmask.model.evaluate`'s ``ensemble``)."""
    from dfmask.model import evaluate

    first, *extra = (_checkpoint(work, s) for s in seeds)
    tables = (Path(paths.faces), Path(paths.masks), Path(paths.splits))
    epaths = evaluate.EvalPaths(
        *tables, first, Path(paths.sample), work / "ensemble/reports/eval", extra_checkpoints=tuple(extra)
    )
    doc = evaluate.run(eval_params, epaths, corpus).doc
    return {
        "seeds": seeds,
        "figures": {name: _get(doc, path) for name, path in FIGURES.items()},
        "single_vs_ensemble": doc.get("ensemble"),
    }


def eval_seeds(
    train_params: TrainParams,
    eval_params: EvaluateParams,
    corpus: CorpusParams,
    paths: PathsParams,
    work: Path,
    out: Path,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train and evaluate once per ``evaluate.seeds`` (``jobs`` seeds at a time, each in
    its own process with ``train.threads`` threads) on the tables under ``paths``; write
    and return the summary."""
    seeds = list(eval_params.seeds)
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(run_seed, s, train_params, eval_params, corpus, paths, work) for s in seeds]
            results = [f.result() for f in futures]
    else:
        results = [run_seed(s, train_params, eval_params, corpus, paths, work) for s in seeds]
    per_seed = {seed: doc for seed, (_, doc) in zip(seeds, results, strict=True)}
    runs = {
        str(seed): {
            **{name: _get(doc, path) for name, path in FIGURES.items()},
            "fit_seconds": report["fit_seconds"],
            "epoch_crops_per_s": report["epoch_crops_per_s"],
        }
        for seed, (report, doc) in zip(seeds, results, strict=True)
    }
    summary = {
        "seeds": seeds,
        "summary": summarise(per_seed),
        "runs": runs,
        "train_params": to_dict(train_params),
        "ensemble": run_ensemble(seeds, eval_params, corpus, paths, work) if len(seeds) > 1 else None,
    }
    write_json(out, summary)
    return summary


def describe(doc: dict[str, Any], out: str | Path) -> str:
    """One line of the summary ``doc`` (written to ``out``): mean ± sd of the headline figures."""
    s = doc["summary"]

    seeds = len(doc["seeds"])

    def fmt(name: str) -> str:
        m, sd, n = s[name]["mean"], s[name]["sd"], s[name].get("n", seeds)
        if m is None:
            return "n/a"
        text = f"{m:.3f}" if sd is None else f"{m:.3f} ± {sd:.3f}"  # one value has no spread
        return text if n == seeds else f"{text} (of {n} seed{'s' if n != 1 else ''})"

    ensemble = (doc.get("ensemble") or {}).get("figures") or {}
    auc = ensemble.get("video_auc")
    return (
        f"{seeds} seed{'s' if seeds != 1 else ''}: test video AUC {fmt('video_auc')}"
        + ("" if auc is None else f" (ensemble {auc:.3f})")
        + f", Dice vs true masks {fmt('seg_true_dice')} (mean-mask {fmt('seg_true_baseline_dice')}), "
        f"counterfactual drop {fmt('counterfactual_drop')} (see {out})"
    )
