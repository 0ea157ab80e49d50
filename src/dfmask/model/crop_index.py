"""The crop index: faces ⋈ masks ⋈ splits as parallel arrays, one entry per face crop.

`join_crops` is pure (pyarrow tables in, `CropIndex` out) so it is tested on small
synthetic tables; it builds on the catalogue's one join of crops
(`dfmask.schemas.crops.crop_join`). `read_crop_tables` is the I/O edge that reads the
version-checked Parquet shards through the catalogue's readers. Training
(`dfmask.model.data`), evaluation, the deploy crop sample (`dfmask.deploy.crop_sample`)
and tools/forensics.py read crops through it. It imports neither torch nor Lightning,
so the deploy path stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask.errors import DfmaskError
from dfmask.faces.crops import to_crop_coords
from dfmask.model.inputs import binary_mask
from dfmask.schemas.crops import crop_join
from dfmask.schemas.faces import read_faces
from dfmask.schemas.masks import read_masks
from dfmask.schemas.splits import read_splits
from dfmask.tables import decode_png


@dataclass
class CropIndex:
    """One entry per face crop, as parallel arrays (see module docstring).

    ``seg_ok``: the crop has a usable mask target (real, or fake with a valid mask).
    ``mask_valid``: for fakes, the mask stage's ``valid`` (False when no mask row).
    """

    part: np.ndarray
    video_id: np.ndarray  # object array of str
    original_id: np.ndarray  # object array of str | None
    frame_idx: np.ndarray
    track_id: np.ndarray
    is_fake: np.ndarray  # bool
    split: np.ndarray  # object array of 'train' | 'val' | 'test'
    crop_box: np.ndarray  # (N, 4) float, full-res px
    box: np.ndarray  # (N, 4) float, face box, full-res px
    landmarks: np.ndarray  # (N, 5, 2) float, full-res px (NaN where the table has none)
    has_mask_row: np.ndarray  # bool
    mask_valid: np.ndarray  # bool
    crop_png: pa.Array  # binary
    mask_png: pa.Array  # binary, null for reals / missing rows
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.video_id)

    @property
    def seg_ok(self) -> np.ndarray:
        return ~self.is_fake | (self.has_mask_row & self.mask_valid)

    def cls_ok(self, cls_on_invalid: bool) -> np.ndarray:
        return np.ones(len(self), bool) if cls_on_invalid else self.seg_ok

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def crop(self, i: int) -> np.ndarray:
        return decode_png(self.crop_png[i].as_py())

    def face_geometry(self, i: int, size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Face box (4,) and landmarks (5, 2) of crop i in the pixels of a ``size`` crop
        (landmarks None when the faces table has none for this row)."""
        box = to_crop_coords(self.box[i].reshape(2, 2), self.crop_box[i], size).reshape(4)
        points = self.landmarks[i]
        return box, None if np.isnan(points).any() else to_crop_coords(points, self.crop_box[i], size)

    def mask(self, i: int, size: int) -> np.ndarray:
        """The 0/1 target mask of crop i at ``size`` (zeros for reals / missing masks)."""
        cell = self.mask_png[i].as_py() if self.has_mask_row[i] else None
        if cell is None:
            return np.zeros((size, size), np.uint8)
        return binary_mask(decode_png(cell, grey=True), size)


def _png_bytes(column: pa.ChunkedArray) -> pa.Array:
    """The ``bytes`` child of an IMAGE struct column, as one binary array."""
    arr = column.combine_chunks()
    return pc.struct_field(arr, "bytes")


def join_crops(faces: pa.Table, masks: pa.Table, splits: pa.Table) -> CropIndex:
    """Join faces ⋈ masks (left, on part/video/frame/track) ⋈ splits (on part/video).

    Face rows without a crop (null ``crop``) are dropped and counted. A crop whose video
    has no split row is an error here: the catalogue's join excludes and counts such
    crops, and training refuses to run on a count above zero (the split table covers
    every video).
    """
    counts: dict[str, int] = {"face_rows": faces.num_rows}
    if "crop" in faces.column_names:
        has_crop = pc.invert(pc.is_null(pc.struct_field(faces["crop"].combine_chunks(), "bytes")))
        faces = faces.filter(has_crop)
    counts["face_rows_without_crop"] = counts["face_rows"] - faces.num_rows
    joined = crop_join(faces, masks, splits)
    if joined.no_split:
        raise DfmaskError(
            f"splits table has no row for {joined.no_split} crops (e.g. video "
            f"{joined.no_split_videos[0]}); re-run the split stage (dvc repro split)"
        )
    assert joined.split_row is not None
    faces, mask_row, split_row = joined.faces, joined.mask_row, joined.split_row
    split_values = np.asarray(splits["split"].to_pylist(), object)
    is_fake = faces["is_fake"].to_numpy(zero_copy_only=False).astype(bool)
    has_mask = mask_row >= 0
    valid_all = masks["valid"].to_numpy(zero_copy_only=False).astype(bool) if masks.num_rows else np.zeros(0, bool)
    valid = np.where(has_mask, valid_all[np.maximum(mask_row, 0)] if masks.num_rows else False, False)
    counts["fake_crops"] = int(is_fake.sum())
    counts["real_crops"] = int((~is_fake).sum())
    counts["fake_crops_without_mask_row"] = int((is_fake & ~has_mask).sum())
    counts["fake_crops_invalid_mask"] = int((is_fake & has_mask & ~valid).sum())
    counts["real_crops_with_mask_row"] = int((~is_fake & has_mask).sum())
    mask_bytes = _png_bytes(masks["mask"]) if masks.num_rows else pa.array([], pa.binary())
    taken = pa.array(np.where(has_mask, mask_row, 0), pa.int64(), mask=~has_mask)
    boxes = np.asarray(faces["crop_box"].to_pylist(), np.float64).reshape(-1, 4)
    face_boxes = np.asarray(faces["box"].to_pylist(), np.float64).reshape(-1, 4)
    landmarks = np.asarray(
        [[np.nan] * 10 if v is None else v for v in faces["landmarks"].to_pylist()], np.float64
    ).reshape(-1, 5, 2)
    return CropIndex(
        part=faces["part"].to_numpy(zero_copy_only=False).astype(np.int64),
        video_id=np.asarray(faces["video_id"].to_pylist(), object),
        original_id=np.asarray(faces["original_id"].to_pylist(), object),
        frame_idx=faces["frame_idx"].to_numpy(zero_copy_only=False).astype(np.int64),
        track_id=faces["track_id"].to_numpy(zero_copy_only=False).astype(np.int64),
        is_fake=is_fake,
        split=split_values[split_row],
        crop_box=boxes,
        box=face_boxes,
        landmarks=landmarks,
        has_mask_row=has_mask,
        mask_valid=valid,
        crop_png=_png_bytes(faces["crop"]),
        mask_png=mask_bytes.take(taken) if masks.num_rows else pa.nulls(len(faces), pa.binary()),
        counts=counts,
    )


FACE_COLUMNS = (
    "part",
    "video_id",
    "original_id",
    "is_fake",
    "frame_idx",
    "track_id",
    "crop_box",
    "box",
    "landmarks",
    "crop",
)
MASK_COLUMNS = ("part", "video_id", "frame_idx", "track_id", "mask", "valid")


def read_crop_tables(
    faces_dir: str | Path, masks_dir: str | Path, splits_path: str | Path, parts: Sequence[int] | None = None
) -> CropIndex:
    """Read the faces and masks shards of ``parts`` plus the splits table and join them.

    ``faces_dir`` / ``masks_dir`` hold ``part=N/`` folders of shards; ``parts`` = None
    reads every ``part=N`` folder present in ``faces_dir`` (pass ``corpus.parts`` in
    stages so a stale folder of a removed part is ignored). Each shard's table name and
    schema version are checked against its `dfmask.schemas` spec.
    """
    faces_dir, masks_dir = Path(faces_dir), Path(masks_dir)
    folders = (d.name.removeprefix("part=") for d in faces_dir.glob("part=*") if d.is_dir())
    present = sorted(int(n) for n in folders if n.isdigit())
    wanted = present if parts is None else list(parts)
    missing = [f"part={p}" for p in wanted if p not in present]
    if not wanted or missing:
        raise DfmaskError(f"{faces_dir}: missing {missing or 'part=N'} folders; run the faces stage (dvc repro)")
    faces = read_faces(faces_dir, wanted, FACE_COLUMNS)
    masks = read_masks(masks_dir, wanted, MASK_COLUMNS)
    splits = read_splits(splits_path, ["part", "video_id", "split"])
    if parts is not None:
        faces = faces.filter(pc.is_in(faces["part"].cast(pa.int64()), value_set=pa.array(list(parts), pa.int64())))
    return join_crops(faces, masks, splits)
