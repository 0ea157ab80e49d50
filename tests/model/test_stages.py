"""The thin train / evaluate stage scripts, run as subprocesses on a synthetic corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from model_synthetic import write_hostile_checkpoint, write_synthetic_corpus

REPO = Path(__file__).resolve().parents[2]


def _params(tmp: Path, **train: object) -> Path:
    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    doc["train"].update(input_size=32, base_width=4, depth=2, batch_size=8, max_epochs=1, **train)
    doc["corpus"]["root"] = str(tmp / "corpus")  # inside --sample tmp: the sample corpus, scored on its truth
    doc["evaluate"]["overlays"] = 2
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / script), *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_train_and_evaluate_stage_scripts(tmp_path: Path) -> None:
    write_synthetic_corpus(tmp_path, videos_per_split=3, frames=2, size=32)
    data = [
        "--faces",
        str(tmp_path / "faces"),
        "--masks",
        str(tmp_path / "masks"),
        "--splits",
        str(tmp_path / "splits.parquet"),
    ]
    params = _params(tmp_path)
    train = _run(
        "train.py",
        "--params",
        str(params),
        *data,
        "--models",
        str(tmp_path / "models"),
        "--report",
        str(tmp_path / "reports/train"),
        "--headline",
        str(tmp_path / "reports/headline/train.json"),
    )
    assert train.returncode == 0, train.stderr[-3000:]
    assert train.stdout.startswith("train: 1 epoch on ") and "crops/s" in train.stdout
    evaluate = _run(
        "evaluate.py",
        "--params",
        str(params),
        *data,
        "--checkpoint",  # the same checkpoint twice: an ensemble of two equal members
        str(tmp_path / "models/uynet.ckpt"),
        str(tmp_path / "models/uynet.ckpt"),
        "--sample",
        str(tmp_path),
        "--out",
        str(tmp_path / "reports/eval"),
        "--headline",
        str(tmp_path / "reports/headline/evaluate.json"),
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "test: video AUC" in evaluate.stdout
    metrics = json.loads((tmp_path / "reports/eval/metrics.json").read_text())
    assert metrics["test"]["video"]["n"] == 6 and metrics["test"]["counterfactual"]["mask_source"] == "ground_truth"
    # the headline files: the few numbers `dvc exp show` shows, read from the full reports
    head_eval = json.loads((tmp_path / "reports/headline/evaluate.json").read_text())
    assert head_eval["auc"] == (
        None if metrics["test"]["video"]["auc"] is None else round(metrics["test"]["video"]["auc"], 4)
    )
    assert "## Classification" in (tmp_path / "reports/eval/MODEL_CARD.md").read_text()
    head_train = json.loads((tmp_path / "reports/headline/train.json").read_text())
    trained = json.loads((tmp_path / "reports/train/train.json").read_text())
    assert head_train["crops_seen"] == trained["train_crops_seen"] and head_train["epochs"] == 1
    assert metrics["ensemble"]["members"] == 2 and metrics["model"]["extra_checkpoints"] == [
        str(tmp_path / "models/uynet.ckpt")
    ]
    calibration = json.loads((tmp_path / "reports/eval/calibration.json").read_text())
    assert calibration["schema_version"] == 1 and calibration["fitted_on"] == "val"
    assert json.loads((tmp_path / "reports/eval/breakdown.json").read_text())["test"]["by_method"]["none"]

    # a user error is one line on stderr and exit code 2, no traceback
    bad = _params(tmp_path, init_checkpoint=str(tmp_path / "nope.ckpt"))
    failed = _run(
        "train.py", "--params", str(bad), *data, "--models", str(tmp_path / "m2"), "--report", str(tmp_path / "r2")
    )
    assert failed.returncode == 2
    assert "train: error: train.init_checkpoint:" in failed.stderr and "Traceback" not in failed.stderr

    # a checkpoint whose pickle would run a command: refused in one line by train and
    # evaluate, and the command never runs
    marker, evil = tmp_path / "pwned", tmp_path / "evil.ckpt"
    write_hostile_checkpoint(evil, marker)
    hostile = _params(tmp_path, init_checkpoint=str(evil))
    refused = [
        _run(
            "train.py",
            "--params",
            str(hostile),
            *data,
            "--models",
            str(tmp_path / "m3"),
            "--report",
            str(tmp_path / "r3"),
        ),
        _run(
            "evaluate.py",
            "--params",
            str(params),
            *data,
            "--checkpoint",
            str(evil),
            "--sample",
            str(tmp_path),
            "--out",
            str(tmp_path / "e3"),
        ),
    ]
    assert not marker.exists()
    for done, script in zip(refused, ("train", "evaluate"), strict=True):
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
        (line,) = [x for x in done.stderr.splitlines() if x.startswith(f"{script}: error: ")]
        assert str(evil) in line and "refused to import" in line
