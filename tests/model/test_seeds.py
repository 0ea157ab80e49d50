"""Seed summary: mean and sample sd over seeds, missing figures skipped."""

from __future__ import annotations

import pytest

from dfmask.model.seeds import summarise


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
