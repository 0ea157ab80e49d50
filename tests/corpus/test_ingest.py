"""Metadata validation and ingest of one part: every bad-input case gets its status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dfmask.corpus.ingest import VIDEOS, check_corpus, ingest_part
from dfmask.corpus.metadata import safe_name, validate_part
from dfmask.errors import DfmaskError
from dfmask.tables import read_table, write_table
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
    assert len(result.report["problems"]) == len(status) - 2
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
