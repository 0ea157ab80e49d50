"""The catalogue's typed readers: part=N layout, version checks, column selection."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfmask.errors import DfmaskError
from dfmask.schemas.embeddings import EMBEDDINGS, read_embeddings
from dfmask.schemas.faces import FACE_VIDEOS, FACES, STATUS_PATH, faces_shards, read_face_videos, read_faces
from dfmask.schemas.ground_truth import GROUND_TRUTH, read_ground_truth
from dfmask.schemas.masks import MASKS, read_masks
from dfmask.schemas.splits import SPLITS, read_splits
from dfmask.schemas.videos import VIDEOS, read_videos
from dfmask.tables import TableSpec, write_table


def _value(t: pa.DataType, i: int) -> Any:
    if pa.types.is_fixed_size_list(t):
        return [_value(t.value_type, i)] * t.list_size
    if pa.types.is_list(t):
        return [_value(t.value_type, i)]
    if pa.types.is_struct(t):
        return {"bytes": b"\x89PNG", "path": None}
    if pa.types.is_boolean(t):
        return bool(i % 2)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return i
    return f"v{i}"


def rows(spec: TableSpec, part: int, n: int = 2) -> pa.Table:
    """``n`` rows of ``spec``'s schema for corpus part ``part`` (video ids ``p<part>v<i>``)."""
    out = []
    for i in range(n):
        row = {f.name: _value(f.type, i) for f in spec.schema}
        row.update(part=part, video_id=f"p{part}v{i}")
        out.append(row)
    return pa.Table.from_pylist(out, schema=spec.schema)


# (spec, where part N's file goes under root, reader(root, parts, columns))
PER_PART: list[tuple[TableSpec, Callable[[Path, int], Path], Callable[..., pa.Table]]] = [
    (VIDEOS, lambda root, p: root / f"part={p}.parquet", read_videos),
    (EMBEDDINGS, lambda root, p: root / f"part={p}.parquet", read_embeddings),
    (FACES, lambda root, p: root / f"part={p}" / "faces-00000.parquet", read_faces),
    (MASKS, lambda root, p: root / f"part={p}" / "masks-00000.parquet", read_masks),
    (FACE_VIDEOS, lambda root, p: root / f"part={p}" / STATUS_PATH, read_face_videos),
]
IDS = [spec.name for spec, _, _ in PER_PART]


@pytest.mark.parametrize(("spec", "where", "reader"), PER_PART, ids=IDS)
def test_per_part_reader_reads_the_parts_asked_for(tmp_path: Path, spec, where, reader) -> None:
    for part in (0, 1, 2):
        write_table(rows(spec, part), where(tmp_path, part), spec, "test")
    table = reader(tmp_path, [2, 0], ["video_id", "part"])
    assert table.column_names == ["video_id", "part"]  # the columns asked for, in that order
    assert table.schema.field("part").type == spec.schema.field("part").type  # the spec's types
    assert sorted(table["video_id"].to_pylist()) == ["p0v0", "p0v1", "p2v0", "p2v1"]  # part 1 not read
    assert reader(tmp_path, [1]).schema.names == spec.schema.names  # columns=None: every column
    with pytest.raises(DfmaskError, match=r"part=7"):  # a missing part names its file or folder
        reader(tmp_path, [7])
    with pytest.raises(ValueError, match=rf"{spec.name} v{spec.version} has no column\(s\) nope"):
        reader(tmp_path, [0], ["part", "nope"])


@pytest.mark.parametrize(("spec", "where", "reader"), PER_PART, ids=IDS)
def test_per_part_reader_refuses_an_old_version(tmp_path: Path, spec, where, reader) -> None:
    old = dataclasses.replace(spec, version=spec.version - 1)
    write_table(rows(spec, 0), where(tmp_path, 0), old, "test")
    with pytest.raises(DfmaskError, match=rf"v{old.version}, expected '{spec.name}' v{spec.version}"):
        reader(tmp_path, [0])


@pytest.mark.parametrize(
    ("spec", "reader"), [(SPLITS, read_splits), (GROUND_TRUTH, read_ground_truth)], ids=["splits", "ground_truth"]
)
def test_single_file_reader_checks_version_and_selects_columns(tmp_path: Path, spec, reader) -> None:
    path = tmp_path / "t.parquet"
    write_table(rows(spec, 3), path, spec, "test")
    table = reader(path, ["video_id"])
    assert table.column_names == ["video_id"] and table["video_id"].to_pylist() == ["p3v0", "p3v1"]
    write_table(rows(spec, 3), path, dataclasses.replace(spec, version=spec.version + 1), "test")
    with pytest.raises(DfmaskError, match=rf"expected '{spec.name}' v{spec.version}"):
        reader(path)
    with pytest.raises(DfmaskError, match="missing"):
        reader(tmp_path / "absent.parquet")


def test_a_file_without_a_column_of_its_version_names_file_and_column(tmp_path: Path) -> None:
    path = write_table(rows(SPLITS, 0), tmp_path / "splits.parquet", SPLITS, "test")
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["group_id"]).replace_schema_metadata(table.schema.metadata), path)
    assert read_splits(path, ["video_id"]).num_rows == 2  # the columns it still has read fine
    with pytest.raises(DfmaskError, match=r"splits\.parquet: splits table lacks column\(s\) group_id"):
        read_splits(path, ["video_id", "group_id"])
    with pytest.raises(DfmaskError, match=r"lacks column\(s\) group_id"):
        read_splits(path)  # every column of the spec


def test_shards_are_picked_by_table_name_not_file_name(tmp_path: Path) -> None:
    folder = tmp_path / "part=0"
    write_table(rows(FACES, 0), folder / "faces-00000.parquet", FACES, "test")
    write_table(rows(MASKS, 0, 3), folder / "zz-other.parquet", MASKS, "test")  # another table in the folder
    pq.write_table(pa.table({"x": [1]}), folder / "plain.parquet")  # not a dfmask table
    assert faces_shards(folder) == [folder / "faces-00000.parquet"]
    assert read_faces(tmp_path, [0]).num_rows == 2
    assert read_masks(tmp_path, [0]).num_rows == 3


def test_shards_that_differ_in_nullability_concatenate(tmp_path: Path) -> None:
    """A shard written before a column became non-null still reads with the others."""
    loose = dataclasses.replace(FACES, schema=pa.schema([f.with_nullable(True) for f in FACES.schema]))
    write_table(rows(FACES, 0), tmp_path / "part=0" / "faces-00000.parquet", loose, "test")
    write_table(rows(FACES, 0), tmp_path / "part=0" / "faces-00001.parquet", FACES, "test")
    table = read_faces(tmp_path, [0], ["part", "video_id"])
    assert table.num_rows == 4 and not table.schema.field("part").nullable
