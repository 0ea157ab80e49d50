"""MODEL_CARD.md: written from the evaluate metrics JSON, figures per method, limits."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from dfmask.model import card
from dfmask.release import datasheet

REPO = Path(__file__).resolve().parents[2]


def _metrics() -> dict:
    cls = {"n": 10, "n_fake": 6, "auc": 0.8125, "average_precision": 0.9, "log_loss": 0.4, "f1": 0.75, "accuracy": 0.7}
    seg = {"n": 6, "dice": 0.61, "iou": 0.5, "baseline_dice": 0.55, "kind_mouth": {"n": 2, "dice": 0.3, "iou": 0.2}}
    split = {
        "frame": cls,
        "video": cls | {"auc": None},
        "calibration": {"frame_ece": 0.05, "video_ece": 0.07},
        "seg_ssim": seg,
        "seg_true": seg | {"dice": 0.66},
    }
    return {
        "model": {"checkpoint": "models/train/uynet.ckpt", "config": {"depth": 3}},
        "val": json.loads(json.dumps(split)),
        "test": json.loads(json.dumps(split)),
    }


def test_card_quotes_the_metrics_per_method_and_split(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(_metrics()))
    (tmp_path / "train.json").write_text(json.dumps({"train_crops": 14, "train_crops_seen": 16, "epochs": 2}))
    out = card.write_model_card(
        tmp_path / "metrics.json", tmp_path / "MODEL_CARD.md", "sample", tmp_path / "train.json"
    )
    text = out.read_text()
    assert text.startswith("---\nlibrary_name: pytorch\n")  # Hugging Face card metadata
    for section in ("## Model", "## Data and splits", "## Classification", "## Segmentation", "## Limits"):
        assert section in text
    assert "| test | per crop | 10 | 6 | 0.812 | 0.900 | 0.400 | 0.750 | 0.700 |" in text
    assert "| test | per video (evaluate.aggregation) | 10 | 6 | n/a |" in text  # undefined AUC
    assert "| val | true swap masks | 6 | 0.660 | 0.500 | 0.550 |" in text
    assert "| val | true swap masks, mouth swaps | 2 | 0.300 | 0.200 | n/a |" in text
    assert "16 crops seen over 2 epoch(s)" in text and "- `depth`: 3" in text
    assert "sample corpus" in text and "classical swaps" in text
    # deterministic: the same files give the same bytes
    again = card.write_model_card(tmp_path / "metrics.json", tmp_path / "again.md", "sample", tmp_path / "train.json")
    assert again.read_bytes() == out.read_bytes()


def test_card_for_a_real_corpus_without_train_report(tmp_path: Path) -> None:
    metrics = _metrics()
    for split in ("val", "test"):
        del metrics[split]["seg_true"]
    text = card.render(metrics, "dfdc")
    assert "true swap masks" not in text and "| test | SSIM masks | 6 |" in text
    assert "DFDC-layout download" in text and "Training report not given" in text


def test_datasheet_names_the_card_of_the_declared_model_artifact() -> None:
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]
    assert datasheet.MODEL_ARTIFACT == card.ARTIFACT
    assert artifacts[card.ARTIFACT]["type"] == "model"
    assert f"reports/eval/{card.CARD_NAME}" == datasheet.MODEL_CARD
    evaluate = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]
    assert "--out ${paths.reports}/eval" in evaluate["cmd"]


def test_card_names_the_corpora_it_was_scored_on() -> None:
    """Another layout, or a mixed run, is named as such, never as DFDC."""
    text = card.render(_metrics(), "ffpp", corpora=["FaceForensics++"], datasets=["ffpp"])
    assert "datasets: [ffpp]" in text and "DFDC-layout" not in text
    assert "- Corpora: FaceForensics++ under `corpus.root` (their terms apply; docs/release.md)." in text
    assert "- Scored on FaceForensics++;" in text
    titles = ["FaceForensics++ (`ffpp`)", "Celeb-DF v2 (`celebdf`)"]
    mixed = card.render(_metrics(), "mixed", corpora=titles, datasets=["ffpp", "celebdf"])
    assert "datasets: [ffpp, celebdf]" in mixed
    assert "`metrics.json` `by_source` scores each apart" in mixed
    assert "- Scored on FaceForensics++ (`ffpp`), Celeb-DF v2 (`celebdf`);" in mixed
