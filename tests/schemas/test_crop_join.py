"""The one join of crops: key order, mask rows, the no-split rule and its counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from dfmask.errors import DfmaskError
from dfmask.schemas.crops import crop_join, gather, row_index


def faces_table() -> pa.Table:
    """Two parts; video ``b`` has no split row; rows given out of key order."""
    keys = [
        (1, "c", 0, 0),
        (0, "a", 5, 0),
        (0, "a", 0, 1),
        (0, "b", 0, 0),
        (0, "a", 0, 0),
        (0, "b", 5, 0),
        (1, "fc", 0, 0),
    ]
    part, video, frame, track = zip(*keys, strict=True)
    return pa.table(
        {
            "part": pa.array(part, pa.int32()),
            "video_id": list(video),
            "frame_idx": pa.array(frame, pa.int32()),
            "track_id": pa.array(track, pa.int32()),
            "tag": [f"{p}{v}{f}{t}" for p, v, f, t in keys],
        }
    )


def masks_table() -> pa.Table:
    """Mask rows of (0,a,5,0), (0,b,0,0), (1,fc,0,0) and one orphan (1,zz,0,0)."""
    return pa.table(
        {
            "part": pa.array([0, 0, 1, 1], pa.int32()),
            "video_id": ["a", "b", "fc", "zz"],
            "frame_idx": pa.array([5, 0, 0, 0], pa.int32()),
            "track_id": pa.array([0, 0, 0, 0], pa.int32()),
            "valid": [True, False, True, True],
        }
    )


def splits_table() -> pa.Table:
    # the splits table stores part as int16: keys match by value, not by width
    return pa.table({"part": pa.array([1, 0, 1], pa.int16()), "video_id": ["fc", "a", "c"], "split": ["x", "y", "z"]})


def test_join_orders_by_key_and_finds_mask_rows() -> None:
    joined = crop_join(faces_table(), masks_table())
    keys = list(zip(*(joined.faces[c].to_pylist() for c in ("part", "video_id", "frame_idx", "track_id")), strict=True))
    assert keys == sorted(keys)
    assert joined.split_row is None and joined.no_split == 0  # no splits table: nothing excluded
    tags, videos = joined.faces["tag"].to_pylist(), masks_table()["video_id"].to_pylist()
    found = {tags[i]: videos[r] for i, r in enumerate(joined.mask_row) if r >= 0}
    assert found == {"0a50": "a", "0b00": "b", "1fc00": "fc"}
    assert joined.masks_matched.tolist() == [True, True, True, False]  # the orphan mask row


def test_a_crop_without_split_row_is_excluded_and_counted() -> None:
    joined = crop_join(faces_table(), masks_table(), splits_table())
    assert joined.no_split == 2 and joined.no_split_videos == ("b",)
    assert joined.faces.num_rows == 5 and "b" not in joined.faces["video_id"].to_pylist()
    splits = splits_table()
    assert [splits["split"][int(r)].as_py() for r in joined.split_row] == ["y", "y", "y", "z", "x"]
    # mask rows follow the kept crops; b's mask row was matched before b was excluded
    assert gather(masks_table(), "valid", joined.mask_row).to_pylist() == [None, None, True, None, True]
    assert joined.masks_matched.tolist() == [True, True, True, False]


def test_duplicate_keys_are_an_error_naming_the_table() -> None:
    masks = pa.concat_tables([masks_table(), masks_table().slice(0, 1)])
    with pytest.raises(DfmaskError, match=r"masks table has 1 duplicate key"):
        crop_join(faces_table(), masks)
    splits = pa.concat_tables([splits_table(), splits_table().slice(1, 1)])
    with pytest.raises(DfmaskError, match=r"splits table has 1 duplicate key.*'video_id': 'a'"):
        crop_join(faces_table(), masks_table(), splits)


def test_row_index_with_other_key_names_and_null_keys() -> None:
    right = pa.table({"video_id": ["r0", "r1"], "frame_idx": pa.array([3, 3], pa.int32())})
    left = pa.table({"original_id": ["r1", None, "r9", "r0"], "frame_idx": pa.array([3, 3, 3, 3], pa.int64())})
    rows = row_index(left, right, ["video_id", "frame_idx"], "faces", left_on=["original_id", "frame_idx"])
    assert rows.tolist() == [1, -1, -1, 0] and rows.dtype == np.int64


def test_empty_tables_join() -> None:
    empty_masks = masks_table().slice(0, 0)
    joined = crop_join(faces_table(), empty_masks, splits_table())
    assert (joined.mask_row == -1).all() and joined.masks_matched.size == 0
    assert gather(empty_masks, "valid", joined.mask_row).null_count == joined.faces.num_rows
    nothing = crop_join(faces_table().slice(0, 0), masks_table(), splits_table())
    assert nothing.faces.num_rows == 0 and nothing.no_split == 0 and not nothing.masks_matched.any()
