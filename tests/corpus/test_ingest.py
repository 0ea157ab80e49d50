"""Metadata validation and ingest of one part: every bad-input case gets its status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dfmask.corpus.ingest import _report, check_corpus, ingest_part
from dfmask.corpus.metadata import safe_name, validate_part
from dfmask.errors import DfmaskError
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import file_sha256, read_table, write_json, write_table
from dfmask.video import encode_video


def _frames(n: int = 6, w: int = 64, h: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return [np.roll(base, i, axis=1) for i in range(n)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_video(_frames(), tmp_path_factory.mktemp("clip") / "clip.mp4", fps=10)


def _part(root: Path, part: int, meta: dict | str, files: dict[str, bytes | Path]) -> Path:
    folder = root / f"dfdc_train_part_{part}"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    for name, content in files.items():
        data = content.read_bytes() if isinstance(content, Path) else content
        (folder / name).write_bytes(data)
    return folder


def test_good_part_rows_and_links(tmp_path: Path, clip: Path) -> None:
    meta = {
        "aaaa.mp4": {"label": "REAL", "split": "train"},
        "bbbb.mp4": {"label": "FAKE", "split": "train", "original": "aaaa.mp4"},
    }
    _part(tmp_path, 0, meta, {"aaaa.mp4": clip, "bbbb.mp4": clip})
    result = ingest_part(tmp_path, 0)
    rows = {r["video_id"]: r for r in result.table.to_pylist()}
    assert set(rows) == {"aaaa", "bbbb"}
    assert rows["aaaa"]["is_fake"] is False and rows["aaaa"]["original_id"] is None
    assert rows["bbbb"]["is_fake"] is True and rows["bbbb"]["original_id"] == "aaaa"
    for r in rows.values():
        assert r["status"] == "ok"
        assert (r["frames"], r["width"], r["height"], r["codec"]) == (6, 64, 48, "h264")
        assert r["fps"] == pytest.approx(10.0)
        assert r["path"] == f"dfdc_train_part_0/{r['filename']}"
    assert result.report["by_status"] == {"ok": 2}


def test_every_validation_case_gets_a_status(tmp_path: Path, clip: Path) -> None:
    truncated = clip.read_bytes()[: len(clip.read_bytes()) // 2]
    meta = {
        "real.mp4": {"label": "REAL", "split": "train"},
        "fake.mp4": {"label": "FAKE", "original": "real.mp4"},
        "gone.mp4": {"label": "REAL"},  # listed, missing
        "noorig.mp4": {"label": "FAKE"},  # no original field
        "elsewhere.mp4": {"label": "FAKE", "original": "other.mp4"},  # original not in part
        "fakeorig.mp4": {"label": "FAKE", "original": "fake.mp4"},  # original is FAKE
        "../escape.mp4": {"label": "REAL"},
        "/abs.mp4": {"label": "REAL"},
        "sub/dir.mp4": {"label": "REAL"},
        "notes.txt": {"label": "REAL"},
        "weird.mp4": {"label": "MAYBE"},
        "entry.mp4": ["not", "an", "object"],
        "empty.mp4": {"label": "REAL"},
        "trunc.mp4": {"label": "REAL"},
        "junk.mp4": {"label": "REAL"},
        "orphan.mp4": {"label": "FAKE", "original": "junk.mp4"},  # original corrupt
    }
    files = {
        "real.mp4": clip,
        "fake.mp4": clip,
        "noorig.mp4": clip,
        "elsewhere.mp4": clip,
        "fakeorig.mp4": clip,
        "notes.txt": b"hello",
        "weird.mp4": clip,
        "entry.mp4": clip,
        "empty.mp4": b"",
        "trunc.mp4": truncated,
        "junk.mp4": b"\x00garbage" * 100,
        "orphan.mp4": clip,
        "unlisted.mp4": clip,
    }
    _part(tmp_path, 3, meta, files)
    result = ingest_part(tmp_path, 3)
    status = {r["filename"]: r["status"] for r in result.table.to_pylist()}
    assert status == {
        "real.mp4": "ok",
        "fake.mp4": "ok",
        "gone.mp4": "missing_file",
        "noorig.mp4": "missing_original",
        "elsewhere.mp4": "original_not_in_part",
        "fakeorig.mp4": "original_is_fake",
        "../escape.mp4": "bad_name",
        "/abs.mp4": "bad_name",
        "sub/dir.mp4": "bad_name",
        "notes.txt": "not_mp4",
        "weird.mp4": "bad_label",
        "entry.mp4": "bad_entry",
        "empty.mp4": "empty",
        "trunc.mp4": "truncated",
        "junk.mp4": "corrupt",
        "orphan.mp4": "original_unusable",
        "unlisted.mp4": "unlisted_file",
    }
    # every non-ok row explains itself, and the report counts every row
    for r in result.table.to_pylist():
        assert (r["status"] == "ok") == (r["status_detail"] is None), r
    assert sum(result.report["by_status"].values()) == len(status)
    assert result.report["problems"]["count"] == len(status) - 2
    # a path-traversing name is never turned into a path
    assert all(r["path"] is None for r in result.table.to_pylist() if r["status"] == "bad_name")


@pytest.mark.parametrize(
    ("text", "needle"),
    [("{not json", "line 1 column 2"), ("[1, 2]", "expected a JSON object"), (b"\xff\xfe", "UTF-8")],
)
def test_malformed_metadata_names_the_file(tmp_path: Path, text: str | bytes, needle: str) -> None:
    folder = tmp_path / "dfdc_train_part_0"
    folder.mkdir()
    path = folder / "metadata.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DfmaskError, match="metadata.json") as err:
        validate_part(folder)
    assert needle in str(err.value)


def test_missing_part_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="dfdc_train_part_7: part folder not found"):
        ingest_part(tmp_path, 7)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("a.mp4", False),
        ("..", True),
        ("../a.mp4", True),
        ("/a.mp4", True),
        ("a/b.mp4", True),
        ("a\\b.mp4", True),
        ("C:a.mp4", True),
        ("", True),
        (" a.mp4", True),
        ("a..b.mp4", False),
    ],
)
def test_safe_name(name: str, bad: bool) -> None:
    assert (safe_name(name) is not None) == bad


def _table(part: int, rows: list[dict]) -> pa.Table:
    full = [{"part": part, "filename": r["video_id"] + ".mp4", "status": "ok", **r} for r in rows]
    return pa.Table.from_pylist(full, schema=VIDEOS.schema)


def test_check_corpus_duplicates_and_cross_part_originals() -> None:
    t0 = _table(
        0, [{"video_id": "aaaa"}, {"video_id": "cccc", "status": "original_not_in_part", "original_id": "bbbb"}]
    )
    t1 = _table(
        1, [{"video_id": "bbbb"}, {"video_id": "dddd", "status": "original_not_in_part", "original_id": "zzzz"}]
    )
    report = check_corpus([t0, t1])
    cross = {c["video_id"]: (c["status"], c["original_part"]) for c in report["cross_part_originals"]}
    assert cross == {"cccc": ("original_in_other_part", 1), "dddd": ("original_missing", None)}
    with pytest.raises(DfmaskError, match="aaaa.mp4 appears in both dfdc_train_part_0 and dfdc_train_part_1"):
        check_corpus([t0, _table(1, [{"video_id": "aaaa"}])])


def test_table_roundtrip_and_determinism(tmp_path: Path, clip: Path) -> None:
    _part(tmp_path / "c", 0, {"aaaa.mp4": {"label": "REAL"}}, {"aaaa.mp4": clip})
    a = write_table(ingest_part(tmp_path / "c", 0).table, tmp_path / "a.parquet", VIDEOS, "ingest@0")
    b = write_table(ingest_part(tmp_path / "c", 0).table, tmp_path / "b.parquet", VIDEOS, "ingest@0")
    assert a.read_bytes() == b.read_bytes()
    assert read_table(a, VIDEOS).num_rows == 1


def test_colliding_names_get_a_status_on_every_entry(tmp_path: Path, clip: Path) -> None:
    meta = {
        "a.mp4": {"label": "REAL"},
        "x": {"label": "REAL"},
        "x.mp4": {"label": "REAL"},
        "B.mp4": {"label": "REAL"},
        "b.mp4": {"label": "REAL"},
        "fa.mp4": {"label": "FAKE", "original": "a.mp4"},
        "solo.mp4": {"label": "REAL"},
        "x.mp4.mp4": {"label": "REAL"},  # its id 'x.mp4' is the name of a duplicate
        "fx.mp4": {"label": "FAKE", "original": "x.mp4.mp4"},
    }
    files = {n: clip for n in (*meta, "a.MP4")}
    _part(tmp_path, 0, meta, files)
    rows = {r["filename"]: r for r in ingest_part(tmp_path, 0).table.to_pylist()}
    status = {name: r["status"] for name, r in rows.items()}
    assert status == {
        "a.mp4": "duplicate_name",
        "a.MP4": "duplicate_name",  # unlisted, but it would overwrite a.mp4's crops
        "x": "duplicate_name",
        "x.mp4": "duplicate_name",
        "B.mp4": "duplicate_name",  # one file on a case-insensitive disk
        "b.mp4": "duplicate_name",
        "fa.mp4": "original_unusable",
        "solo.mp4": "ok",
        "x.mp4.mp4": "duplicate_name",
        "fx.mp4": "original_unusable",
    }
    assert "'a.MP4'" in rows["a.mp4"]["status_detail"] and "'a.mp4'" in rows["a.MP4"]["status_detail"]
    # video_id stays unique (the table's promise; release joins on it): duplicates carry their name
    ids = [r["video_id"] for r in rows.values()]
    assert len(ids) == len(set(ids))
    assert all(r["video_id"] == name for name, r in rows.items() if r["status"] == "duplicate_name")
    assert rows["solo.mp4"]["video_id"] == "solo"


def test_duplicate_keys_in_metadata_are_a_status_not_last_wins(tmp_path: Path, clip: Path) -> None:
    text = (
        '{"d.mp4": {"label": "REAL"}, "d.mp4": {"label": "FAKE", "original": "e.mp4"},'
        ' "e.mp4": {"label": "REAL", "label": "FAKE"}, "f.mp4": {"label": "REAL"},'
        ' "g.mp4": {"label": "FAKE", "original": "d.mp4"},'
        ' "../h.mp4": {"label": "REAL"}, "../h.mp4": {"label": "REAL"}}'
    )
    (tmp_path / "h.mp4").write_bytes(clip.read_bytes())
    _part(tmp_path, 0, text, {n: clip for n in ("d.mp4", "e.mp4", "f.mp4", "g.mp4")})
    rows = {r["filename"]: r for r in ingest_part(tmp_path, 0).table.to_pylist()}
    assert {n: r["status"] for n, r in rows.items()} == {
        "d.mp4": "duplicate_key",
        "e.mp4": "duplicate_key",
        "f.mp4": "ok",
        "g.mp4": "original_unusable",
        "../h.mp4": "bad_name",  # a traversing name stays bad_name: never a path, never read
    }
    assert rows["../h.mp4"]["path"] is None and rows["../h.mp4"]["bytes"] is None
    assert rows["d.mp4"]["status_detail"] == "listed 2 times in metadata.json"
    assert "'label'" in rows["e.mp4"]["status_detail"]
    assert rows["d.mp4"]["label"] is None and rows["e.mp4"]["label"] is None  # neither value is kept


def test_symlinks_inside_the_corpus_are_followed_others_refused(tmp_path: Path, clip: Path) -> None:
    disk = tmp_path / "disk"  # the data lives elsewhere; corpus.root is a link to it
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(clip.read_bytes())
    meta = {
        "real.mp4": {"label": "REAL"},
        "inside.mp4": {"label": "REAL"},
        "away.mp4": {"label": "REAL"},
        "passwd.mp4": {"label": "REAL"},
        "gone.mp4": {"label": "REAL"},
        "fake.mp4": {"label": "FAKE", "original": "away.mp4"},
    }
    folder = _part(disk, 0, meta, {"real.mp4": clip, "fake.mp4": clip})
    _part(disk, 1, {}, {"other.mp4": clip})
    (folder / "inside.mp4").symlink_to("../dfdc_train_part_1/other.mp4")
    (folder / "away.mp4").symlink_to(outside)
    (folder / "passwd.mp4").symlink_to("/etc/passwd")
    (folder / "gone.mp4").symlink_to(tmp_path / "nothing.mp4")
    (folder / "loose.mp4").symlink_to(tmp_path / "nothing2.mp4")  # unlisted and dangling
    (tmp_path / "root").symlink_to(disk)
    rows = {r["filename"]: r for r in ingest_part(tmp_path / "root", 0).table.to_pylist()}
    assert {n: r["status"] for n, r in rows.items()} == {
        "real.mp4": "ok",
        "inside.mp4": "ok",
        "away.mp4": "link_outside_corpus",
        "passwd.mp4": "link_outside_corpus",
        "gone.mp4": "dangling_link",
        "loose.mp4": "dangling_link",
        "fake.mp4": "original_unusable",
    }
    assert rows["inside.mp4"]["frames"] == 6
    for name in ("away.mp4", "passwd.mp4", "gone.mp4", "loose.mp4"):  # never opened
        assert rows[name]["bytes"] is None and rows[name]["sha256"] is None, name
    assert str(tmp_path) not in json.dumps(list(rows.values()))
    # a part folder that is itself a link (another disk) may hold links into itself
    (tmp_path / "root2").mkdir()
    (tmp_path / "root2" / "dfdc_train_part_0").symlink_to(disk / "dfdc_train_part_1")
    (disk / "dfdc_train_part_1" / "again.mp4").symlink_to("other.mp4")
    (disk / "dfdc_train_part_1" / "metadata.json").write_text(json.dumps({"again.mp4": {"label": "REAL"}}))
    rows2 = {r["filename"]: r["status"] for r in ingest_part(tmp_path / "root2", 0).table.to_pylist()}
    assert rows2 == {"again.mp4": "ok", "other.mp4": "unlisted_file"}


def test_sha256_is_the_file_content_hash(tmp_path: Path, clip: Path) -> None:
    data = bytearray(clip.read_bytes())
    _part(tmp_path / "a", 0, {"v.mp4": {"label": "REAL"}}, {"v.mp4": bytes(data)})
    data[len(data) // 2] ^= 0x01  # same size, same probe
    _part(tmp_path / "b", 0, {"v.mp4": {"label": "REAL"}}, {"v.mp4": bytes(data)})
    a, b = (ingest_part(tmp_path / k, 0).table.to_pylist()[0] for k in "ab")
    assert a["sha256"] == file_sha256(tmp_path / "a" / "dfdc_train_part_0" / "v.mp4")
    assert a["sha256"] != b["sha256"]
    assert {k: v for k, v in a.items() if k != "sha256"} == {k: v for k, v in b.items() if k != "sha256"}


def test_same_corpus_at_two_paths_gives_the_same_bytes(tmp_path: Path, clip: Path) -> None:
    meta = {"real.mp4": {"label": "REAL"}, "gone.mp4": {"label": "REAL"}, "junk.mp4": {"label": "REAL"}}
    files = {"real.mp4": clip, "junk.mp4": b"\x00garbage" * 100}
    outs = []
    for where in ("one/corpus", "two/deeper/corpus"):
        _part(tmp_path / where, 0, meta, files)
        result = ingest_part(tmp_path / where, 0)
        out = tmp_path / where.replace("/", "_")
        table = write_table(result.table, out / "videos.parquet", VIDEOS, "ingest@0")
        report = write_json(out / "report.json", result.report)
        outs.append((table.read_bytes(), report.read_bytes()))
    assert outs[0] == outs[1]
    assert b"dfdc_train_part_0/gone.mp4" in outs[0][1]


@pytest.mark.parametrize("case", ["folder", "deep"])
def test_unreadable_metadata_is_one_error_naming_the_file(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "dfdc_train_part_0"
    folder.mkdir()
    if case == "folder":
        (folder / "metadata.json").mkdir()
    else:
        (folder / "metadata.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DfmaskError, match="dfdc_train_part_0/metadata.json: "):
        validate_part(folder)


def test_report_of_200k_videos_counts_and_samples() -> None:
    rows = [
        {
            "filename": f"{i:08d}{'x' * 40}.mp4",
            "status": "corrupt" if i % 2 else "ok",
            "status_detail": "cannot open container: [Errno 1094995529] Invalid data" if i % 2 else None,
            "is_fake": bool(i % 3),
            "frames": 300,
        }
        for i in range(200_000)
    ]
    report = _report(0, rows)
    size = len(json.dumps(report, indent=2, sort_keys=True))
    assert size < 100_000, size
    assert report["problems"]["count"] == 100_000 and report["by_status"] == {"corrupt": 100_000, "ok": 100_000}
    assert report["problems"]["sample"][0]["filename"] == rows[1]["filename"]


def test_fake_turned_otherwise_than_its_original_gets_rotation_mismatch(tmp_path: Path) -> None:
    from rotated_video import encode_rotated

    clips = tmp_path / "clips"
    files = {
        "orig.mp4": encode_video(_frames(), clips / "orig.mp4", fps=10),
        "flip.mp4": encode_rotated(_frames(), clips / "flip.mp4", 180),
        "same.mp4": encode_video(_frames(seed=1), clips / "same.mp4", fps=10),
        "side.mp4": encode_rotated(_frames(), clips / "side.mp4", 90),
        "sidefake.mp4": encode_rotated(_frames(seed=2), clips / "sidefake.mp4", 90),
    }
    meta = {
        "orig.mp4": {"label": "REAL", "split": "train"},
        "flip.mp4": {"label": "FAKE", "split": "train", "original": "orig.mp4"},
        "same.mp4": {"label": "FAKE", "split": "train", "original": "orig.mp4"},
        "side.mp4": {"label": "REAL", "split": "train"},
        "sidefake.mp4": {"label": "FAKE", "split": "train", "original": "side.mp4"},
    }
    _part(tmp_path, 0, meta, files)
    rows = {r["filename"]: r for r in ingest_part(tmp_path, 0).table.to_pylist()}
    assert {name: r["status"] for name, r in rows.items()} == {
        "orig.mp4": "ok",
        "flip.mp4": "rotation_mismatch",
        "same.mp4": "ok",
        "side.mp4": "ok",
        "sidefake.mp4": "ok",  # turned like its original: pairs in the displayed frame
    }
    assert rows["flip.mp4"]["status_detail"] == "fake is displayed rotated 180°, its original orig.mp4 0°"
    assert (rows["side.mp4"]["rotation"], rows["side.mp4"]["width"], rows["side.mp4"]["height"]) == (90, 48, 64)
