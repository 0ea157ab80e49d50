"""Read the upstream tables the release joins, through the catalogue's readers.

The release reads four tables, per corpus part (see docs/design.md):

==========  ==============================================  ===================================
table       where                                           used for
==========  ==============================================  ===================================
faces       ``data/interim/faces/part=N/*.parquet``         one row per crop: ids, geometry, crop
masks       ``data/processed/masks/part=N/*.parquet``       one row per FAKE crop: mask + QA
splits      ``data/interim/splits.parquet``                 one row per video: split, groups
videos      ``data/interim/videos/part=N.parquet``          frame size and fps of each video
==========  ==============================================  ===================================

Each is read with its `dfmask.schemas` spec, so the table name, the schema version and
the columns are checked (a stale or foreign file is a `DfmaskError` naming it). Shards
are picked by the table name in their ``dfmask`` metadata, not by file name. The release
reads only the columns it uses (`FACES_COLUMNS`, ...), with the spec's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dfmask import tables
from dfmask.errors import DfmaskError
from dfmask.schemas.faces import FACES, faces_shards
from dfmask.schemas.masks import masks_shards, read_masks
from dfmask.schemas.splits import read_splits
from dfmask.schemas.videos import read_videos

#: Columns the release reads from each upstream table.
FACES_COLUMNS = (
    "part",
    "video_id",
    "original_id",
    "is_fake",
    "frame_idx",
    "track_id",
    "box",
    "crop_box",
    "landmarks",
    "prob",
    "crop",
)
MASKS_COLUMNS = ("part", "video_id", "frame_idx", "track_id", "mask", "ssim_mean", "manipulated_frac", "valid")
SPLITS_COLUMNS = ("part", "video_id", "split", "group_id", "identity_id", "donor_identity_id")
VIDEOS_COLUMNS = ("part", "video_id", "status", "fps", "width", "height")


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


def read_faces_shard(path: Path) -> pa.Table:
    """The `FACES_COLUMNS` of one faces shard (the release streams them one at a time)."""
    return tables.read_tables([path], FACES, FACES_COLUMNS)


def read_part(inputs: ReleaseInputs, part: int) -> tuple[list[Path], pa.Table, pa.Table]:
    """One part's faces shard paths, masks table (empty if no fakes) and videos table.

    Faces shards are returned as paths: they hold the crops (GBs for a DFDC part), so the
    release streams them one at a time (`read_faces_shard`); masks and videos are small
    enough to load whole.
    """
    videos = read_videos(inputs.videos, [part], VIDEOS_COLUMNS)
    faces_dir = tables.part_path(inputs.faces, part)
    faces = faces_shards(faces_dir) if faces_dir.is_dir() else []
    if not faces:
        raise DfmaskError(f"{faces_dir}: no faces table; run dvc repro faces@{part}")
    return faces, read_masks(inputs.masks, [part], MASKS_COLUMNS), videos


def read_release_splits(inputs: ReleaseInputs) -> pa.Table:
    """The `SPLITS_COLUMNS` of the splits table."""
    return read_splits(inputs.splits, SPLITS_COLUMNS)


def upstream_metadata(inputs: ReleaseInputs) -> dict[str, dict[str, Any]]:
    """The ``dfmask`` metadata (params, library versions) of one shard of each table.

    Quoted in the datasheet so a reader sees which face detector settings, SSIM
    thresholds and split ratios produced the release.
    """
    first: dict[str, Path | None] = {"faces": None, "masks": None, "splits": None, "videos": None}
    for part in inputs.parts:
        for table, folder, shards in (("faces", inputs.faces, faces_shards), ("masks", inputs.masks, masks_shards)):
            if first[table] is None and tables.part_path(folder, part).is_dir():
                files = shards(tables.part_path(folder, part))
                first[table] = files[0] if files else None
        if first["videos"] is None and tables.part_path(inputs.videos, part, ".parquet").exists():
            first["videos"] = tables.part_path(inputs.videos, part, ".parquet")
    if inputs.splits.exists():
        first["splits"] = inputs.splits
    out: dict[str, dict[str, Any]] = {}
    for table, path in first.items():
        if path is not None:
            meta = tables.read_metadata(path)
            out[table] = {k: meta.get(k) for k in ("table", "schema_version", "stage", "params", "libraries")}
    return out


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
