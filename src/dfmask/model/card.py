"""MODEL_CARD.md for a trained U-YNet, written from the evaluate stage's metrics JSON.

A model card in the Hugging Face sense: what the model is, what it was trained and
scored on, its figures per method and split, and its limits. Every figure is read from
``<evaluate out>/metrics.json`` (and, when given, the train stage's ``train.json`` for
what training saw), so the card is as deterministic as those files and never disagrees
with them. The evaluate stage writes it next to the metrics (``reports/eval/MODEL_CARD.md``);
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
) -> str:
    """The card's Markdown. ``corpus_kind``: ``"sample"`` for the generated sample, else
    ``corpus.kind``; ``corpora``: what the run's corpora are called
    (`dfmask.corpus.adapters.corpus_titles`); ``datasets``: their layout ids, for the
    front matter."""
    splits = [s for s in ("val", "test") if isinstance(metrics.get(s), Mapping)]
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
        "`metrics.json` next to this card.",
        "",
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
            "- Corpus: the generated **sample corpus** (real face photos and videos with classical"
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
            "- Sample corpus fakes are classical swaps, not DFDC's GAN and autoencoder fakes: figures"
            ' here say nothing about real deepfakes (docs/model.md, "Results and limits").'
            if sample
            else "- Scored on one DFDC-layout corpus; other generators and compressions may score lower."
            if corpus_kind == "dfdc"
            else f"- Scored on {', '.join(corpora)}; other generators and compressions may score lower."
        ),
        "- Masks are learnt from SSIM differences between a fake and its original, not from the",
        "  manipulation itself: changes SSIM misses (colour only, tiny regions) are missed too.",
        "- One face crop at a time: no audio, no temporal model beyond averaging crops per video.",
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
    """Read the evaluate metrics (and the train report when it exists), write the card."""
    metrics = json.loads(Path(metrics_path).read_text())
    train = None
    if train_report is not None and Path(train_report).exists():
        train = json.loads(Path(train_report).read_text())
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(metrics, corpus_kind, train, corpora, datasets))
    os.replace(tmp, out)
    return out
