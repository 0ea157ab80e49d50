"""Feature probes: the person probe reads people and only across videos, the fake probe
reads fakes and only across identity groups; the rows and labels they are given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tools.feature_probe import _probe, colour_statistics, grouped_auc, person_labels, probe, track_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from model_synthetic import tiny_train_params, train_paths, write_synthetic_corpus  # the model tests' tables


def _crops(seed: int = 0, people: int = 4, videos_per: int = 4, crops_per: int = 12):
    """Per crop: person, video, is_fake (every second video of a person fake), identity
    group (two people per group), and the per-person and per-video vectors and noise."""
    rng = np.random.default_rng(seed)
    person, video, fake, group = [], [], [], []
    for p in range(people):
        for v in range(videos_per):
            for _ in range(crops_per):
                person.append(f"id-{p}")
                video.append(f"v{p}-{v}")
                fake.append(v % 2 == 1)
                group.append(f"g-{p // 2}")
    dim = 16
    per_person = {p: rng.normal(0, 3, dim) for p in set(person)}
    per_video = {v: rng.normal(0, 3, dim) for v in set(video)}
    noise = rng.normal(0, 1, (len(person), dim))
    arrays = np.array(person, object), np.array(video), np.array(fake), np.array(group, object)
    return (*arrays, per_person, per_video, noise)


def test_features_that_hold_the_person_but_not_the_fake() -> None:
    person, video, fake, group, per_person, _, noise = _crops()
    f = np.stack([per_person[p] for p in person]) + noise
    out = probe(f, person, fake, video, group)
    assert out["people"] == 4 and out["groups"] == 2 and out["crops"] == len(person)
    assert out["person_acc_heldout_videos"] > 0.9 and out["person_majority"] == 0.25
    assert out["person_crops_scored"] == int((~fake).sum()) and out["person_crops_unscorable"] == 0
    assert 0.3 < out["fake_auc_heldout_groups"] < 0.7 and out["fake_crops_scored"] == len(person)


def test_features_that_hold_the_fake_but_not_the_person() -> None:
    person, video, fake, group, _, _, noise = _crops()
    f = noise.copy()
    f[:, 0] += 3.0 * fake
    out = probe(f, person, fake, video, group)
    assert out["fake_auc_heldout_groups"] > 0.95
    assert out["person_acc_heldout_videos"] < 0.45


def test_person_folds_hold_out_videos() -> None:
    """Features that only say which *video* a crop is from: folds that split a video would
    read the person from them; folds held out by video cannot."""
    person, video, fake, group, _, per_video, noise = _crops()
    f = np.stack([per_video[v] for v in video]) + 0.1 * noise
    assert probe(f, person, fake, video, group)["person_acc_heldout_videos"] < 0.5


def test_fake_folds_hold_out_identity_groups() -> None:
    """Features that say which (identity group, real or fake) a crop is, as a donor shared
    by two people would: folds by person or by video would learn each group's fake look from
    its other person; folds held out by group cannot."""
    person, video, fake, group, _, _, noise = _crops(seed=1, people=16)
    rng = np.random.default_rng(7)
    look = {(g, c): rng.normal(0, 3, noise.shape[1]) for g in set(group) for c in (False, True)}
    f = np.stack([look[(g, c)] for g, c in zip(group, fake, strict=True)]) + 0.1 * noise
    out = probe(f, person, fake, video, group)
    assert out["groups"] == 8 and out["fake_crops_scored"] == len(person) and len(out["fake_auc_by_group"]) == 8
    # a leak would rank every group's fakes first (~1.0 in each); held out, each group's look is new
    assert out["fake_auc_heldout_groups"] < 0.8


def test_auc_is_taken_within_each_group() -> None:
    """Perfect ranking inside each group, but the second group's scores sit higher and it
    holds mostly reals: pooled, the AUC drops; within groups it is 1."""
    y = np.array([0, 1, 0, 0, 0, 1], bool)
    scores = np.array([0.1, 0.2, 10.0, 10.1, 10.2, 10.3])
    group = np.array(["a", "a", "b", "b", "b", "b"], object)
    mean, by_group = grouped_auc(y, scores, group)
    assert mean == 1.0 and by_group == {"a": 1.0, "b": 1.0}
    one_class = grouped_auc(y, scores, np.array(["a", "a", "b", "b", "b", "c"], object))
    assert one_class == (1.0, {"a": 1.0, "b": None, "c": None})


def test_logit_and_train_readout_are_scored_on_the_same_crops() -> None:
    person, video, fake, group, _, _, noise = _crops()
    f = noise.copy()
    f[:, 0] += 3.0 * fake
    readout = _probe().fit(f, fake)  # fitted "elsewhere": here on the same features, a perfect head
    logit = np.where(fake, 1.0, -1.0) * np.where(group == "g-0", 1.0, -1.0)  # right in g-0, reversed in g-1
    out = probe(f, person, fake, video, group, logit, readout)
    assert out["logit_auc_by_group"] == {"g-0": 1.0, "g-1": 0.0} and out["logit_auc"] == 0.5
    assert out["train_readout_auc"] > 0.95 and set(out["train_readout_auc_by_group"]) == {"g-0", "g-1"}
    assert "logit_auc" not in probe(f, person, fake, video, group)


def test_a_person_with_one_real_video_is_unscorable_not_a_miss() -> None:
    """id-2's only real video is held out with nothing of id-2 to fit on: not scored, and
    the accuracy over the rest stays perfect on features that name the person."""
    person, video, fake, group, per_person, _, noise = _crops(people=3, videos_per=8)
    keep = ~((person == "id-2") & (video != "v2-0") & (video != "v2-1"))  # id-2: one real, one fake video
    # 9 real videos in 5 folds: id-2's shares its fold with a video whose person can be scored
    person, video, fake, group, noise = person[keep], video[keep], fake[keep], group[keep], noise[keep]
    f = np.stack([per_person[p] for p in person]) + 0.1 * noise
    out = probe(f, person, fake, video, group)
    only = int(((person == "id-2") & ~fake).sum())
    assert out["person_crops_unscorable"] == only
    assert out["person_crops_scored"] + only == int((~fake).sum())
    assert out["person_acc_heldout_videos"] == 1.0


def test_majority_is_over_real_crops_and_one_class_groups_say_why() -> None:
    """Person id-0 has more fake crops than id-1 but as many real ones: the majority share
    is 0.5. Each identity group holds one class only, so no fold can fit the fake probe."""
    person, video, fake, group, per_person, _, noise = _crops(people=2, videos_per=4)
    extra = (person == "id-0") & fake
    person = np.concatenate([person, person[extra]])
    video = np.concatenate([video, np.char.add(video[extra].astype(str), "x")])
    fake = np.concatenate([fake, fake[extra]])
    noise = np.concatenate([noise, noise[extra]])
    group = np.where(fake, "g-fakes", "g-reals").astype(object)
    f = np.stack([per_person[p] for p in person]) + noise
    readout = _probe().fit(f, fake)
    out = probe(f, person, fake, video, group, np.where(fake, 1.0, 0.0), readout)
    assert out["person_majority"] == 0.5
    assert out["fake_auc_heldout_groups"] is None and out["fake_crops_scored"] == 0
    assert "no fold had both classes" in out["fake_reason"]
    # the logit and the train readout are scored on the same (here: no) crops
    assert out["logit_auc"] is None and out["train_readout_auc"] is None
    assert out["logit_auc_by_group"] == {} and out["train_readout_auc_by_group"] == {}


def test_one_person_says_why() -> None:
    person, video, fake, group, per_person, _, _ = _crops(people=2)
    person = person.copy()
    person[person == "id-1"] = None
    out = probe(np.stack([per_person[p] if p else per_person["id-1"] for p in person]), person, fake, video, group)
    assert out["crops"] == int((person != None).sum()) and out["people"] == 1  # noqa: E711
    assert out["person_acc_heldout_videos"] is None and "1 people" in out["person_reason"]
    assert out["person_crops_scored"] == 0 and out["fake_auc_heldout_groups"] is None


class _Index:
    """The CropIndex fields the row and label helpers read. Real r1: tracks 0 and 1
    interleaved, 3 frames each (a tie: track 0 is its person's); its fake f1, the same;
    real r2: track 1 × 4 in falling frame order, then track 0 × 2."""

    def __init__(self) -> None:
        vid, orig, fake, track, frame = [], [], [], [], []
        for v, o, f, tracks in (
            ("r1", None, False, [(fr, t) for fr in range(3) for t in (0, 1)]),
            ("f1", "r1", True, [(fr, t) for fr in range(3) for t in (0, 1)]),
            ("r2", None, False, [(3, 1), (2, 1), (1, 1), (0, 1), (0, 0), (1, 0)]),
        ):
            for fr, t in tracks:
                vid.append(v)
                orig.append(o)
                fake.append(f)
                track.append(t)
                frame.append(fr)
        self.video_id = np.array(vid, object)
        self.original_id = np.array(orig, object)
        self.is_fake = np.array(fake)
        self.track_id = np.array(track)
        self.frame_idx = np.array(frame)


def test_person_labels_follow_the_original_and_its_longest_track() -> None:
    index = _Index()
    rows = np.arange(len(index.video_id))
    got = person_labels(index, rows, {"r1": "id-a", "f1": "id-wrong", "r2": "id-b"})  # type: ignore[arg-type]
    assert got.tolist() == ["id-a", None] * 6 + ["id-b"] * 4 + [None, None]
    # the longest track is the whole index's, not the rows': r2's track 0 alone is not longest
    sub = np.flatnonzero((index.video_id == "r2") & (index.track_id == 0))
    assert person_labels(index, sub, {"r2": "id-b"}).tolist() == [None, None]  # type: ignore[arg-type]


def test_track_rows_thin_each_track_by_frame() -> None:
    index = _Index()
    rows = np.arange(len(index.video_id))
    got = track_rows(index, rows, 2)  # type: ignore[arg-type]
    kept = {(index.video_id[i], int(index.track_id[i]), int(index.frame_idx[i])) for i in got}
    # frames 0 and 2 of every track (both of r1's and f1's kept), and frame 0 of r2's track 0
    want = {(v, t, fr) for v in ("r1", "f1") for t in (0, 1) for fr in (0, 2)}
    assert kept == want | {("r2", 1, 0), ("r2", 1, 2), ("r2", 0, 0)}
    assert list(got) == sorted(got)  # rows order kept
    assert track_rows(index, rows, 1).tolist() == rows.tolist()  # type: ignore[arg-type]


def test_colour_statistics_read_mean_sd_border_and_centre() -> None:
    crop = np.zeros((16, 16, 3), np.uint8)
    crop[..., 0] = 10
    crop[4:12, 4:12, 1] = 80  # the central half, green only
    crop[:2, :, 2] = 200  # the top border band (16 // 8 = 2 px), blue only
    got = colour_statistics(crop)
    assert got.shape == (12,)
    np.testing.assert_allclose(got[0:3], [10, 80 * 64 / 256, 200 * 32 / 256], rtol=1e-6)
    assert got[3] == 0 and got[4] > 0 and got[5] > 0  # SD: red flat
    border = 256 - 12 * 12
    np.testing.assert_allclose(got[6:9], [10, 0, 200 * 32 / border], rtol=1e-6)
    np.testing.assert_allclose(got[9:12], [10, 80, 0], rtol=1e-6)


@pytest.mark.parametrize("every", [0, -1])
def test_every_must_be_positive(every: int) -> None:
    from dfmask.errors import DfmaskError
    from tools.feature_probe import main

    with pytest.raises(DfmaskError, match="--every"):
        main(["--every", str(every)])


def test_main_writes_every_feature_set_per_split(tmp_path: Path) -> None:
    """End to end on the model tests' synthetic tables (two people per split, three real
    videos each, one identity group per video pair) with a tiny trained checkpoint; twice
    for the control's reproducibility, once with --every 2."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from dfmask.model import train as train_module
    from dfmask.model.crop_index import read_crop_tables
    from tools.feature_probe import main

    write_synthetic_corpus(tmp_path)
    splits_path = tmp_path / "splits.parquet"
    table = pq.read_table(splits_path)
    person = [f"id-{int(v[-2:]) % 2}" for v in table["video_id"].to_pylist()]
    table = table.set_column(table.schema.get_field_index("identity_id"), "identity_id", pa.array(person))
    pq.write_table(table, splits_path)
    index = read_crop_tables(tmp_path / "faces", tmp_path / "masks", splits_path, (0, 1))
    paths = train_paths(tmp_path, "run")
    train_module.fit(tiny_train_params(), index, paths)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"corpus": {"parts": [0, 1]}}))
    args = ["--params", str(params), "--checkpoint", str(paths.checkpoint), "--faces", str(tmp_path / "faces")]
    args += ["--masks", str(tmp_path / "masks"), "--splits", str(splits_path)]
    docs = []
    for k, every in enumerate((1, 1, 2)):
        out = tmp_path / f"probe{k}.json"
        assert "probes on train, val, test" in main([*args, "--every", str(every), "--out", str(out)])
        docs.append(json.loads(out.read_text()))
    # val alone: the train split's readout is still fitted (and not reported)
    main([*args, "--every", "1", "--split", "val", "--out", str(tmp_path / "val.json")])
    assert json.loads((tmp_path / "val.json").read_text())["splits"] == {"val": docs[0]["splits"]["val"]}
    doc = docs[0]
    assert set(doc["splits"]) == {"train", "val", "test"}
    for split, by_features in doc["splits"].items():
        rows = index.rows(split)
        assert set(by_features) == {"trained", "untrained", "colour"}
        for result in by_features.values():
            assert result["people"] == 2 and result["crops"] == len(rows)
            scored = result["person_crops_scored"] + result["person_crops_unscorable"]
            assert scored == int((~index.is_fake[rows]).sum())
            assert result["fake_crops_scored"] == len(rows) and result["fake_auc_heldout_groups"] is not None
        assert by_features["trained"]["logit_auc"] is not None and "logit_auc" not in by_features["untrained"]
        for result in by_features.values():  # a head fitted on train, scored on the other splits
            assert ("train_readout_auc" in result) == (split != "train")
        assert by_features["trained"] != by_features["untrained"]
        assert docs[1]["splits"][split] == by_features  # the control is seeded
        thinned = track_rows(index, rows, 2)
        assert docs[2]["splits"][split]["colour"]["crops"] == len(thinned) < len(rows)
