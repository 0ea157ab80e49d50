"""train → evaluate on a synthetic corpus written with the real table specs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from model_synthetic import tiny_train_params, train_paths, write_hostile_checkpoint, write_synthetic_corpus

from dfmask import metrics
from dfmask.errors import DfmaskError
from dfmask.model import calibration, evaluate, train
from dfmask.model.evaluate import EvalPaths
from dfmask.model.uynet import load_checkpoint, load_torch_file
from dfmask.params import CorpusParams, EvaluateParams

TINY = tiny_train_params()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, videos_per_split=4, frames=2, size=32)
    return root


_paths = train_paths


def test_train_writes_checkpoint_reports_and_is_deterministic(corpus: Path) -> None:
    a, b = _paths(corpus, "a"), _paths(corpus, "b")
    report = train.run(TINY, a, (0, 1))
    train.run(TINY, b, (0, 1))
    assert report.summary().startswith("2 epochs on 16 crops (8 per epoch, drawn from 14 train crops; ")
    assert report.summary().endswith(f"; {a.checkpoint} (see {a.report_dir}/train.json)")
    assert a.checkpoint.exists() and (a.model_dir / "uynet_config.json").exists()
    doc = json.loads((a.report_dir / "train.json").read_text())
    # train split: 4 real + 4 fake videos x 2 frames, minus the failed fake's 2 crops (no seg
    # target, and cls_on_invalid is false) = 14 crops → 1 full batch of 8 per epoch, 2 epochs
    assert doc["train_crops"] == 14
    # the 8 real train crops are also drawn as self-blended fakes (default frac 0.5)
    assert doc["self_blend_sources"] == 8 and doc["self_blend_frac"] == 0.5
    assert doc["epoch_crops_per_s"] > 0 and doc["train_crops_seen"] == 2 * 1 * 8
    assert doc["data"]["fake_crops_invalid_mask"] == 6
    assert (a.report_dir / "metrics.json").exists()  # DVCLive summary
    assert not (a.report_dir / "dvc.yaml").exists()  # dvcyaml=False
    model_a, cfg = load_checkpoint(a.checkpoint)
    model_b, _ = load_checkpoint(b.checkpoint)
    assert cfg.base_width == 4 and report.doc["parameters"] > 0
    for (name, wa), (_, wb) in zip(model_a.state_dict().items(), model_b.state_dict().items(), strict=True):
        assert torch.equal(wa, wb), name
    # the checkpoint does not depend on the folder it is written to (DESIGN: no absolute
    # paths in outputs): runs a and b, in two folders, give the same bytes
    assert a.checkpoint.read_bytes() == b.checkpoint.read_bytes()
    assert str(corpus).encode() not in a.checkpoint.read_bytes()


def _val_losses(report_dir: Path) -> list[float]:
    lines = (report_dir / "plots/metrics/val/loss.tsv").read_text().splitlines()[1:]
    return [float(line.split("\t")[1]) for line in lines]


def test_checkpoint_keeps_last_epoch_or_lowest_val_loss(corpus: Path) -> None:
    params = dataclasses.replace(TINY, max_epochs=3, limit_val_batches=2)
    last = _paths(corpus, "last")
    doc = train.run(params, last, (0, 1)).doc
    assert doc["monitor"] == "last epoch" and doc["best_val_loss"] is None
    assert load_torch_file(last.checkpoint)["epoch"] == 2
    best = _paths(corpus, "best")
    doc = train.run(dataclasses.replace(params, checkpoint="best_val_loss"), best, (0, 1)).doc
    losses = _val_losses(best.report_dir)
    assert doc["monitor"] == "val/loss" and len(losses) == 3
    assert doc["best_val_loss"] == pytest.approx(min(losses), rel=1e-6)
    saved = load_torch_file(best.checkpoint)
    assert saved["epoch"] == int(np.argmin(losses))
    # the callback state names the kept file relative to its folder, never by absolute path
    [state] = saved["callbacks"].values()
    assert state["dirpath"] == "." and state["best_model_path"] == best.checkpoint.name
    assert list(state["best_k_models"]) == [best.checkpoint.name]
    assert str(corpus).encode() not in best.checkpoint.read_bytes()


def test_init_checkpoint_missing_is_a_clear_error(corpus: Path) -> None:
    params = dataclasses.replace(TINY, init_checkpoint=str(corpus / "missing.ckpt"))
    with pytest.raises(DfmaskError, match=r"train.init_checkpoint: .*missing.ckpt does not exist"):
        train.run(params, _paths(corpus, "c"), (0, 1))


def test_init_checkpoint_that_would_run_code_is_refused(corpus: Path, tmp_path: Path) -> None:
    marker, evil = tmp_path / "pwned", tmp_path / "evil.ckpt"
    write_hostile_checkpoint(evil, marker)
    params = dataclasses.replace(TINY, init_checkpoint=str(evil))
    with pytest.raises(DfmaskError) as caught:
        train.run(params, _paths(corpus, "evil"), (0, 1))
    assert not marker.exists(), "train.init_checkpoint ran the checkpoint's command"
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"train.init_checkpoint: {evil}: ")


def test_evaluate_reports_every_group(corpus: Path) -> None:
    paths = _paths(corpus, "a")
    if not paths.checkpoint.exists():
        train.run(TINY, paths, (0, 1))
    out = corpus / "a/reports/eval"
    # corpus.root inside the folder holding ground_truth.parquet: the sample corpus
    sample = CorpusParams(root=str(corpus / "corpus"), parts=(0, 1))
    report = evaluate.run(EvaluateParams(overlays=4), _eval_paths(corpus, paths.checkpoint, out), sample)
    doc = report.doc
    assert report.summary().startswith("val: video AUC ") and report.summary().endswith(f"(see {out}/metrics.json)")
    test: dict[str, Any] = doc["test"]
    assert test["video"]["n"] == 8 and test["videos_without_faces"] == 0
    assert test["frame"]["n"] == 16
    # 4 fakes x 2 frames, one failed fake: 6 crops with a true mask, 2 with an empty one
    assert test["seg_true"]["n"] == 6 and test["seg_true_empty_fp"]["n"] == 2
    # synthetic SSIM masks ARE the true masks, so the crop_box mapping must reproduce them
    assert test["seg_true"]["baseline_dice"] == pytest.approx(test["seg_ssim"]["baseline_dice"])
    assert test["seg_true"]["dice"] == pytest.approx(test["seg_ssim"]["dice"])
    assert test["counterfactual"]["n"] == 6 and test["counterfactual"]["mask_source"] == "ground_truth"
    assert 0 <= test["calibration"]["frame_ece"] <= 1
    written = json.loads((out / "metrics.json").read_text())
    assert written["test"]["video"]["n"] == 8
    for name in ("roc_video", "pr_video", "confusion_video", "roc_frame", "calibration_frame"):
        assert (out / f"plots/sklearn/test/{name}.json").exists(), name
    assert (out / "overlays.png").stat().st_size > 1000 and (out / "reliability.png").exists()
    # Hanley–McNeil: 4 fake, 4 real test videos
    auc = test["video"]["auc"]
    assert test["video"]["auc_se"] == pytest.approx(metrics.auc_standard_error(auc, 4, 4))
    assert 0 < test["video"]["auc_se"] < 0.3
    # video false/true-positive rates at the val-chosen threshold, calibration before/after
    op = test["operating_point"]
    assert (op["n_real"], op["n_fake"]) == (4, 4) and op["threshold"] == doc["calibration"]["threshold"]
    assert test["calibration"]["method"] == doc["calibration"]["method"]
    assert test["calibration"]["video_before"]["log_loss"] == pytest.approx(test["video"]["log_loss"])
    assert set(test["calibration"]["other_methods_after"]) == {"isotonic", "none"}
    # the true-mask baseline: the train fakes' non-empty true masks (3 videos x 2 frames)
    assert doc["baseline_mean_true_mask"]["train_masks"] == 6
    # the synthetic truth's method (classical) and crf (18, one band) columns
    parts = json.loads((out / "breakdown.json").read_text())
    assert sorted(parts["test"]["by_method"]) == ["classical", "none"]
    assert list(parts["test"]["by_crf_band"]) == ["18-22"] and parts["test"]["by_crf_band"]["18-22"]["videos"]["n"] == 8
    assert parts["test"]["by_method"]["classical"]["videos"]["n"] == 8
    assert parts["test"]["by_method"]["none"]["seg"]["n_real_crops"] == 8
    assert json.loads((out / "calibration.json").read_text())["aggregation"] == "max"


def test_evaluate_without_ground_truth_uses_ssim_masks(corpus: Path, tmp_path: Path) -> None:
    paths = _paths(corpus, "a")
    if not paths.checkpoint.exists():
        train.run(TINY, paths, (0, 1))
    params = EvaluateParams(splits=("test",), overlays=2)
    real = CorpusParams(root=str(tmp_path / "dfdc"), parts=(0, 1))  # a corpus outside the sample folder
    doc = evaluate.run(params, _eval_paths(corpus, paths.checkpoint, corpus / "a/eval_nogt"), real).doc
    assert "seg_true" not in doc["test"]
    parts = json.loads((corpus / "a/eval_nogt/breakdown.json").read_text())
    assert parts["test"]["by_method"] is None and "no ground truth" in parts["test"]["reason"]
    assert doc["test"]["counterfactual"]["mask_source"] == "ssim"
    # the sample corpus without its ground truth (dvc repro sample not run) is an error
    empty = tmp_path / "sample"
    lost = CorpusParams(root=str(empty / "corpus"), parts=(0, 1))
    bad = dataclasses.replace(_eval_paths(corpus, paths.checkpoint, corpus / "a/eval_bad"), sample=empty)
    with pytest.raises(DfmaskError, match=r"ground_truth.parquet: no ground truth, but corpus.root lies inside"):
        evaluate.run(params, bad, lost)


def _sample_with_methods(corpus: Path, sample: Path) -> dict[str, tuple[str, int]]:
    """A copy of the synthetic ground truth with other video-level ``method`` and ``crf``
    values (several methods and bands; the same schema metadata)."""
    table = pq.read_table(corpus / "ground_truth.parquet")
    videos = sorted(set(table["video_id"].to_pylist()))
    methods = ("hard_paste", "autoencoder")
    crfs = (20, 24, 28, 31)
    attrs = {v: ("none" if v.startswith("r") else methods[k % 2], crfs[k % 4]) for k, v in enumerate(videos)}
    vids = table["video_id"].to_pylist()
    for name, k, kind in (("method", 0, pa.string()), ("crf", 1, pa.int32())):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pa.array([attrs[v][k] for v in vids], kind))
    sample.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, sample / "ground_truth.parquet")
    return attrs


def test_evaluate_breakdown_calibration_ensemble_deterministic(corpus: Path, tmp_path: Path) -> None:
    paths = _paths(corpus, "a")
    if not paths.checkpoint.exists():
        train.run(TINY, paths, (0, 1))
    sample = tmp_path / "sample"
    attrs = _sample_with_methods(corpus, sample)
    params = EvaluateParams(overlays=3, calibration="isotonic", bootstrap=50)
    on_sample = CorpusParams(root=str(sample / "corpus"), parts=(0, 1))
    outs = []
    for run in ("one", "two"):
        out = tmp_path / run
        base = _eval_paths(corpus, paths.checkpoint, out)
        evaluate.run(params, dataclasses.replace(base, sample=sample), on_sample)
        outs.append(out)
    for name in ("metrics.json", "breakdown.json", "calibration.json", "reliability.png", "overlays.png"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    parts = json.loads((outs[0] / "breakdown.json").read_text())
    test_videos = json.loads((outs[0] / "metrics.json").read_text())["test"]["video"]
    by_method = parts["test"]["by_method"]
    assert sorted(by_method) == ["autoencoder", "hard_paste", "none"]
    assert sum(by_method[m]["videos"]["n_fake"] for m in ("autoencoder", "hard_paste")) == test_videos["n_fake"]
    assert all(by_method[m]["videos"]["n_real"] == by_method["none"]["videos"]["n"] for m in by_method)
    test_fakes = {m for v, (m, _) in attrs.items() if v.startswith("f")}
    assert test_fakes == {"autoencoder", "hard_paste"}
    bands = parts["test"]["by_crf_band"]
    assert set(bands) <= {"18-22", "23-26", "27-29", "30-32"}
    assert sum(b["videos"]["n"] for b in bands.values()) == test_videos["n"]
    point = calibration.read_calibration(outs[0] / "calibration.json")
    assert point.method == "isotonic" and point.fitted_on == "val"
    assert (point.frame_aggregation, point.aggregation) == ("mean", "max")  # EvaluateParams' defaults
    assert point.threshold == pytest.approx(parts["threshold"], abs=1e-6)  # exact in calibration.json
    # an ensemble of the same checkpoint twice: the members and the ensemble agree
    ens = evaluate.run(
        EvaluateParams(splits=("test",), overlays=0, bootstrap=0),
        dataclasses.replace(
            _eval_paths(corpus, paths.checkpoint, tmp_path / "ens"), extra_checkpoints=(paths.checkpoint,)
        ),
        CorpusParams(root=str(tmp_path / "dfdc"), parts=(0, 1)),
    ).doc
    assert ens["ensemble"]["members"] == 2
    assert ens["ensemble"]["single"][0] == ens["ensemble"]["single"][1] == ens["ensemble"]["ensemble"]
    assert ens["ensemble"]["ensemble"]["video_auc"] == pytest.approx(ens["test"]["video"]["auc"])


def _eval_paths(corpus: Path, checkpoint: Path, out: Path) -> EvalPaths:
    return EvalPaths(corpus / "faces", corpus / "masks", corpus / "splits.parquet", checkpoint, corpus, out)


def test_evaluate_temporal_head_is_reported_beside_the_frame_rules(corpus: Path, tmp_path: Path) -> None:
    paths = _paths(corpus, "a")
    if not paths.checkpoint.exists():
        train.run(TINY, paths, (0, 1))
    real = CorpusParams(root=str(tmp_path / "dfdc"), parts=(0, 1))
    off = EvaluateParams(overlays=0, bootstrap=0)
    on = dataclasses.replace(off, temporal=dataclasses.replace(off.temporal, enabled=True, steps=20))
    plain = evaluate.run(off, _eval_paths(corpus, paths.checkpoint, tmp_path / "off"), real).doc
    doc = evaluate.run(on, _eval_paths(corpus, paths.checkpoint, tmp_path / "on"), real).doc
    assert "temporal" not in plain
    section = doc["temporal"]
    # the headline keeps the frame rule: every other figure is unchanged
    assert {k: v for k, v in doc.items() if k != "temporal"} == plain
    assert section["train"]["videos"] == 4 * 2  # 4 real + 4 fake train videos
    assert section["train"]["tracks"] >= section["train"]["videos"]
    for split in ("val", "test"):
        got = section[split]
        assert got["videos"] == plain[split]["video"]["n"]
        for rule in ("mean", "confident"):
            assert got[rule]["auc"] == pytest.approx(plain[split][f"video_{rule}"]["auc"], abs=1e-6)
            assert got[rule]["log_loss"] == pytest.approx(plain[split][f"video_{rule}"]["log_loss"], abs=1e-6)
        assert 0.0 <= got["temporal"]["auc"] <= 1.0
    val = section["val"]
    for kind in ("log_loss", "log_loss_calibrated"):
        gain = section[f"val_gain_{kind}"]
        best = min(val["mean"][kind], val["confident"][kind])
        assert gain["gain"] == pytest.approx(best - val["temporal"][kind], abs=1e-5)
    # calibrated on val in-sample: a temperature never worsens val's own log loss
    assert val["temporal"]["log_loss_calibrated"] <= val["temporal"]["log_loss"] + 1e-6
