"""Seed summary: mean and sample sd over seeds, missing figures skipped; the seeds' ensemble."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from model_synthetic import tiny_train_params, write_synthetic_corpus

from dfmask.model.seeds import describe, eval_seeds, summarise
from dfmask.params import CorpusParams, EvaluateParams, PathsParams

TINY = tiny_train_params(max_epochs=1, limit_train_batches=2)


def test_summarise_mean_sd_and_missing() -> None:
    docs = {
        0: {"test": {"video": {"auc": 0.90}, "seg_true": {"dice": 0.5}}},
        1: {"test": {"video": {"auc": 0.80}}},
        2: {"test": {"video": {"auc": 1.00}, "seg_true": {"dice": None}}},
    }
    out = summarise(docs)
    assert out["video_auc"]["n"] == 3
    assert out["video_auc"]["mean"] == pytest.approx(0.9)
    assert out["video_auc"]["sd"] == pytest.approx(0.1)  # sample sd (ddof=1)
    assert out["seg_true_dice"] == {"n": 1, "mean": 0.5, "sd": None, "min": 0.5, "max": 0.5}
    assert out["counterfactual_drop"]["mean"] is None


def test_the_summary_line_shows_no_spread_for_one_value_and_how_many_seeds_had_it() -> None:
    docs = {
        0: {"test": {"video": {"auc": 0.90}, "seg_true": {"dice": 0.5}}},
        1: {"test": {"video": {"auc": 0.80}}},
        2: {"test": {"video": {"auc": 1.00}}},
    }
    line = describe({"seeds": [0, 1, 2], "summary": summarise(docs), "ensemble": None}, "x.json")
    assert line.startswith("3 seeds: test video AUC 0.900 ± 0.100,")
    assert "Dice vs true masks 0.500 (of 1 seed)" in line and "± 0.000" not in line
    assert "counterfactual drop n/a" in line
    one = describe({"seeds": [7], "summary": summarise({7: docs[0]}), "ensemble": None}, "x.json")
    assert one.startswith("1 seed: test video AUC 0.900,")


@pytest.mark.slow
def test_eval_seeds_evaluates_the_seeds_as_an_ensemble(tmp_path: Path) -> None:
    """Two tiny seeds on the synthetic corpus: per-seed figures, and the ensemble of both
    checkpoints beside its members (whose figures are the per-seed runs')."""
    write_synthetic_corpus(tmp_path, videos_per_split=4, frames=2, size=32)
    paths = dataclasses.replace(
        PathsParams(),
        faces=str(tmp_path / "faces"),
        masks=str(tmp_path / "masks"),
        splits=str(tmp_path / "splits.parquet"),
        sample=str(tmp_path),
    )
    corpus = CorpusParams(root=str(tmp_path / "corpus"), parts=(0, 1))
    evaluate = EvaluateParams(seeds=(0, 1), overlays=0, bootstrap=0)
    doc = eval_seeds(TINY, evaluate, corpus, paths, tmp_path / "work", tmp_path / "eval_seeds.json")
    assert json.loads((tmp_path / "eval_seeds.json").read_text())["seeds"] == [0, 1]
    ens = doc["ensemble"]
    assert ens["seeds"] == [0, 1] and ens["single_vs_ensemble"]["members"] == 2
    for k, seed in enumerate(("0", "1")):
        single = ens["single_vs_ensemble"]["single"][k]
        assert single["video_auc"] == pytest.approx(doc["runs"][seed]["video_auc"], abs=1e-6)
    assert ens["figures"]["video_auc"] == pytest.approx(ens["single_vs_ensemble"]["ensemble"]["video_auc"], abs=1e-6)
    assert doc["summary"]["video_fpr_at_val_threshold"]["n"] == 2
