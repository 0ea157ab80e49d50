"""Read the upstream tables the release joins, checking the columns it relies on.

The release reads four tables, per corpus part (see ../shared/DESIGN.md):

==========  ==============================================  ===================================
table       where                                           used for
==========  ==============================================  ===================================
faces       ``data/interim/faces/part=N/*.parquet``         one row per crop: ids, geometry, crop
masks       ``data/processed/masks/part=N/*.parquet``       one row per FAKE crop: mask + QA
splits      ``data/interim/splits.parquet``                 one row per video: split, groups
videos      ``data/interim/videos/part=N.parquet``          frame size and fps of each video
==========  ==============================================  ===================================

A part folder may hold shards of other tables too (identity embeddings sit next to the
faces), so shards are picked by the table name in their ``dfmask`` schema metadata, not
by file name. The release only needs some columns of each table: `UPSTREAM` lists them
with the Arrow type the release casts them to. A missing column or an uncastable type is
a `DfmaskError` naming the file and the column, so a schema change upstream fails here
with a message instead of producing a silently wrong release.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dfmask import tables
from dfmask.errors import DfmaskError

#: Columns the release reads from each upstream table, and the type it casts them to.
UPSTREAM: dict[str, dict[str, pa.DataType]] = {
    "faces": {
        "part": pa.int32(),
        "video_id": pa.string(),
        "original_id": pa.string(),
        "is_fake": pa.bool_(),
        "frame_idx": pa.int32(),
        "track_id": pa.int32(),
        "box": tables.BOX,
        "crop_box": tables.BOX,
        "landmarks": tables.LANDMARKS,
        "prob": pa.float32(),
        "crop": tables.IMAGE,
    },
    "masks": {
        "part": pa.int32(),
        "video_id": pa.string(),
        "frame_idx": pa.int32(),
        "track_id": pa.int32(),
        "mask": tables.IMAGE,
        "ssim_mean": pa.float32(),
        "manipulated_frac": pa.float32(),
        "valid": pa.bool_(),
    },
    "splits": {
        "part": pa.int32(),
        "video_id": pa.string(),
        "split": pa.string(),
        "group_id": pa.string(),
        "identity_id": pa.string(),
        "donor_identity_id": pa.string(),
    },
    "videos": {
        "part": pa.int32(),
        "video_id": pa.string(),
        "status": pa.string(),
        "fps": pa.float32(),
        "width": pa.int32(),
        "height": pa.int32(),
    },
}


@dataclass(frozen=True)
class ReleaseInputs:
    """Where the upstream tables live (paths relative to the repo root in the stage).

    Attributes:
        faces: folder holding ``part=N/`` folders of faces shards.
        masks: folder holding ``part=N/`` folders of masks shards.
        splits: the splits table file.
        videos: folder holding ``part=N.parquet`` ingest tables.
        reports: the ``reports/`` folder (mask QA and split reports, quoted in the datasheet).
        parts: corpus parts to release, in order.
    """

    faces: Path
    masks: Path
    splits: Path
    videos: Path
    reports: Path
    parts: tuple[int, ...]


def table_files(folder: str | os.PathLike[str], table: str) -> list[Path]:
    """Parquet shards in ``folder`` whose dfmask metadata says they are ``table``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DfmaskError(f"{folder}: missing {table} folder; run the stage that writes it (dvc repro)")
    found = []
    for path in tables.shard_paths(folder):
        try:
            name = tables.read_metadata(path).get("table")
        except DfmaskError:
            continue  # not a dfmask table (counted below if nothing matches)
        if name == table:
            found.append(path)
    return found


def read_upstream(paths: Iterable[Path], table: str, required: bool = True) -> pa.Table:
    """Concatenate ``paths`` (shards of ``table``), keeping and casting `UPSTREAM` columns.

    Args:
        paths: Parquet files written by `tables.write_table`.
        table: key of `UPSTREAM`.
        required: when True, an empty ``paths`` is an error; otherwise an empty table.
    """
    columns = UPSTREAM[table]
    schema = pa.schema([pa.field(name, type_) for name, type_ in columns.items()])
    paths = sorted(paths)
    if not paths:
        if required:
            raise DfmaskError(f"no {table} table found; run the stage that writes it (dvc repro)")
        return schema.empty_table()
    parts = []
    for path in paths:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise DfmaskError(
                f"{path}: {table} table lacks column(s) {', '.join(missing)} that the release "
                f"joins; re-run the stage that writes it, or update dfmask.release.inputs.UPSTREAM"
            )
        raw = pq.read_table(path, columns=list(columns))
        try:
            parts.append(raw.cast(schema))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            bad = [
                f"{f.name} ({raw.schema.field(f.name).type})"
                for f in schema
                if not raw.schema.field(f.name).type.equals(f.type)
            ]
            raise DfmaskError(
                f"{path}: {table} column(s) {', '.join(bad)} cannot be read as the release expects ({err})"
            ) from err
    return pa.concat_tables(parts)


def read_part(inputs: ReleaseInputs, part: int) -> tuple[list[Path], pa.Table, pa.Table]:
    """One part's faces shard paths, masks table (empty if no fakes) and videos table.

    Faces shards are returned as paths: they hold the crops (GBs for a DFDC part), so the
    release streams them one at a time; masks and videos are small enough to load whole.
    """
    faces_dir = inputs.faces / f"part={part}"
    masks_dir = inputs.masks / f"part={part}"
    videos_file = inputs.videos / f"part={part}.parquet"
    if not videos_file.exists():
        raise DfmaskError(f"{videos_file}: missing videos table of part {part}; run dvc repro ingest@{part}")
    faces = table_files(faces_dir, "faces")
    if not faces:
        raise DfmaskError(f"{faces_dir}: no faces table; run dvc repro faces@{part}")
    masks = read_upstream(table_files(masks_dir, "masks"), "masks", required=False)
    return faces, masks, read_upstream([videos_file], "videos")


def read_splits(inputs: ReleaseInputs) -> pa.Table:
    if not inputs.splits.exists():
        raise DfmaskError(f"{inputs.splits}: missing splits table; run dvc repro split")
    return read_upstream([inputs.splits], "splits")


def upstream_metadata(inputs: ReleaseInputs) -> dict[str, dict[str, Any]]:
    """The ``dfmask`` metadata (params, library versions) of one shard of each table.

    Quoted in the datasheet so a reader sees which face detector settings, SSIM
    thresholds and split ratios produced the release.
    """
    first: dict[str, Path | None] = {"faces": None, "masks": None, "splits": None, "videos": None}
    for part in inputs.parts:
        for table, folder in (("faces", inputs.faces), ("masks", inputs.masks)):
            if first[table] is None and (folder / f"part={part}").is_dir():
                files = table_files(folder / f"part={part}", table)
                first[table] = files[0] if files else None
        if first["videos"] is None and (inputs.videos / f"part={part}.parquet").exists():
            first["videos"] = inputs.videos / f"part={part}.parquet"
    if inputs.splits.exists():
        first["splits"] = inputs.splits
    out: dict[str, dict[str, Any]] = {}
    for table, path in first.items():
        if path is not None:
            meta = tables.read_metadata(path)
            out[table] = {k: meta.get(k) for k in ("table", "schema_version", "stage", "params", "libraries")}
    return out


def index_of(keys: pa.Table, other: pa.Table, on: list[str]) -> pa.Array:
    """For each row of ``keys``, the row index in ``other`` with equal ``on`` columns (or null).

    A hash join on key columns plus a row number: Arrow's join cannot carry image or
    fixed-size-list payloads, so the payload is gathered afterwards with ``take``.
    Duplicate keys in ``other`` are an upstream bug and raise.
    """
    right = other.select(on).append_column("_row", pa.array(range(other.num_rows), pa.int64()))
    dup = right.group_by(on).aggregate([("_row", "count")])
    dup = dup.filter(pc.greater(dup["_row_count"], 1))
    if dup.num_rows:
        example = {k: dup[k][0].as_py() for k in on}
        raise DfmaskError(f"{dup.num_rows} duplicate key(s) {on} in an upstream table, e.g. {example}")
    left = keys.select(on).append_column("_left", pa.array(range(keys.num_rows), pa.int64()))
    joined = left.join(right, on, join_type="left outer").sort_by("_left")
    return joined["_row"].combine_chunks()


def scalar_items(doc: Mapping[str, Any], limit: int = 40) -> list[tuple[str, Any]]:
    """Top-level (and one-level nested) scalar entries of a JSON report, for the datasheet."""
    items: list[tuple[str, Any]] = []
    for key in sorted(doc):
        value = doc[key]
        if isinstance(value, bool | int | float | str) or value is None:
            items.append((key, value))
        elif isinstance(value, Mapping):
            for sub in sorted(value):
                if isinstance(value[sub], bool | int | float | str):
                    items.append((f"{key}.{sub}", value[sub]))
    return items[:limit]
