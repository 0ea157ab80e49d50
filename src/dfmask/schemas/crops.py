"""The one join of crops: faces ⋈ masks (⋈ splits), shared by every reader of crops.

The model's crop index (`dfmask.model.crop_index`, and through it the deploy crop sample and
tools/forensics.py), the release (`dfmask.release.build`) and the mask QA
(`dfmask.masks.quality`) all pair a face crop with its mask row and its video's split
here, so they agree on what a crop is:

* **Key.** A crop is a faces row, keyed by ``(part, video_id, frame_idx, track_id)``
  (`KEY`); its mask row has the same key (real crops have none); its split row is its
  video's, keyed by ``(part, video_id)``. Integer key columns match by value whatever
  their width (the splits table stores ``part`` as int16, faces as int32).
* **Order.** The joined rows are in `KEY` order.
* **Duplicates.** A key that appears twice in the masks or splits table is an upstream
  bug: a `DfmaskError` naming the table and an example key.
* **No split row: the crop is excluded and counted** (``no_split``, with the videos).
  Without a split a crop cannot be placed in train/val/test without risking a leak. A
  caller that must not lose crops (training) raises on a nonzero count; the release
  counts them in its datasheet. The mask QA passes no splits table at all (masks never
  depend on the split), and then nothing is excluded.

Arrow's hash join cannot carry image or fixed-size-list payloads, so `row_index` joins
only the key columns plus a row number, and callers gather payload columns with
``take``: the PNG bytes are never copied into Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask.errors import DfmaskError

#: Key of a crop in the faces, masks and release tables.
KEY = ("part", "video_id", "frame_idx", "track_id")
#: Key of a video in the splits and videos tables.
VIDEO_KEY = ("part", "video_id")


def _key_table(table: pa.Table, on: Sequence[str], names: Sequence[str]) -> pa.Table:
    """``table``'s ``on`` columns named ``names``; integer columns widened to int64."""
    columns = []
    for name in on:
        column = table[name]
        if pa.types.is_integer(column.type):
            column = column.cast(pa.int64())
        columns.append(column)
    return pa.table(columns, names=list(names))


def row_index(
    left: pa.Table, right: pa.Table, on: Sequence[str], name: str, left_on: Sequence[str] | None = None
) -> np.ndarray:
    """For each row of ``left``, the row of ``right`` whose ``on`` columns are equal; -1 if none.

    Args:
        left: the rows to look up (e.g. face crops).
        right: the table looked in (e.g. masks); its keys must be unique.
        on: key columns of ``right``.
        name: ``right``'s table name, for the duplicate-key error.
        left_on: key columns of ``left`` when they are named otherwise (same order as ``on``).

    Returns:
        int64 array of ``left.num_rows`` row numbers into ``right``. Null keys match nothing.
    """
    on = list(on)
    keys = _key_table(right, on, on).append_column("_row", pa.array(np.arange(right.num_rows), pa.int64()))
    counts = keys.group_by(on).aggregate([("_row", "count")])
    dup = counts.filter(pc.greater(counts["_row_count"], 1))
    if dup.num_rows:
        example = {k: dup[k][0].as_py() for k in on}
        raise DfmaskError(
            f"{name} table has {dup.num_rows} duplicate key(s) {on}, e.g. {example}; re-run the stage that writes it"
        )
    lookup = _key_table(left, left_on or on, on).append_column("_left", pa.array(np.arange(left.num_rows), pa.int64()))
    joined = lookup.join(keys, on, join_type="left outer").sort_by("_left")
    return np.asarray(joined["_row"].fill_null(-1).to_numpy(), np.int64)


def sort_crops(faces: pa.Table) -> pa.Table:
    """``faces`` in `KEY` order; returned as is when already sorted (a faces shard is
    written sorted, and sorting copies its PNG bytes)."""
    order = pc.sort_indices(faces.select(list(KEY)), [(k, "ascending") for k in KEY]).to_numpy()
    return faces.take(order) if (np.diff(order) != 1).any() else faces


@dataclass(frozen=True)
class CropJoin:
    """Face crops joined to their mask rows and split rows (see the module docstring).

    Attributes:
        faces: the crops kept, in `KEY` order (all of them without a splits table).
        mask_row: per kept crop, its row in the masks table; -1 when it has none.
        split_row: per kept crop, its video's row in the splits table; None without one.
        masks_matched: per masks row, whether a crop has its key (crops without a split
            row included): False marks an orphan mask row.
        no_split: crops excluded because their video has no split row.
        no_split_videos: those crops' video ids, each once, in `KEY` order.
    """

    faces: pa.Table
    mask_row: np.ndarray
    split_row: np.ndarray | None
    masks_matched: np.ndarray
    no_split: int
    no_split_videos: tuple[str, ...]


def crop_join(faces: pa.Table, masks: pa.Table, splits: pa.Table | None = None) -> CropJoin:
    """Join face crops to their mask rows and, with ``splits``, to their video's split.

    ``faces`` needs the `KEY` columns, ``masks`` the `KEY` columns, ``splits`` the
    `VIDEO_KEY` columns; other columns are left to the caller to gather by row. A crop
    whose video has no split row is excluded and counted.
    """
    faces = sort_crops(faces)
    mask_row = row_index(faces, masks, KEY, "masks")
    masks_matched = np.zeros(masks.num_rows, bool)
    masks_matched[mask_row[mask_row >= 0]] = True
    if splits is None:
        return CropJoin(faces, mask_row, None, masks_matched, 0, ())
    split_row = row_index(faces, splits, VIDEO_KEY, "splits")
    keep = split_row >= 0
    no_split = int((~keep).sum())
    videos: tuple[str, ...] = ()
    if no_split:
        dropped = faces["video_id"].take(pa.array(np.flatnonzero(~keep), pa.int64())).to_pylist()
        videos = tuple(dict.fromkeys(dropped))
        faces = faces.filter(pa.array(keep))
        mask_row, split_row = mask_row[keep], split_row[keep]
    return CropJoin(faces, mask_row, split_row, masks_matched, no_split, videos)


def gather(table: pa.Table, column: str, rows: np.ndarray) -> pa.Array:
    """``table[column]`` at ``rows`` (from `row_index`); null where a row is -1."""
    missing = rows < 0
    if not table.num_rows:
        return pa.nulls(len(rows), table[column].type)
    index = pa.array(np.where(missing, 0, rows).astype(np.int64), pa.int64(), mask=missing)
    return table[column].take(index).combine_chunks()
