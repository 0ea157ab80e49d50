"""Forensic cue measurement: each cue detects the artefact it is meant for, and only that;
with methods, the same per method."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import tools.forensics as forensics
from dfmask.errors import DfmaskError
from tools.forensics import (
    CUES,
    border_bands,
    corpus_pairs,
    cue_values,
    fixed_region,
    fixed_region_detector,
    measure,
    separability,
)


def _pairs(kind: str, n: int = 24) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(real, fake, mask) triples; ``kind`` = what the fake's region got: blur, colour or nothing."""
    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        real = np.clip(rng.normal(128, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        mask = np.zeros((64, 64), np.uint8)
        cv2.circle(mask, (32, 32), 16, 1, -1)
        fake = real.copy()
        if kind == "blur":  # pasted face without the frame's noise
            fake[mask > 0] = cv2.GaussianBlur(real, (0, 0), 1.5)[mask > 0]
        elif kind == "colour":  # pasted face with a colour seam
            seam = np.array([30, -10, 5])
            fake[mask > 0] = np.clip(real[mask > 0].astype(int) + seam, 0, 255).astype(np.uint8)
        elif kind in ("hard", "feathered"):  # a smooth face with a brighter donor pasted in
            real = np.clip(rng.normal(128, 3, (64, 64, 3)), 0, 255).astype(np.uint8)
            alpha = mask.astype(np.float32)
            if kind == "feathered":
                alpha = cv2.GaussianBlur(alpha, (0, 0), 4.0)
            donor = np.clip(real.astype(np.float32) + np.array([25.0, 20.0, 10.0]), 0, 255)
            fake = np.round(donor * alpha[..., None] + real * (1 - alpha[..., None])).astype(np.uint8)
        out.append((real, fake, mask))
    return out


def test_blur_shows_in_noise_and_sharpness_not_in_colour() -> None:
    doc = measure(_pairs("blur"))
    assert doc["pairs"] == 24 and doc["skipped_small_region"] == 0
    assert doc["noise_ratio"]["auc"] > 0.95 and doc["sharpness_ratio"]["auc"] > 0.95
    assert doc["noise_ratio"]["fake_mean"] < doc["noise_ratio"]["real_mean"]
    assert doc["colour_step"]["auc"] < 0.8


def test_colour_seam_shows_in_colour_step() -> None:
    doc = measure(_pairs("colour"))
    assert doc["colour_step"]["auc"] > 0.95
    assert doc["colour_step"]["fake_mean"] > doc["colour_step"]["real_mean"]


def test_identical_fakes_carry_nothing() -> None:
    doc = measure(_pairs("none"))
    for cue in CUES:
        assert doc[cue]["auc"] == pytest.approx(0.5)


def test_a_hard_paste_shows_in_the_seam_a_feathered_one_does_not() -> None:
    hard, feathered = measure(_pairs("hard")), measure(_pairs("feathered"))
    assert hard["seam"]["auc"] > 0.95 and hard["seam"]["fake_mean"] > 2 * hard["seam"]["real_mean"]
    # a ratio: on an image without an edge there, the border is as busy as its surroundings
    assert 0.8 < hard["seam"]["real_mean"] < 1.25
    # the same colour change faded out over ~4 px leaves no edge on the border itself
    assert feathered["seam"]["fake_mean"] < 0.5 * hard["seam"]["fake_mean"]
    assert feathered["colour_step"]["auc"] > 0.95  # ... though the colours still differ


def test_border_bands_lie_on_and_beside_the_border() -> None:
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    border, near = border_bands(mask, 4)
    # rows 9 | 10 meet at the top border: the first pixel on each side is the border ...
    assert [r for r in range(40) if border[r, 20]] == [9, 10, 29, 30]
    # ... the 3rd to 5th pixels on each side are its neighbourhood
    assert [r for r in range(20) if near[r, 20]] == [5, 6, 7, 12, 13, 14]
    assert not (border & near).any()


def test_video_auc_compares_videos_not_crops() -> None:
    # fakes f1, f2 of original o1, f3 of o2, f4 of o3, three crop pairs each: a video's
    # figure is the MEAN over its crops, an original's over every crop paired with its fakes
    # (the values are chosen so that medians, or originals keyed per fake, give other AUCs)
    real = {"f1": [4, 4, 7], "f2": [8, 0, 9], "f3": [5, 3, 6], "f4": [5, 2, 3]}
    fake = {"f1": [7, 5, 5], "f2": [3, 7, 3], "f3": [3, 8, 2], "f4": [2, 7, 6]}
    original = {"f1": "o1", "f2": "o1", "f3": "o2", "f4": "o3"}
    kept = [
        ({"c": float(a)}, {"c": float(b)}, (f, original[f]))
        for f in real
        for a, b in zip(real[f], fake[f], strict=True)
    ]
    o1 = real["f1"] + real["f2"]
    expected = separability(
        [float(np.mean(o1)), float(np.mean(real["f3"])), float(np.mean(real["f4"]))],
        [float(np.mean(v)) for v in fake.values()],
    )
    assert expected == pytest.approx(7 / 12)
    assert forensics._video_auc(kept, "c") == pytest.approx(expected)


def test_measure_counts_videos_and_checks_lengths() -> None:
    pairs = _pairs("blur", 4)
    videos = [("f1", "o1"), ("f2", "o1"), ("f3", "o2"), ("f3", "o2")]
    doc = measure(pairs, videos=videos)
    assert doc["fake_videos"] == 3 and doc["original_videos"] == 2
    assert doc["noise_ratio"]["video_auc"] == pytest.approx(1.0)
    assert "video_auc" not in measure(pairs)["noise_ratio"]
    with pytest.raises(ValueError, match="1 videos for 4 pairs"):
        measure(pairs, videos=videos[:1])
    with pytest.raises(ValueError, match="groups without videos"):
        measure(pairs, groups=["g"] * 4)


def test_tiny_regions_are_skipped_and_counted() -> None:
    real = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:12, 10:12] = 1
    assert cue_values(real, mask) is None
    assert measure([(real, real, mask)])["skipped_small_region"] == 1


def test_separability_takes_the_better_direction() -> None:
    assert separability([3.0, 4.0], [1.0, 2.0]) == pytest.approx(1.0)
    assert separability([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1.0)


def test_measure_per_method_keeps_each_methods_own_evidence() -> None:
    pairs = _pairs("blur", 12) + _pairs("colour", 12) + _pairs("none", 12)
    methods = ["blurred"] * 12 + ["seamed"] * 12 + ["untouched"] * 12
    doc = measure(pairs, methods=methods)
    by = doc["by_method"]
    assert sorted(by) == ["blurred", "seamed", "untouched"]
    assert all(by[m]["pairs"] == 12 for m in by) and doc["pairs"] == 36
    assert by["blurred"]["noise_ratio"]["auc"] > 0.95 and by["blurred"]["colour_step"]["auc"] < 0.8
    assert by["seamed"]["colour_step"]["auc"] > 0.95
    for cue in CUES:
        assert by["untouched"][cue]["auc"] == pytest.approx(0.5)
    # the pooled figures are those of all pairs together, not an average of the methods'
    assert doc == {**measure(pairs), "by_method": by}
    assert "by_method" not in measure(pairs)
    with pytest.raises(ValueError, match="2 methods for 36 pairs"):
        measure(pairs, methods=["a", "b"])
    videos = [(f"f{k // 2}", f"o{k // 4}") for k in range(36)]
    with_videos = measure(pairs, methods=methods, videos=videos)["by_method"]
    assert with_videos["blurred"]["fake_videos"] == 6 and with_videos["blurred"]["original_videos"] == 3
    assert with_videos["seamed"]["fake_videos"] == 6 and with_videos["untouched"]["original_videos"] == 3


def test_combined_cues_are_scored_on_held_out_people(monkeypatch: pytest.MonkeyPatch) -> None:
    # blurred fakes in half the groups, seamed ones in the other: no single cue separates
    # both, the combination does; 6 groups, 2 originals each, 2 fakes per original
    pairs = _pairs("blur", 12) + _pairs("colour", 12)
    videos = [(f"fake{k}", f"orig{k // 2}") for k in range(24)]
    groups = [f"g{(k // 2) % 6}" for k in range(24)]
    folds: list[tuple[set[str], set[str]]] = []
    import sklearn.model_selection

    original_split = sklearn.model_selection.GroupKFold.split

    def recording_split(self: object, x: object, y: object, g: np.ndarray):  # type: ignore[no-untyped-def]
        for train, test in original_split(self, x, y, g):  # type: ignore[arg-type]
            folds.append((set(g[train]), set(g[test])))
            yield train, test

    monkeypatch.setattr(sklearn.model_selection.GroupKFold, "split", recording_split)
    doc = measure(pairs, videos=videos, groups=groups)
    assert doc["combined"]["folds"] == 5 and doc["combined"]["groups"] == 6
    assert len(folds) == 5 and all(not (train & test) for train, test in folds)
    assert set().union(*(test for _, test in folds)) == {f"g{k}" for k in range(6)}
    assert doc["combined"]["auc"] > 0.95 and doc["combined"]["video_auc"] > 0.95
    assert max(doc[c]["auc"] for c in CUES) < doc["combined"]["auc"]
    # without groups the folds hold out original videos
    folds.clear()
    assert measure(pairs, videos=videos)["combined"]["groups"] == 12
    assert all(not (train & test) for train, test in folds)
    assert measure(pairs, videos=videos, groups=["one"] * 24)["combined"] is None  # nothing held out
    assert "combined" not in measure(pairs)


def _index(n_frames: int) -> forensics.Any:
    """A CropIndex of one real video ``o`` and one fake ``f`` of it, ``n_frames`` frames each."""
    import pyarrow as pa

    from dfmask.model.crop_index import CropIndex

    crop = np.clip(np.random.default_rng(0).normal(128, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
    png = cv2.imencode(".png", crop)[1].tobytes()
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    mask_png = cv2.imencode(".png", mask)[1].tobytes()
    n = 2 * n_frames
    fake = np.r_[np.zeros(n_frames, bool), np.ones(n_frames, bool)]
    return CropIndex(
        part=np.zeros(n, int),
        video_id=np.array(["o"] * n_frames + ["f"] * n_frames, object),
        original_id=np.array([None] * n_frames + ["o"] * n_frames, object),
        frame_idx=np.r_[np.arange(n_frames), np.arange(n_frames)],
        track_id=np.zeros(n, int),
        is_fake=fake,
        split=np.array(["train"] * n, object),
        crop_box=np.tile([0.0, 0.0, 32.0, 32.0], (n, 1)),
        box=np.tile([8.0, 8.0, 24.0, 24.0], (n, 1)),
        landmarks=np.full((n, 5, 2), np.nan),
        has_mask_row=fake.copy(),
        mask_valid=fake.copy(),
        crop_png=pa.array([png] * n, pa.binary()),
        mask_png=pa.array([None] * n_frames + [mask_png] * n_frames, pa.binary()),
    )


def test_corpus_pairs_reads_groups_and_refuses_fakes_without_a_true_mask(tmp_path: forensics.Path) -> None:
    from dfmask.schemas.splits import SPLITS
    from dfmask.tables import to_table, write_table

    splits = tmp_path / "splits.parquet"
    row = {"part": 0, "group_id": "g7", "identity_id": "id", "donor_identity_id": None, "split": "train"}
    rows = [{**row, "video_id": "o", "original_id": None, "is_fake": False}]
    rows.append({**row, "video_id": "f", "original_id": "o", "is_fake": True})
    write_table(to_table(SPLITS, rows), splits, SPLITS, "test")

    class Truth:  # GroundTruthMasks' interface: frame 2 of the fake has no true mask
        path = tmp_path / "truth.parquet"
        missing = 2

        def has(self, video: str, frame: int) -> bool:
            return frame != self.missing

        def crop_mask(self, video: str, frame: int, crop_box: np.ndarray, size: int) -> np.ndarray:
            return np.ones((size, size), np.uint8)

    index = _index(3)
    pairs, videos, groups = corpus_pairs(index, splits, 0, 0)  # SSIM regions: the fake's own mask
    assert len(pairs) == 3 and videos == [("f", "o")] * 3 and groups == ["g7"] * 3
    assert pairs[0][2].sum() == 16 * 16
    truth = Truth()
    with pytest.raises(DfmaskError, match=r"truth.parquet: no true mask for 1 valid fake crops, e.g. video f frame 2"):
        corpus_pairs(index, splits, 0, 0, truth)
    truth.missing = -1
    pairs, _, _ = corpus_pairs(index, splits, 0, 0, truth)
    assert all(region.all() for _, _, region in pairs)  # the true masks, not the SSIM ones
    assert len(corpus_pairs(index, splits, 2, 0)[0]) == 2  # a seeded subset


def _split_index(blur: bool) -> forensics.Any:
    """A CropIndex with 4 real and 4 fake videos (2 crops each) per split; a fake's crop is
    its real twin's, blurred inside the centre square (``blur``; SHARPENED there in the
    test split, the other way) or untouched, with that square as its valid SSIM mask."""
    import pyarrow as pa

    from dfmask.model.crop_index import CropIndex

    square = np.zeros((32, 32), np.uint8)
    square[8:24, 8:24] = 255
    square_png = cv2.imencode(".png", square)[1].tobytes()
    cols: dict[str, list] = {k: [] for k in ("video_id", "original_id", "frame_idx", "is_fake", "split", "png", "mask")}
    for split in ("train", "val", "test"):
        for v in range(4):
            for frame in range(2):
                rng = np.random.default_rng([len(split), v, frame])
                real = np.clip(rng.normal(128, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
                fake = real.copy()
                if blur:
                    smooth = cv2.GaussianBlur(real, (0, 0), 1.5).astype(np.float32)
                    changed = smooth if split != "test" else 2.5 * real.astype(np.float32) - 1.5 * smooth
                    fake[8:24, 8:24] = np.clip(changed, 0, 255).astype(np.uint8)[8:24, 8:24]
                for is_fake, crop in ((False, real), (True, fake)):
                    cols["video_id"].append(f"{split}-{'f' if is_fake else 'r'}{v}")
                    cols["original_id"].append(f"{split}-r{v}" if is_fake else None)
                    cols["frame_idx"].append(frame)
                    cols["is_fake"].append(is_fake)
                    cols["split"].append(split)
                    cols["png"].append(cv2.imencode(".png", crop)[1].tobytes())
                    cols["mask"].append(square_png if is_fake else None)
    n = len(cols["video_id"])
    fake = np.array(cols["is_fake"], bool)
    return CropIndex(
        part=np.zeros(n, int),
        video_id=np.array(cols["video_id"], object),
        original_id=np.array(cols["original_id"], object),
        frame_idx=np.array(cols["frame_idx"]),
        track_id=np.zeros(n, int),
        is_fake=fake,
        split=np.array(cols["split"], object),
        crop_box=np.tile([0.0, 0.0, 32.0, 32.0], (n, 1)),
        box=np.tile([8.0, 8.0, 24.0, 24.0], (n, 1)),
        landmarks=np.full((n, 5, 2), np.nan),
        has_mask_row=fake.copy(),
        mask_valid=fake.copy(),
        crop_png=pa.array(cols["png"], pa.binary()),
        mask_png=pa.array(cols["mask"], pa.binary()),
    )


def test_fixed_region_detector_needs_no_oracle_and_reports_per_split_and_method() -> None:
    index = _split_index(blur=True)
    region, about = fixed_region(index, None, 32)
    assert about["masks"] == "ssim" and about["averaged"] == 8 and about["share"] == pytest.approx(0.25)
    assert region[8:24, 8:24].all() and region.sum() == 16 * 16
    methods = {f"{s}-f{v}": ("blurred" if v < 2 else "also") for s in ("train", "val", "test") for v in range(4)}
    doc = fixed_region_detector(index, region, methods)
    assert doc["fake_direction"]["noise_ratio"] == "lower"
    for split in ("val", "test"):
        assert (doc[split]["crops"], doc[split]["real_videos"], doc[split]["fake_videos"]) == (16, 4, 4)
        by = doc[split]["by_method"]
        assert sorted(by) == ["also", "blurred"] and by["blurred"]["fake_videos"] == 2
        assert by["blurred"]["real_videos"] == 4
    assert doc["val"]["noise_ratio"] == 1.0 and doc["val"]["combined"] == 1.0
    # the test split's fakes go the other way: the directions and the fit come from train
    # alone, so they score test upside down (a direction or a fit from test would not)
    assert doc["test"]["noise_ratio"] == 0.0 and doc["test"]["combined"] < 0.5
    untouched = fixed_region_detector(_split_index(blur=False), region, None)
    assert untouched["test"]["noise_ratio"] == pytest.approx(0.5) and "by_method" not in untouched["test"]


def test_fixed_region_detector_says_why_without_train_fakes() -> None:
    index = _split_index(blur=True)
    index.is_fake[index.split == "train"] = False
    square = np.zeros((32, 32), np.uint8)
    square[8:24, 8:24] = 1
    assert fixed_region_detector(index, square, None) == {"reason": "the train split lacks real or fake crops"}
    empty = fixed_region_detector(_split_index(blur=True), np.zeros((32, 32), np.uint8), None)
    assert empty == {"reason": "no train crop can be measured in the fixed region (it covers 0.000 of the crop)"}
