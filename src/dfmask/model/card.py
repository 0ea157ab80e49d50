"""MODEL_CARD.md for a trained U-YNet, written from the evaluate stage's metrics JSON.

A model card in the Hugging Face sense: what the model is, what it was trained and
scored on, its figures per method and split, and its limits. It opens with what a user
must know first: whether the test AUC is distinguishable from chance (two Hanley–McNeil
standard errors), how many real test videos the val-chosen threshold calls FAKE, how
much of a real face the seg head flags, and what the val-fitted calibration does. Every
figure is read from ``<evaluate out>/metrics.json``, the ``breakdown.json`` beside it
(per method and CRF band) and, when given, the train stage's ``train.json`` (what
training saw), so the card is as deterministic as those files and never disagrees with
them. The evaluate stage writes it next to the metrics (``reports/eval/MODEL_CARD.md``);
the release datasheet names it by the model's artifact name (`ARTIFACT`) and quotes no
figure, so a release never depends on training.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: The model's artifact name in dvc.yaml (``artifacts:``), as the datasheet names it.
ARTIFACT = "uynet"
#: Where the evaluate stage writes the card, relative to its output folder.
CARD_NAME = "MODEL_CARD.md"

_METHODS = (
    ("frame", "per crop"),
    ("video", "per video (evaluate.aggregation)"),
    ("video_confident", "per video, confident crops only"),
)
_CLS_COLUMNS = ("n", "n_fake", "auc", "average_precision", "log_loss", "f1", "accuracy")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _get(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, Mapping) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def _classification(metrics: Mapping[str, Any], splits: list[str]) -> list[str]:
    rows = []
    for split in splits:
        for key, label in _METHODS:
            block = _get(metrics, split, key)
            if isinstance(block, Mapping):
                rows.append([split, label, *(block.get(c) for c in _CLS_COLUMNS)])
    if not rows:
        return ["No classification figures in the metrics file."]
    header = ["split", "method", "n", "fakes", "AUC", "average precision", "log loss (nats)", "F1", "accuracy"]
    return _table(header, rows)


def _segmentation(metrics: Mapping[str, Any], splits: list[str]) -> list[str]:
    rows = []
    for split in splits:
        for key, label in (("seg_true", "true swap masks"), ("seg_ssim", "SSIM masks")):
            block = _get(metrics, split, key)
            if isinstance(block, Mapping) and block.get("n"):
                rows.append(
                    [split, label, block.get("n"), block.get("dice"), block.get("iou"), block.get("baseline_dice")]
                )
                for kind in ("full", "mouth"):
                    sub = block.get(f"kind_{kind}")
                    if isinstance(sub, Mapping) and sub.get("n"):
                        rows.append(
                            [
                                split,
                                f"{label}, {kind} swaps",
                                sub.get("n"),
                                sub.get("dice"),
                                sub.get("iou"),
                                sub.get("baseline_dice"),
                            ]
                        )
    if not rows:
        return ["No segmentation figures in the metrics file."]
    return _table(["split", "against", "fake crops", "Dice", "IoU", "mean-mask baseline Dice"], rows)


def _chance(auc: float, se: float) -> str:
    """Where an AUC sits against chance (0.5), two standard errors either side."""
    if abs(auc - 0.5) < 2 * se:
        return "within two standard errors of chance (0.5): at this test size it does not tell real from fake"
    return "more than two standard errors above chance" if auc > 0.5 else "more than two standard errors BELOW chance"


def _in_short(metrics: Mapping[str, Any], split: str) -> list[str]:
    """The figures a user must read first, on ``split`` (the test split when scored)."""
    lines = []
    video = _get(metrics, split, "video")
    if isinstance(video, Mapping) and isinstance(video.get("auc"), float) and isinstance(video.get("auc_se"), float):
        lines.append(
            f"- Video AUC {_auc_se(video)} (Hanley–McNeil standard error) on "
            f"{_fmt(video.get('n'))} videos ({_fmt(video.get('n_fake'))} fake): "
            f"{_chance(video['auc'], video['auc_se'])}."
        )
    point = _get(metrics, split, "operating_point")
    if isinstance(point, Mapping) and point.get("threshold") is not None and point.get("n_real"):
        n_real, n_fake = int(point["n_real"]), int(point.get("n_fake") or 0)
        fpr, tpr = point.get("false_positive_rate"), point.get("true_positive_rate")
        called = f"{round(fpr * n_real)} of {n_real}" if isinstance(fpr, float) else "n/a"
        found = f"{round(tpr * n_fake)} of {n_fake}" if isinstance(tpr, float) and n_fake else "n/a"
        lines.append(
            f"- Real faces: at the threshold {_fmt(point['threshold'])} on the calibrated video probability, "
            f"chosen on {_fmt(point.get('chosen_on') or 'val')}, {called} real videos are called FAKE "
            f"(false-positive rate {_fmt(fpr)}); {found} fake videos are found (true-positive rate {_fmt(tpr)})."
        )
    real_fp = _get(metrics, split, "seg_real_fp")
    if isinstance(real_fp, Mapping) and real_fp.get("n"):
        area, over = real_fp.get("mean_area"), real_fp.get("crops_over_1pct")
        lines.append(
            f"- The seg head flags {100 * area:.1f} % of a real face crop on average"
            + (f" ({100 * over:.0f} % of the {real_fp['n']} real crops over 1 %)." if isinstance(over, float) else ".")
            if isinstance(area, float)
            else "- Seg head on real crops: n/a."
        )
    cal = _get(metrics, split, "calibration")
    before, after = _get(cal, "video_before"), _get(cal, "video_after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        lines.append(
            f"- Calibration ({_fmt(_get(cal, 'method'))}, fitted on val): video log loss "
            f"{_fmt(before.get('log_loss'))} → {_fmt(after.get('log_loss'))}, Brier {_fmt(before.get('brier'))} → "
            f"{_fmt(after.get('brier'))}, equal-mass ECE {_fmt(before.get('ece_equal_mass'))} → "
            f"{_fmt(after.get('ece_equal_mass'))}."
        )
    if not lines:
        return []
    return [f"## In short ({split} split)", "", *lines, ""]


def _auc_se(block: Mapping[str, Any]) -> str:
    auc, se = block.get("auc"), block.get("auc_se")
    if not isinstance(auc, float):
        return "n/a"
    return f"{auc:.3f} ± {se:.3f}" if isinstance(se, float) else f"{auc:.3f}"


def _breakdown(doc: Mapping[str, Any] | None, split: str) -> list[str]:
    """Per method and CRF band on ``split``'s videos: each group's fakes against the real videos
    (all of them for a method, the band's own for a band), from ``breakdown.json``."""
    rows = []
    for key, label in (("by_method", "method"), ("by_crf_band", "CRF band")):
        groups = _get(doc, split, key)
        if not isinstance(groups, Mapping):
            continue
        for name, group in groups.items():
            videos, cal, seg = (_get(group, k) or {} for k in ("videos", "videos_calibrated", "seg"))
            if name == "none" and key == "by_method":  # the real videos: what the threshold does to them
                rows.append(
                    [
                        "real videos", "", "", videos.get("n_real"), "", _fmt(cal.get("false_positive_rate")),
                        "", "", seg.get("fp_area_real"),
                    ]
                )  # fmt: skip
                continue
            empty = seg.get("fp_area_empty_fake") if key == "by_method" else seg.get("fp_area_real")
            rows.append(
                [
                    label, name, videos.get("n_fake"), videos.get("n_real"), _auc_se(videos),
                    _fmt(cal.get("true_positive_rate")), seg.get("dice"), seg.get("baseline_dice"), empty,
                ]
            )  # fmt: skip
    if not rows:
        reason = _get(doc, split, "reason")
        return [f"## Per method and quality ({split} split)", "", f"None: {reason}.", ""] if reason else []
    header = [
        "group", "name", "fake videos", "real videos", "video AUC ± SE",
        "called FAKE at the val threshold", "mask Dice vs truth", "mean-mask baseline Dice",
        "flagged area where the truth is empty",
    ]  # fmt: skip
    return [
        f"## Per method and quality ({split} split)",
        "",
        "Each method's fake videos against all real videos of the split, each CRF band's against the",
        "band's own (`breakdown.json`, which also holds frame figures, log loss and ECE per group). With",
        "a dozen fakes an AUC's standard error is near 0.1: read a row as noise unless it holds across",
        "seeds (`make eval-seeds`). The real videos' row is the false-positive rate at the threshold.",
        "Mask Dice is over the group's crops with a non-empty true mask; the flagged area (the share of",
        "the crop the seg head marks) over those whose truth is empty: the untouched face of a",
        "one-of-two-faces fake or a fake that changed nothing (a method row), the real crops (the real",
        "videos' row and a CRF band's row).",
        "",
        *_table(header, rows),
        "",
    ]


def _training(train: Mapping[str, Any] | None) -> list[str]:
    if not train:
        return ["- Training report not given: see `reports/train/train.json`."]
    data = train.get("data") or {}
    return [
        f"- Train split: {_fmt(train.get('train_crops'))} crops "
        f"({_fmt(data.get('real_crops'))} real and {_fmt(data.get('fake_crops'))} fake crops in the joined table, "
        f"all splits); {_fmt(train.get('train_crops_seen'))} crops seen over {_fmt(train.get('epochs'))} epoch(s).",
        f"- Validation split: {_fmt(train.get('val_crops'))} crops pick the kept checkpoint "
        f"({_fmt(train.get('monitor'))}).",
        f"- Parameters: {_fmt(train.get('parameters'))}; precision {_fmt(train.get('precision'))}; "
        f"seed {_fmt(train.get('seed'))}.",
    ]


def render(
    metrics: Mapping[str, Any],
    corpus_kind: str,
    train: Mapping[str, Any] | None = None,
    corpora: Sequence[str] = ("DFDC",),
    datasets: Sequence[str] = ("dfdc",),
    breakdown: Mapping[str, Any] | None = None,
) -> str:
    """The card's Markdown. ``corpus_kind``: ``"sample"`` for the generated sample, else
    ``corpus.kind``; ``corpora``: what the run's corpora are called
    (`dfmask.corpus.adapters.corpus_titles`); ``datasets``: their layout ids, for the
    front matter; ``breakdown``: the evaluate stage's ``breakdown.json`` (per method and
    CRF band), when there is one."""
    splits = [s for s in ("val", "test") if isinstance(metrics.get(s), Mapping)]
    shown = "test" if "test" in splits else (splits[-1] if splits else "test")
    methods = [m for m in (_get(breakdown, shown, "by_method") or {}) if m != "none"]
    config = _get(metrics, "model", "config") or {}
    checkpoint = _get(metrics, "model", "checkpoint")
    sample = corpus_kind == "sample"
    lines = [
        "---",
        "library_name: pytorch",
        "tags: [deepfake-detection, image-segmentation, dfmask]",
        f"datasets: [{'dfmask-sample' if sample else ', '.join(datasets)}]",
        "metrics: [roc_auc, log_loss, f1, dice]",
        "---",
        "",
        f"# Model card: `{ARTIFACT}` (U-YNet)",
        "",
        "A UNet whose shared encoder feeds two heads: a manipulation mask per face crop",
        "(segmentation, 1 = manipulated) and a real/fake logit per crop (classification).",
        "Written by the evaluate stage from its metrics file; every figure below is in",
        "`metrics.json` and `breakdown.json` next to this card.",
        "",
        *_in_short(metrics, shown),
        "## Model",
        "",
        f"- Checkpoint: `{checkpoint}`" if checkpoint else "- Checkpoint: n/a",
        *[f"- `{key}`: {_fmt(value)}" for key, value in sorted(config.items())],
        "- Input: RGB face crops (the faces stage's aligned crops), resized to `input_size`.",
        "- Outputs: mask logits (sigmoid > `evaluate.mask_threshold` = manipulated) and a FAKE logit.",
        "",
        "## Data and splits",
        "",
        (
            "- Corpus: the generated **sample corpus** (real face photos and videos with generated"
            " face swaps; docs/sample.md). Its images carry no licence: tests and demos only."
            if sample
            else "- Corpus: a DFDC-layout download at `corpus.root` (its terms apply; docs/release.md)."
            if corpus_kind == "dfdc"
            else f"- Corpora: {', '.join(corpora)} under `corpus.root` (their terms apply; docs/release.md)"
            + ("; `metrics.json` `by_source` scores each apart (docs/corpora.md)." if corpus_kind == "mixed" else ".")
        ),
        "- Crops: faces ⋈ masks ⋈ splits (`dfmask.schemas.crops.crop_join`); SSIM masks are the",
        "  segmentation target, real crops an all-zero mask.",
        "- Splits: identity-disjoint train/val/test (docs/splits.md): no actor, original or",
        "  donor appears in two splits. Trained on train, checkpoint picked on val, scored on both.",
        *_training(train),
        "",
        "## Classification",
        "",
        *_classification(metrics, splits),
        "",
        "Log loss is DFDC's (binary cross-entropy in nats, p clipped to [1e-15, 1 - 1e-15]);",
        "the per-video test figure is the one comparable to the DFDC leaderboard.",
        "",
        "Calibration (expected calibration error): "
        + "; ".join(
            f"{s}: frame {_fmt(_get(metrics, s, 'calibration', 'frame_ece'))}, "
            f"video {_fmt(_get(metrics, s, 'calibration', 'video_ece'))}"
            for s in splits
        )
        + ".",
        "",
        *_breakdown(breakdown, shown),
        "## Segmentation",
        "",
        *_segmentation(metrics, splits),
        "",
        "The mean-mask baseline predicts the train split's mean fake mask for every fake crop.",
        "",
        "## Limits",
        "",
        "- Small test split: a few dozen videos on the sample corpus, so AUC and log loss carry",
        "  wide uncertainty; `make eval-seeds` gives their spread over training seeds.",
        (
            "- Sample corpus fakes are the generator's landmark-warp swaps"
            + (f" ({', '.join(methods)})" if methods else "")
            + " of a small set of people, not DFDC's GAN and autoencoder fakes: figures here say nothing"
            ' about real deepfakes (docs/model.md, "Results and limits").'
            if sample
            else "- Scored on one DFDC-layout corpus; other generators and compressions may score lower."
            if corpus_kind == "dfdc"
            else f"- Scored on {', '.join(corpora)}; other generators and compressions may score lower."
        ),
        "- Masks are learnt from SSIM differences between a fake and its original, not from the",
        "  manipulation itself: changes SSIM misses (colour only, tiny regions) are missed too.",
        (
            "- No audio. A temporal head over each face track's frame features is scored beside the"
            " per-frame aggregation (`metrics.json` `temporal`); the headline video score is the"
            " aggregation's."
            if "temporal" in metrics
            else "- One face crop at a time, no audio: a video's score aggregates its crops' (the optional"
            " temporal head, `evaluate.temporal`, was off)."
        ),
        "- Not a forensic tool for decisions about people: research use on consented data only.",
        "",
        "## Reproduce",
        "",
        "`dvc repro evaluate` (or `dvc exp run evaluate -S train.<key>=<value>`) from the params",
        "recorded in `params.yaml` and `dvc.lock`.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    metrics_path: Path,
    out: Path,
    corpus_kind: str,
    train_report: Path | None = None,
    corpora: Sequence[str] = ("DFDC",),
    datasets: Sequence[str] = ("dfdc",),
) -> Path:
    """Read the evaluate metrics, the ``breakdown.json`` beside them and the train report
    (each when it exists), write the card."""
    metrics = json.loads(Path(metrics_path).read_text())
    train = None
    if train_report is not None and Path(train_report).exists():
        train = json.loads(Path(train_report).read_text())
    breakdown_path = Path(metrics_path).with_name("breakdown.json")
    breakdown = json.loads(breakdown_path.read_text()) if breakdown_path.exists() else None
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(metrics, corpus_kind, train, corpora, datasets, breakdown))
    os.replace(tmp, out)
    return out
