"""MODEL_CARD.md: written from the evaluate metrics JSON, figures per method, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    assert "sample corpus" in text and "landmark-warp swaps of a small set of people" in text
    assert "## In short" not in text and "## Per method" not in text  # neither figure nor breakdown given
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


def _in_short_metrics(auc: float, se: float) -> dict:
    metrics = _metrics()
    metrics["test"]["video"] |= {"auc": auc, "auc_se": se, "n": 30, "n_fake": 20}
    metrics["test"]["operating_point"] = {
        "chosen_on": "val (Youden's J)", "threshold": 0.8123, "n_real": 10, "n_fake": 20,
        "false_positive_rate": 0.3, "true_positive_rate": 0.75,
    }  # fmt: skip
    metrics["test"]["seg_real_fp"] = {"n": 40, "mean_area": 0.1234, "crops_over_1pct": 0.5}
    metrics["test"]["calibration"] |= {
        "method": "temperature",
        "video_before": {"log_loss": 0.7, "brier": 0.25, "ece_equal_mass": 0.2},
        "video_after": {"log_loss": 0.6, "brier": 0.2, "ece_equal_mass": 0.1},
    }
    return metrics


def test_card_opens_with_chance_real_faces_and_calibration() -> None:
    """What a user must read first: is the AUC told apart from chance, what the val
    threshold does to real videos, the seg head on real faces, what calibration did."""
    text = card.render(_in_short_metrics(0.58, 0.05), "sample")
    short = text.split("## In short (test split)\n\n", 1)[1].split("\n## ", 1)[0]
    assert text.index("## In short") < text.index("## Model")
    assert "- Video AUC 0.580 ± 0.050 (Hanley–McNeil standard error) on 30 videos (20 fake): within two" in short
    assert "3 of 10 real videos are called FAKE (false-positive rate 0.300)" in short
    assert "15 of 20 fake videos are found (true-positive rate 0.750)" in short
    assert "threshold 0.812 on the calibrated video probability, chosen on val (Youden's J)" in short
    assert "flags 12.3 % of a real face crop on average (50 % of the 40 real crops over 1 %)" in short
    assert "video log loss 0.700 → 0.600, Brier 0.250 → 0.200, equal-mass ECE 0.200 → 0.100" in short
    assert "more than two standard errors above chance" in card.render(_in_short_metrics(0.62, 0.05), "sample")
    assert "more than two standard errors BELOW chance" in card.render(_in_short_metrics(0.38, 0.05), "sample")


def _breakdown() -> dict:
    def group(n_fake: int, auc: float | None, tpr: float, dice: float | None, empty: float) -> dict:
        return {
            "videos": {"n_fake": n_fake, "n_real": 10, "auc": auc, "auc_se": 0.1 if auc is not None else None},
            "videos_calibrated": {"true_positive_rate": tpr, "false_positive_rate": 0.3},
            "seg": {"dice": dice, "baseline_dice": 0.8 if dice is not None else None,
                    "fp_area_empty_fake": empty, "fp_area_real": 0.15},
        }  # fmt: skip

    split = {
        "by_method": {
            "hard_paste": group(12, 0.71, 0.9, 0.85, 0.25),
            "no_change": group(11, 0.49, 0.6, None, 0.21),
            "none": {**group(0, None, 0.0, None, 0.0), "seg": {"fp_area_real": 0.15}},
        },
        "by_crf_band": {"18-22": {**group(9, 0.66, 0.8, 0.82, 0.0), "videos": {"n_fake": 9, "n_real": 4,
                                                                               "auc": 0.66, "auc_se": 0.12}}},
    }  # fmt: skip
    return {"test": split, "val": {"by_method": {"mouth": group(5, 0.5, 0.5, 0.5, 0.5)}}}


def test_card_shows_each_method_and_quality_band_of_the_breakdown(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps(_in_short_metrics(0.58, 0.05)))
    (tmp_path / "breakdown.json").write_text(json.dumps(_breakdown()))
    text = card.write_model_card(tmp_path / "metrics.json", tmp_path / "MODEL_CARD.md", "sample").read_text()
    table = text.split("## Per method and quality (test split)", 1)[1].split("\n## ", 1)[0]
    assert "| method | hard_paste | 12 | 10 | 0.710 ± 0.100 | 0.900 | 0.850 | 0.800 | 0.250 |" in table
    assert "| method | no_change | 11 | 10 | 0.490 ± 0.100 | 0.600 | n/a | n/a | 0.210 |" in table
    assert "| real videos |  |  | 10 |  | 0.300 |  |  | 0.150 |" in table
    assert "| CRF band | 18-22 | 9 | 4 | 0.660 ± 0.120 | 0.800 | 0.820 | 0.800 | 0.150 |" in table  # band: real crops
    assert "mouth" not in table  # the val split's groups are not the shown split's
    assert "swaps (hard_paste, no_change) of a small set of people" in text  # the methods scored, not "none"
    assert text.index("## Classification") < text.index("## Per method") < text.index("## Segmentation")


def test_committed_card_is_what_the_stage_writes_from_the_committed_reports(tmp_path: Path) -> None:
    """reports/eval/MODEL_CARD.md is an output of the evaluate stage in dvc.lock: a change to
    the card's code must come with the card it writes (a stale card is a stale lock)."""
    reports = REPO / "reports"
    committed = (reports / "eval" / card.CARD_NAME).read_text()
    if "datasets: [dfmask-sample]" not in committed:
        pytest.skip("reports/eval holds another corpus's run (a local dvc repro), not the committed sample's")
    out = card.write_model_card(
        reports / "eval" / "metrics.json", tmp_path / card.CARD_NAME, "sample", reports / "train" / "train.json"
    )
    assert out.read_text() == committed


def test_card_says_why_a_corpus_has_no_breakdown() -> None:
    reason = {"test": {"by_method": None, "by_crf_band": None, "reason": "no methods in the videos table"}}
    text = card.render(_metrics(), "dfdc", breakdown=reason)
    assert "## Per method and quality (test split)\n\nNone: no methods in the videos table.\n" in text
