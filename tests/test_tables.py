"""Parquet contracts: PNG cells, schema metadata, version checks, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfmask.errors import DfmaskError
from dfmask.schemas.registry import SPECS
from dfmask.schemas.release import release_spec
from dfmask.tables import (
    BOX,
    IMAGE,
    TableSpec,
    _hf_features,
    decode_png,
    encode_png,
    field,
    image_cell,
    read_metadata,
    read_table,
    write_shards,
    write_table,
)

SPEC = TableSpec(
    name="demo",
    version=2,
    schema=pa.schema(
        [
            field("video_id", pa.string(), "video"),
            field("frame_idx", pa.int32(), "frame"),
            field("box", BOX, "box"),
            field("crop", IMAGE, "crop"),
        ]
    ),
    sort_key=("video_id", "frame_idx"),
    image_columns=("crop",),
)


def _rows(order: list[int]) -> list[dict]:
    rng = np.random.default_rng(0)
    images = {i: rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for i in range(3)}
    return [
        {"video_id": f"v{i % 2}", "frame_idx": i, "box": [0, 1, 2, 3], "crop": image_cell(images[i], f"v{i}.png")}
        for i in order
    ]


def test_png_roundtrip_rgb_and_grey() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 255, (5, 7), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(rgb)), rgb)  # channel order preserved
    assert np.array_equal(decode_png(encode_png(grey), grey=True), grey)
    assert encode_png(rgb) == encode_png(rgb.copy())
    with pytest.raises(ValueError, match="uint8"):
        encode_png(rgb.astype(np.float32))


def test_write_is_sorted_deterministic_and_documented(tmp_path: Path) -> None:
    a = write_table(
        pa.Table.from_pylist(_rows([2, 0, 1]), schema=SPEC.schema), tmp_path / "a.parquet", SPEC, "demo", {"k": 1}
    )
    b = write_table(
        pa.Table.from_pylist(_rows([1, 2, 0]), schema=SPEC.schema), tmp_path / "b.parquet", SPEC, "demo", {"k": 1}
    )
    assert a.read_bytes() == b.read_bytes()
    table = read_table(a, SPEC)
    assert table.column("frame_idx").to_pylist() == [0, 2, 1]  # sorted by (video_id, frame_idx)
    meta = read_metadata(a)
    assert meta["table"] == "demo" and meta["schema_version"] == 2 and meta["params"] == {"k": 1}
    assert "numpy" in meta["libraries"] and meta["columns"]["crop"] == "crop"
    hf = json.loads(pq.read_schema(a).metadata[b"huggingface"])
    assert hf["info"]["features"]["crop"] == {"_type": "Image"}
    assert hf["info"]["features"]["box"]["length"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_reader_refuses_other_versions_and_foreign_files(tmp_path: Path) -> None:
    path = write_table(pa.Table.from_pylist(_rows([0]), schema=SPEC.schema), tmp_path / "a.parquet", SPEC, "demo")
    newer = TableSpec(SPEC.name, 3, SPEC.schema, SPEC.sort_key)
    with pytest.raises(DfmaskError, match="v2, expected 'demo' v3"):
        read_table(path, newer)
    pq.write_table(pa.table({"x": [1]}), tmp_path / "foreign.parquet")
    with pytest.raises(DfmaskError, match="not a dfmask table"):
        read_table(tmp_path / "foreign.parquet", SPEC)
    with pytest.raises(DfmaskError, match="missing demo table"):
        read_table(tmp_path / "nope.parquet", SPEC)
    (tmp_path / "csv.parquet").write_text("video_id,split\na,train\n")  # not Parquet at all
    (tmp_path / "cut.parquet").write_bytes(path.read_bytes()[:100])  # truncated
    for bad in ("csv.parquet", "cut.parquet"):
        with pytest.raises(DfmaskError, match=rf"{bad}: not a Parquet table \(") as err:
            read_table(tmp_path / bad, SPEC)
        assert "\n" not in str(err.value)


def test_schema_mismatch_names_the_table(tmp_path: Path) -> None:
    bad = pa.table({"video_id": ["a"], "frame_idx": ["not an int"], "box": [[0, 0, 1, 1]], "crop": [None]})
    with pytest.raises(ValueError, match="demo v2 does not match its schema"):
        write_table(bad, tmp_path / "x.parquet", SPEC, "demo")


def _video_rows(video: str, n: int) -> pa.Table:
    rows = [{"video_id": video, "frame_idx": i, "box": [0, 0, 1, 1], "crop": None} for i in range(n)]
    return pa.Table.from_pylist(rows, schema=SPEC.schema)


def test_write_shards_cuts_at_unit_boundaries(tmp_path: Path) -> None:
    out = tmp_path / "part=0"
    out.mkdir()
    (out / "demo-00009.parquet").write_bytes(b"stale shard of an earlier run")
    (out / "other.parquet").write_bytes(b"not ours")
    sizes = {"a": 2, "b": 0, "c": 2, "d": 5, "e": 1}
    units = [_video_rows(v, n) for v, n in sizes.items()]
    paths = write_shards(units, out, "demo", SPEC, 4, "demo", {"k": 1}, {"part": 0})
    assert [p.name for p in paths] == [f"demo-{i:05d}.parquet" for i in range(3)]
    videos = [sorted(set(read_table(p, SPEC)["video_id"].to_pylist())) for p in paths]
    # a+b+c fill 4 rows (b has none: it stays in the open shard), d (5 > 4) gets a shard of its own
    assert videos == [["a", "c"], ["d"], ["e"]]
    assert [read_table(p, SPEC).num_rows for p in paths] == [4, 5, 1]
    assert not (out / "demo-00009.parquet").exists() and (out / "other.parquet").exists()
    assert read_metadata(paths[0])["extra"] == {"part": 0}
    # the same units give the same bytes; no units give one empty shard carrying the schema
    again = write_shards(units, tmp_path / "again", "demo", SPEC, 4, "demo", {"k": 1}, {"part": 0})
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]
    [empty] = write_shards([], out, "demo", SPEC, 4, "demo")
    assert empty.name == "demo-00000.parquet" and read_table(empty, SPEC).num_rows == 0
    assert not (out / "demo-00001.parquet").exists()


@pytest.mark.parametrize("spec_name", [*SPECS, "release (pixel-free)"])
def test_hf_features_match_datasets(spec_name: str) -> None:
    """The hand-written ``huggingface`` metadata means what `datasets` itself would write.

    `_hf_features` stays hand-written because `datasets` (4+) spells list columns
    ``List`` where our tables, already written, say ``Sequence``: the bytes would change.
    Both spellings must load as the same features: the Arrow types of the spec, with
    ``Image`` for image columns.
    """
    datasets = pytest.importorskip("datasets")
    spec = release_spec(False) if spec_name == "release (pixel-free)" else SPECS[spec_name]
    ours = _hf_features(spec)
    plain = pa.schema([pa.field(f.name, f.type) for f in spec.schema])
    expected = datasets.Features.from_arrow_schema(plain)
    for column in spec.image_columns:
        expected[column] = datasets.Image()
    loaded = datasets.Features.from_dict(ours["info"]["features"])
    assert loaded == expected
    assert loaded.arrow_schema.equals(plain)
    # the one difference in the written bytes: the spelling of list features
    theirs = json.dumps({"info": {"features": expected.to_dict()}}, sort_keys=True)
    assert theirs.replace('"_type": "List"', '"_type": "Sequence"') == json.dumps(ours, sort_keys=True)
