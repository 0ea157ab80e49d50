"""The corpus adapters against tiny trees in each published layout, and against listings
taken from each dataset's own documentation.

The trees (`layout_trees`) are the generated sample's videos written under FaceForensics++,
Celeb-DF v2, DeeperForensics-1.0 and FakeAVCeleb names by code that shares nothing with
the adapters; each tree says what it wrote, and the adapter must find exactly that.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from layout_trees import Tree, write_celebdf, write_deeperforensics, write_fakeavceleb, write_ffpp

from dfmask.corpus import sources
from dfmask.corpus.adapters import KINDS, Record, adapter_for
from dfmask.corpus.ingest import IngestPaths, ingest_part, run
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams, IngestParams, load_section
from dfmask.schemas.videos import ADAPTER_FIELDS, VIDEOS, spec_for
from dfmask.splits.build import _read_videos, read_official
from dfmask.splits.groups import group_videos
from dfmask.tables import read_table

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", Path(__file__).parents[2] / ".cache" / "faces"))


def _records(adapter) -> list[Record]:
    out = [r for part in adapter.parts() for r in adapter.videos(part)]
    ids = [r.video_id for r in out]
    assert len(ids) == len(set(ids)), "video ids must be unique across the corpus"
    assert all("/" not in v for v in ids)
    return out


# ----------------------------------------------------------------------------- generated trees


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    from test_sample import generate, tiny_params

    out = tmp_path_factory.mktemp("sample") / "sample"
    assert generate(tiny_params(), out, str(out / "corpus"), 7, out / "preview.png").generated
    return out


@pytest.fixture(scope="module")
def trees(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Tree, dict]]:
    base = tmp_path_factory.mktemp("trees")
    ffpp = write_ffpp(sample, base / "ffpp" / "FaceForensics++", awkward=True)
    return {
        "ffpp": (ffpp, {"qualities": ("c23", "c40")}),
        "celebdf": (write_celebdf(sample, base / "celebdf", awkward=True), {}),
        "deeperforensics": (
            write_deeperforensics(sample, base / "dfr" / "DeeperForensics-1.0", base / "dfr" / "FF", awkward=True),
            {"originals_root": "../FF"},
        ),
        "fakeavceleb": (write_fakeavceleb(sample, base / "fakeavceleb", awkward=True), {}),
    }


@pytest.mark.parametrize("kind", ["ffpp", "celebdf", "deeperforensics", "fakeavceleb"])
def test_adapter_finds_exactly_what_the_tree_holds(trees, kind: str) -> None:
    tree, options = trees[kind]
    records = _records(adapter_for(kind, tree.root, **options))
    by_path = {r.path: r for r in records if r.path is not None}
    by_id = {r.video_id: r for r in records}
    for rel, written in tree.files.items():
        rec = by_path[rel]
        assert (rec.status, rec.label) == ("ok", written.label), (rel, rec)
        if written.original is None:
            assert rec.original_id is None
        else:
            original = by_id[rec.original_id]
            assert original.path == written.original and original.part == rec.part  # they meet in one part
        if written.method is not None and written.label == "FAKE":
            assert rec.method == written.method
        assert rec.mask_path == written.mask
    for rel, status in tree.awkward.items():
        rec = next(r for r in records if rel in (r.path, r.detail) or rel in r.detail)
        assert rec.status == status, (rel, rec)
        assert rel in rec.detail  # the status names the file
    # nothing else: every record is a written file, its original, or an awkward file
    expected = set(tree.files) | set(tree.awkward)
    extra = {r.path for r in records if r.status == "ok"} - expected
    assert extra == {w.original for w in tree.files.values() if w.original} - set(tree.files)


def test_ffpp_copies_share_a_group_and_masks_and_splits_are_read(trees) -> None:
    tree, options = trees["ffpp"]
    records = [r for r in _records(adapter_for("ffpp", tree.root, **options)) if r.status == "ok"]
    groups: dict[str, set[str]] = {}
    for r in records:
        groups.setdefault(r.group_id or "", set()).add(r.quality or "")
    assert all(q == {"c23", "c40"} for q in groups.values())  # every video at both qualities, one group
    fakes = [r for r in records if r.label == "FAKE"]
    assert {r.mask_path is None for r in fakes if r.method == "FaceShifter"} <= {True}
    assert all(r.mask_path for r in fakes if r.method != "FaceShifter")
    pairs = [p for s in ("train", "val", "test") for p in json.loads((tree.root / "splits" / f"{s}.json").read_text())]
    listed = {i for p in pairs for i in p}
    assert all(r.official_split in ("train", "val", "test") for r in records if r.identity[5:] in listed)
    test_ids = set(json.loads((tree.root / "splits" / "test.json").read_text())[0])
    assert {r.identity[5:] for r in records if r.official_split == "test" and r.label == "REAL"} == test_ids


def test_deeperforensics_without_ffpp_gives_every_fake_a_status(trees) -> None:
    tree, _ = trees["deeperforensics"]
    records = _records(adapter_for("deeperforensics", tree.root))
    fakes = [r for r in records if r.label == "FAKE"]
    assert fakes and Counter(r.status for r in fakes) == {"original_not_available": len(fakes)}
    assert not [r for r in records if r.label == "REAL"]


@pytest.mark.parametrize(
    ("policy", "label", "status"),
    [("visual", "REAL", "ok"), ("fake", "FAKE", "ok"), ("exclude", "REAL", "excluded_by_label_policy")],
)
def test_fakeavceleb_label_policy_decides_real_video_fake_audio(trees, policy, label, status) -> None:
    tree, _ = trees["fakeavceleb"]
    records = _records(adapter_for("fakeavceleb", tree.root, label_policy=policy))
    b = [r for r in records if r.path and r.path.startswith("RealVideo-FakeAudio/")]
    assert len(b) == 1 and (b[0].label, b[0].status) == (label, status)
    if policy == "fake":
        assert b[0].original_id == b[0].group_id and b[0].original_id in {r.video_id for r in records}


@pytest.mark.parametrize("kind", ["ffpp", "celebdf", "deeperforensics", "fakeavceleb"])
def test_ingest_writes_the_videos_table_from_any_adapter(trees, kind: str, tmp_path: Path) -> None:
    tree, options = trees[kind]
    corpus = CorpusParams(root=str(tree.root), parts=(0,), kind=kind, **options)  # type: ignore[arg-type]
    params = load_section(IngestParams, "ingest", Path(__file__).parents[2] / "params.yaml")
    adapter = adapter_for(kind, tree.root, **options)
    written = 0
    for part in adapter.parts():
        paths = IngestPaths(tmp_path / f"part={part}.parquet", tmp_path / f"part={part}.json")
        report = run(params, corpus, paths, part).doc
        table = read_table(paths.out, spec_for("ffpp")).to_pylist()
        assert read_table(paths.out, VIDEOS, ["video_id", "status"]).num_rows == len(table)  # readable as VIDEOS
        assert {r["corpus"] for r in table} == {kind} and report["corpus"] == kind
        rows = {r["path"]: r for r in table}
        for rel, w in tree.files.items():
            if rel in rows:
                written += 1
                row = rows[rel]
                assert row["status"] == "ok" and row["is_fake"] == (w.label == "FAKE") and row["frames"] > 0
                assert row["sha256"] and row["group_id"]
        assert report["videos"] == len(table)
    assert written == len(tree.files)  # every written video landed in some part, ok
    rerun = ingest_part(tree.root, adapter.parts()[0], adapter=adapter_for(kind, tree.root, **options))
    first = pq.read_table(tmp_path / f"part={adapter.parts()[0]}.parquet")
    assert rerun.table.to_pylist() == first.select(rerun.table.column_names).to_pylist()


def test_split_keeps_ffpp_quality_copies_in_one_group(trees, tmp_path: Path) -> None:
    tree, _ = trees["ffpp"]
    params = load_section(IngestParams, "ingest", Path(__file__).parents[2] / "params.yaml")
    corpus = CorpusParams(root=str(tree.root), parts=(0,), kind="ffpp", qualities=("c23", "c40"))
    run(params, corpus, IngestPaths(tmp_path / "part=0.parquet", tmp_path / "part=0.json"), 0)
    videos, _, _, copies, _ = _read_videos([0], tmp_path)
    group_of = group_videos(videos, [(v, "copies:" + g) for v, g in copies])
    c40 = [v for v in videos if "_c40_" in v.video_id and not v.is_fake]
    assert c40
    for v in c40:
        twin = v.video_id.replace("_c40_", "_c23_")
        assert group_of[v.video_id] == group_of[twin]
    assert not copies or len({g for _, g in copies}) < len(copies)
    without = group_videos(videos, [])  # the corpus group is what joins them
    assert any(without[v.video_id] != without[v.video_id.replace("_c40_", "_c23_")] for v in c40)


def test_split_groups_every_video_of_a_person_the_corpus_names(trees, tmp_path: Path) -> None:
    """FF++ names who is in each video (`identity`, and a fake's `donor_identity`): the
    split reads them as (video, identity, role), and grouping by the named targets puts
    each fake in its original's group even without any face embedding."""
    tree, _ = trees["ffpp"]
    params = load_section(IngestParams, "ingest", Path(__file__).parents[2] / "params.yaml")
    corpus = CorpusParams(root=str(tree.root), parts=(0,), kind="ffpp", qualities=("c23",))
    run(params, corpus, IngestPaths(tmp_path / "part=0.parquet", tmp_path / "part=0.json"), 0)
    videos, _, _, _, known = _read_videos([0], tmp_path)
    target = {v: i for v, i, role in known if role == "target"}
    donor = {v: i for v, i, role in known if role == "donor"}
    listed = {v.video_id for v in videos}
    fakes = [v for v in videos if v.is_fake and v.original_id in listed]
    assert fakes and all(v.video_id in donor for v in videos if v.is_fake)
    for v in fakes:
        assert target[v.video_id] == target[v.original_id]  # a fake shows its original's person
        assert donor[v.video_id] != target[v.video_id]
    group_of = group_videos(videos, [(v, "known:" + i) for v, i in target.items()])
    assert all(group_of[v.video_id] == group_of[v.original_id] for v in fakes)


def test_split_official_reads_ffpp_splits_json(trees, tmp_path: Path) -> None:
    tree, _ = trees["ffpp"]
    params = load_section(IngestParams, "ingest", Path(__file__).parents[2] / "params.yaml")
    corpus = CorpusParams(root=str(tree.root), parts=(0,), kind="ffpp", qualities=("c23", "c40"))
    run(params, corpus, IngestPaths(tmp_path / "part=0.parquet", tmp_path / "part=0.json"), 0)
    official = read_official([0], tmp_path)
    want = {}
    for split in ("train", "val", "test"):
        for pair in json.loads((tree.root / "splits" / f"{split}.json").read_text()):
            for number in pair:
                for q in ("c23", "c40"):
                    want[f"youtube_{q}_{number}"] = split
    assert want and all(official[v] == s for v, s in want.items() if v in official)
    assert {v for v in want if v in official} and set(official.values()) == {"train", "val", "test"}


# ----------------------------------------------------------------------------- documented listings


def _touch(root: Path, rels: list[str]) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")


def test_ffpp_reads_the_documented_listing(tmp_path: Path) -> None:
    # the FaceForensics++ dataset docs: youtube originals 000-999, fakes <target>_<source>,
    # DeepFakeDetection <actor>__<scene> and <target>_<source>__<scene>__<8-char id>, splits as pairs
    _touch(
        tmp_path,
        [
            "original_sequences/youtube/c23/videos/000.mp4",
            "original_sequences/youtube/c23/videos/003.mp4",
            "original_sequences/youtube/c23/videos/071.mp4",
            "original_sequences/youtube/c23/videos/154.mp4",
            "original_sequences/actors/c23/videos/01__walking_down_street_outside_angry.mp4",
            "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
            "manipulated_sequences/Face2Face/c23/videos/003_000.mp4",
            "manipulated_sequences/NeuralTextures/c23/videos/000_003.mp4",
            "manipulated_sequences/FaceShifter/c23/videos/154_071.mp4",
            "manipulated_sequences/Face2Face/masks/videos/000_003.mp4",
            "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4",
            "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking_down_street_outside_angry__YVGY8LOK.mp4",
        ],
    )
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.json").write_text('[["071", "054"], ["000", "003"]]')
    (tmp_path / "splits" / "test.json").write_text('[["154", "155"]]')
    adapter = adapter_for("ffpp", tmp_path)
    assert adapter.parts() == [0, 1, 10]
    rec = {r.video_id: r for r in _records(adapter)}
    df = rec["Deepfakes_c23_000_003"]
    assert (df.label, df.original_id, df.identity, df.donor_identity) == (
        "FAKE",
        "youtube_c23_000",
        "ffpp:000",
        "ffpp:003",
    )
    assert df.mask_path == "manipulated_sequences/Deepfakes/masks/videos/000_003.mp4" and df.official_split == "train"
    assert rec["NeuralTextures_c23_000_003"].mask_path == "manipulated_sequences/Face2Face/masks/videos/000_003.mp4"
    fs = rec["FaceShifter_c23_154_071"]
    assert (fs.part, fs.mask_path, fs.official_split) == (1, None, "test")
    dfd = rec["DeepFakeDetection_c23_01_02__walking_down_street_outside_angry__YVGY8LOK"]
    assert dfd.original_id == "actors_c23_01__walking_down_street_outside_angry" and dfd.part == 10
    assert all(r.status == "ok" for r in rec.values())


def test_celebdf_reads_the_documented_listing(tmp_path: Path) -> None:
    # Celeb-DF v2 docs: Celeb-real/id0_0000, Celeb-synthesis/id0_id1_0000, YouTube-real/00000,
    # List_of_testing_videos.txt "1 YouTube-real/00170.mp4" (1 = real)
    _touch(
        tmp_path,
        [
            "Celeb-real/id0_0000.mp4",
            "Celeb-real/id1_0000.mp4",
            "Celeb-synthesis/id0_id1_0000.mp4",
            "Celeb-synthesis/id1_id0_0000.mp4",
            "YouTube-real/00170.mp4",
            "YouTube-real/00000.mp4",
        ],
    )
    (tmp_path / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 Celeb-real/id0_0005.mp4\n"
    )
    rec = {r.video_id: r for r in _records(adapter_for("celebdf", tmp_path))}
    fake = rec["id0_id1_0000"]
    assert (fake.original_id, fake.identity, fake.donor_identity, fake.official_split, fake.part) == (
        "id0_0000",
        "celebdf:id0",
        "celebdf:id1",
        "test",
        0,
    )
    assert rec["00170"].official_split == "test" and rec["00000"].official_split == "train" and rec["00170"].part == 1
    missing = [r for r in rec.values() if r.status == "missing_file"]
    assert len(missing) == 1 and "Celeb-real/id0_0005.mp4" in missing[0].detail
    (tmp_path / "List_of_testing_videos.txt").write_text("0 YouTube-real/00170.mp4\n")
    with pytest.raises(DfmaskError, match="lists YouTube-real/00170.mp4 as FAKE"):
        _records(adapter_for("celebdf", tmp_path))
    (tmp_path / "List_of_testing_videos.txt").write_text("real YouTube-real/00170.mp4\n")
    with pytest.raises(DfmaskError, match="line 1"):
        _records(adapter_for("celebdf", tmp_path))


def test_deeperforensics_reads_the_documented_listing(tmp_path: Path) -> None:
    # DeeperForensics-1.0 docs: manipulated_videos/<variant>/<target_id>_<source_id>.mp4, actors M004 / W101;
    # the real class is the FaceForensics++ c23 target videos
    root, ff = tmp_path / "DeeperForensics-1.0", tmp_path / "FaceForensics++"
    _touch(
        root,
        [
            "manipulated_videos/end_to_end/000_M004.mp4",
            "manipulated_videos/end_to_end_level_1/000_M004.mp4",
            "manipulated_videos/end_to_end_mix_2_distortions/123_W101.mp4",
            "manipulated_videos/reenact_postprocess/999_W101.mp4",
        ],
    )
    _touch(ff, ["original_sequences/youtube/c23/videos/000.mp4", "original_sequences/youtube/c23/videos/123.mp4"])
    (root / "lists" / "splits").mkdir(parents=True)
    (root / "lists" / "splits" / "test.txt").write_text("000_M004.mp4\n")
    adapter = adapter_for("deeperforensics", root, originals_root="../FaceForensics++")
    assert adapter.parts() == [0, 1, 9]
    rec = {r.video_id: r for r in _records(adapter)}
    e2e = rec["end_to_end_000_M004"]
    assert (e2e.original_id, e2e.donor_identity, e2e.official_split, e2e.group_id) == (
        "youtube_c23_000",
        "deeperforensics:M004",
        "test",
        rec["end_to_end_level_1_000_M004"].group_id,
    )
    assert rec["youtube_c23_000"].path == "../FaceForensics++/original_sequences/youtube/c23/videos/000.mp4"
    assert rec["youtube_c23_000"].official_split == "test"
    assert rec["reenact_postprocess_999_W101"].status == "original_missing"
    with pytest.raises(DfmaskError, match="originals_root"):
        adapter_for("deeperforensics", root, originals_root="../nowhere")


def test_fakeavceleb_reads_the_documented_listing(tmp_path: Path) -> None:
    # FakeAVCeleb v1.2: <category>/<race>/<gender>/id<N>/; fakes start with their original's clip number
    _touch(
        tmp_path,
        [
            "RealVideo-RealAudio/African/men/id00076/00109.mp4",
            "FakeVideo-FakeAudio/African/men/id00076/00109_10_id00476_wavtolip.mp4",
            "FakeVideo-RealAudio/African/men/id00076/00109_id00476.mp4",
            "RealVideo-RealAudio/Asian (South)/women/id07686/00254.mp4",
            "FakeVideo-FakeAudio/Asian (South)/women/id07686/00254_id06437_3BZvvzBhj8s_id00043_wavtolip.mp4",
            "RealVideo-FakeAudio/Asian (South)/women/id07686/00254.mp4",
        ],
    )
    (tmp_path / "meta_data.csv").write_text(
        "source,target1,target2,method,category,type,race,gender,path,\n"
        "id00076,id00476,-,wav2lip,D,FakeVideo-FakeAudio,African,men,00109_10_id00476_wavtolip.mp4,"
        "FakeAVCeleb/FakeVideo-FakeAudio/African/men/id00076\n"
    )
    adapter = adapter_for("fakeavceleb", tmp_path)
    assert adapter.parts() == [0, 2]
    rec = {r.video_id: r for r in _records(adapter)}
    d = rec["D_id00076_00109_10_id00476_wavtolip"]
    assert (d.label, d.original_id, d.method, d.donor_identity) == (
        "FAKE",
        "A_id00076_00109",
        "wav2lip",
        "fakeavceleb:id00476",
    )
    assert rec["C_id00076_00109_id00476"].method is None  # not in meta_data.csv
    assert rec["D_id07686_00254_id06437_3BZvvzBhj8s_id00043_wavtolip"].donor_identity == "fakeavceleb:id06437"
    assert rec["B_id07686_00254"].label == "REAL" and rec["B_id07686_00254"].part == 2
    assert all(r.status == "ok" for r in rec.values())


# ----------------------------------------------------------------------------- DFDC and params


def _dfdc_part(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(
        json.dumps(
            {
                "a.mp4": {"label": "REAL", "split": "train"},
                "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
            }
        )
    )
    for name in ("a.mp4", "b.mp4"):
        (folder / name).write_bytes(b"")


def test_dfdc_accepts_the_archive_nesting(tmp_path: Path) -> None:
    _dfdc_part(tmp_path / "flat" / "dfdc_train_part_0")
    _dfdc_part(tmp_path / "nested" / "dfdc_train_part_0" / "dfdc_train_part_0")
    flat = adapter_for("dfdc", tmp_path / "flat").videos(0)
    nested = adapter_for("dfdc", tmp_path / "nested").videos(0)
    assert [r.path for r in flat] == ["dfdc_train_part_0/a.mp4", "dfdc_train_part_0/b.mp4"]
    assert [r.path for r in nested] == [
        "dfdc_train_part_0/dfdc_train_part_0/a.mp4",
        "dfdc_train_part_0/dfdc_train_part_0/b.mp4",
    ]
    assert [(r.video_id, r.status, r.original_id) for r in flat] == [
        (r.video_id, r.status, r.original_id) for r in nested
    ]
    table = ingest_part(tmp_path / "nested", 0, probe_decode=False).table
    assert table.schema == VIDEOS.schema and table.column("status").to_pylist() == ["empty", "empty"]


def test_only_dfdc_keeps_the_v2_columns() -> None:
    names = {f.name for f in ADAPTER_FIELDS}
    assert (
        not names & set(VIDEOS.schema.names)
        and spec_for("ffpp").schema.names[: len(VIDEOS.schema)] == VIDEOS.schema.names
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"kind": "dfd"}, "corpus.kind"),
        ({"qualities": ["c24"]}, r"corpus.qualities\[0\]"),
        ({"qualities": []}, "corpus.qualities"),
        ({"label_policy": "audio"}, "corpus.label_policy"),
    ],
)
def test_corpus_params_name_the_bad_key(tmp_path: Path, section: dict, message: str) -> None:
    import yaml

    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"corpus": {"root": "x", "parts": [0], **section}}))
    with pytest.raises(DfmaskError, match=message):
        load_section(CorpusParams, "corpus", tmp_path / "params.yaml")


def test_every_kind_has_an_adapter(tmp_path: Path) -> None:
    assert (
        set(KINDS) == set(CorpusParams.__annotations__["kind"].__args__)
        if hasattr(CorpusParams.__annotations__["kind"], "__args__")
        else True
    )
    for kind in KINDS[1:]:
        with pytest.raises(DfmaskError, match="corpus.root"):
            adapter_for(kind, tmp_path)


# ----------------------------------------------------------------------------- true masks


def test_ffpp_mask_videos_decode_to_the_sample_truth(trees, sample: Path) -> None:
    from dfmask.corpus.groundtruth import load_ground_truth, true_mask
    from dfmask.corpus.truemasks import true_masks
    from dfmask.metrics import iou

    tree, options = trees["ffpp"]
    gt = load_ground_truth(sample / "ground_truth.parquet")
    fakes = [r for r in _records(adapter_for("ffpp", tree.root, **options)) if r.mask_path and r.quality == "c23"]
    assert fakes
    scores = []
    for rec in fakes:
        written = tree.files[rec.path or ""]
        masks = list(true_masks(tree.root, rec.mask_path or ""))
        truths = [true_mask(gt, written.sample_id, i) for i in range(len(masks))]
        assert masks and masks[0].shape == truths[0].shape
        for got, want in zip(masks, truths, strict=True):
            if want.any():
                scores.append(iou(got, want))
            else:
                assert not got.any()
    assert scores and min(scores) > 0.95
    with pytest.raises(DfmaskError, match="not found"):
        next(true_masks(tree.root, "manipulated_sequences/Deepfakes/masks/videos/nothing.mp4"))


def test_another_kind_names_a_missing_part(tmp_path: Path) -> None:
    from dfmask.corpus.sample import check_corpus_root

    _touch(tmp_path, ["Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4"])
    check_corpus_root(str(tmp_path), [0, 1], "celebdf")  # no dfdc_train_part_N wanted
    with pytest.raises(DfmaskError, match=r"Celeb-DF v2 has no part 1 \(it has \[0\]\)"):
        ingest_part(tmp_path, 1, adapter=adapter_for("celebdf", tmp_path))
