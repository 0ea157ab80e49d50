"""Per-method / per-CRF-band breakdowns and the overlay pick, on tiny synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from dfmask.model import breakdown
from dfmask.model.plots import pick_overlays

# 4 real videos, 3 hard_paste fakes, 3 autoencoder fakes; 2 crops per video
VIDEOS = [f"r{i}" for i in range(4)] + [f"h{i}" for i in range(3)] + [f"a{i}" for i in range(3)]
Y = np.array([False] * 4 + [True] * 6)
P = np.array([0.2, 0.6, 0.3, 0.1, 0.9, 0.8, 0.4, 0.5, 0.35, 0.7])
CRF = {"r0": 20, "r1": 25, "r2": 28, "r3": 31, "h0": 20, "h1": 25, "h2": 33, "a0": 28, "a1": 31, "a2": 19}
METHOD = {v: ("hard_paste" if v[0] == "h" else "autoencoder") for v in VIDEOS if v[0] != "r"}


def _arrays() -> breakdown.SplitArrays:
    crop_video = [v for v in VIDEOS for _ in range(2)]
    frame_y = np.repeat(Y, 2)
    frame_p = np.repeat(P, 2) + np.tile([-0.05, 0.05], len(VIDEOS))
    dice = np.where(frame_y, 0.5, np.nan)
    dice[np.array([v.startswith("h") for v in crop_video])] = 0.8
    dice[-1] = np.nan  # one autoencoder crop with an empty truth
    truth_empty = ~frame_y
    truth_empty[-1] = True
    area = np.where(frame_y, 0.2, 0.01)
    area[:2] = 0.05  # r0's crops
    return breakdown.SplitArrays(
        VIDEOS,
        Y,
        P,
        P * 0.5,
        crop_video,
        frame_y,
        frame_p,
        dice,
        np.where(np.isnan(dice), np.nan, 0.6),
        area,
        truth_empty,
    )


def _attributes(with_method: bool = True, with_crf: bool = True) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for v, fake in zip(VIDEOS, Y, strict=True):
        attrs: dict[str, object] = {"swap_kind": "full" if fake else "none"}
        if with_method:
            attrs["method"] = METHOD.get(v, "none")
        if with_crf:
            attrs["crf"] = CRF[v]
        out[v] = attrs
    return out


def test_crf_bands() -> None:
    assert [breakdown.video_band(c) for c in (18, 22, 23, 26, 27, 29, 30, 32)] == [
        "18-22", "18-22", "23-26", "23-26", "27-29", "27-29", "30-32", "30-32"
    ]  # fmt: skip
    assert breakdown.video_band(33) == "other" and breakdown.video_band(17) == "other"
    assert breakdown.video_band(None) is None


def test_by_method_is_each_methods_fakes_against_every_real() -> None:
    doc = breakdown.split_breakdown(_arrays(), _attributes(), threshold=0.3, n_bins=5)
    methods = doc["by_method"]
    assert sorted(methods) == ["autoencoder", "hard_paste", "none"]
    hard = methods["hard_paste"]["videos"]
    sel = np.array([v[0] in "rh" for v in VIDEOS])
    assert (hard["n"], hard["n_fake"], hard["n_real"]) == (7, 3, 4)
    assert hard["auc"] == pytest.approx(skm.roc_auc_score(Y[sel], P[sel]))
    assert hard["log_loss"] == pytest.approx(skm.log_loss(Y[sel], P[sel]))
    assert hard["accuracy"] == pytest.approx(np.mean((P[sel] >= 0.5) == Y[sel]))
    assert hard["auc_se"] is not None and 0 < hard["auc_se"] < 0.5
    frames = methods["hard_paste"]["frames"]
    assert frames["n"] == 14 and frames["n_fake"] == 6
    # the reals alone: no AUC, accuracy = 1 − FPR at 0.5 (one real of four scores 0.6)
    real = methods["none"]
    assert real["videos"]["auc"] is None and real["videos"]["accuracy"] == 0.75
    # calibrated (p/2 here) rates at the threshold 0.3: FPR 1/4 (0.6/2), TPR of hard_paste 2/3
    assert real["videos_calibrated"]["false_positive_rate"] == 0.25
    assert methods["hard_paste"]["videos_calibrated"]["true_positive_rate"] == pytest.approx(2 / 3)
    # seg over the method's own crops: hard_paste Dice 0.8 vs baseline 0.6
    seg = methods["hard_paste"]["seg"]
    assert seg["n_swapped_crops"] == 6 and seg["dice"] == pytest.approx(0.8)
    assert seg["dice_gain"] == pytest.approx(0.2) and seg["n_real_crops"] == 0
    auto = methods["autoencoder"]["seg"]
    assert auto["n_swapped_crops"] == 5 and auto["n_empty_fake_crops"] == 1
    assert auto["fp_area_empty_fake"] == pytest.approx(0.2)
    # seg of the reals: predicted area on real crops (r0 0.05, the others 0.01)
    assert real["seg"]["n_real_crops"] == 8
    assert real["seg"]["fp_area_real"] == pytest.approx((2 * 0.05 + 6 * 0.01) / 8)
    assert real["seg"]["real_crops_over_1pct"] == pytest.approx(0.25)


def test_by_crf_band_holds_reals_and_fakes_of_the_band() -> None:
    doc = breakdown.split_breakdown(_arrays(), _attributes(), threshold=0.5, n_bins=5)
    bands = doc["by_crf_band"]
    assert sorted(bands) == ["18-22", "23-26", "27-29", "30-32", "other"]
    low = bands["18-22"]["videos"]  # r0, h0, a2
    assert (low["n"], low["n_fake"]) == (3, 2)
    assert low["auc"] == pytest.approx(skm.roc_auc_score([0, 1, 1], [0.2, 0.9, 0.35]))
    assert bands["other"]["videos"]["n"] == 1 and bands["other"]["videos"]["auc"] is None


def test_fallbacks_without_method_crf_or_ground_truth() -> None:
    doc = breakdown.split_breakdown(_arrays(), _attributes(with_method=False, with_crf=False), 0.5, 5)
    assert sorted(doc["by_method"]) == ["full", "none"]  # swap_kind stands in for method
    assert doc["by_method"]["full"]["videos"]["n"] == 10
    assert doc["by_crf_band"] is None
    partial = _attributes()
    del partial["h0"], partial["r3"]
    doc = breakdown.split_breakdown(_arrays(), partial, 0.5, 5)
    assert sorted(doc["by_method"]) == ["autoencoder", "hard_paste", "none", "unknown"]
    assert doc["by_method"]["unknown"]["videos"]["n_fake"] == 1 and doc["by_method"]["none"]["videos"]["n"] == 4
    assert sum(b["videos"]["n"] for b in doc["by_crf_band"].values()) == 8  # two videos without a CRF
    none = breakdown.split_breakdown(_arrays(), None, 0.5, 5)
    assert none["by_method"] is None and none["by_crf_band"] is None and "no ground truth" in none["reason"]


def test_a_corpus_videos_table_gives_its_methods_and_qualities() -> None:
    import pyarrow as pa

    quality = {v: ("c23" if k % 2 else "c40") for k, v in enumerate(VIDEOS)}
    table = pa.table(
        {
            "video_id": VIDEOS,
            "method": [METHOD.get(v) for v in VIDEOS],  # None for reals, as ingest writes them
            "quality": [quality[v] for v in VIDEOS],
            "status": ["ok"] * len(VIDEOS),
        }
    )
    attributes = breakdown.corpus_attributes(table)
    assert attributes is not None and attributes["h1"] == {"method": "hard_paste", "quality": quality["h1"]}
    doc = breakdown.split_breakdown(_arrays(), attributes, 0.5, 5)
    assert sorted(doc["by_method"]) == ["autoencoder", "hard_paste", "none"]
    assert doc["by_method"]["hard_paste"]["videos"]["n"] == 7
    assert doc["by_method"]["hard_paste"]["seg"]["dice"] == pytest.approx(0.8)
    bands = doc["by_crf_band"]
    assert sorted(bands) == ["c23", "c40"] and bands["c23"]["videos"]["n"] == 5
    # no methods and no qualities (DFDC-like), or no table: nothing to break down by
    blank = table.set_column(1, "method", pa.nulls(len(VIDEOS), pa.string()))
    blank = blank.set_column(2, "quality", pa.nulls(len(VIDEOS), pa.string()))
    assert breakdown.corpus_attributes(blank) is None and breakdown.corpus_attributes(None) is None


def test_by_source_is_each_source_side_by_side_with_sklearn_aucs() -> None:
    """A mixed run: r0, r1, h* from source ``ffpp``; r2, r3, a* from ``celebdf`` (the
    held-out one). Each source's figures are its own videos' and crops', real and fake."""
    import pyarrow as pa

    source = {v: "ffpp" if v in ("r0", "r1") or v[0] == "h" else "celebdf" for v in VIDEOS}
    table = pa.table({"video_id": VIDEOS, "method": [METHOD.get(v) for v in VIDEOS], "quality": [None] * len(VIDEOS)})
    attributes = breakdown.corpus_attributes(table, source)
    assert attributes is not None and attributes["a0"]["source"] == "celebdf"
    doc = breakdown.split_breakdown(_arrays(), attributes, 0.5, 5)
    arrays = _arrays()
    crop_video = np.array(arrays.crop_video)
    for name in ("ffpp", "celebdf"):
        mine = np.array([source[v] == name for v in VIDEOS])
        got = doc["by_source"][name]
        assert got["videos"]["n"] == mine.sum() == got["videos"]["n_fake"] + got["videos"]["n_real"]
        assert got["videos"]["auc"] == pytest.approx(skm.roc_auc_score(Y[mine], P[mine]))
        crops = np.array([source[v] == name for v in crop_video])
        assert got["frames"]["auc"] == pytest.approx(skm.roc_auc_score(arrays.frame_y[crops], arrays.frame_p[crops]))
    table_doc = breakdown.cross_corpus({"test": doc, "val": {"by_method": None}})
    assert set(table_doc) == {"test"} and set(table_doc["test"]) == {"ffpp", "celebdf"}
    assert table_doc["test"]["celebdf"]["video_auc"] == doc["by_source"]["celebdf"]["videos"]["auc"]
    assert table_doc["test"]["ffpp"]["videos"] == 5 and table_doc["test"]["ffpp"]["fake_videos"] == 3
    # one corpus read on its own: no source, no by_source, no table
    single = breakdown.split_breakdown(_arrays(), breakdown.corpus_attributes(table), 0.5, 5)
    assert "by_source" not in single and breakdown.cross_corpus({"test": single}) is None


def test_pick_overlays_covers_every_method_and_the_reals() -> None:
    rows = np.arange(20)
    groups = ["none"] * 8 + ["hard_paste"] * 6 + ["mouth"] * 1 + ["no_change"] * 5
    fake = np.array([g != "none" for g in groups])
    picks = pick_overlays(rows, groups, fake, 6)
    picked = [groups[r] for r in picks]
    assert len(picks) == 6 and len(set(picks)) == 6
    assert set(picked) == {"none", "hard_paste", "mouth", "no_change"}
    assert picked[-1] == "none"  # fakes first (by method name), reals last
    assert pick_overlays(rows, groups, fake, 6) == picks  # deterministic
    assert sorted(pick_overlays(rows, groups, fake, 50)) == rows.tolist()  # capped at every crop
    assert pick_overlays(rows, groups, fake, 0) == []
