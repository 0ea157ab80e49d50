"""Training data: faces ⋈ masks ⋈ splits as a crop index, a Dataset and a DataModule.

`join_crops` is pure (pyarrow tables in, `CropIndex` out) so it is tested on small
synthetic tables; it builds on the catalogue's one join of crops
(`dfmask.schemas.crops.crop_join`). `read_crop_tables` is the I/O edge that reads the
version-checked Parquet shards through the catalogue's readers.

Memory and workers: the index keeps crop and mask PNGs as pyarrow binary arrays (one
contiguous buffer each, no per-row Python objects), so forked DataLoader workers share
them copy-on-write without refcount churn, and PNGs are decoded lazily in
``__getitem__``. A crop table of a full DFDC run (~10^6 crops x ~20 kB) would need
~20 GB: for that scale, shard the index by part (one DataModule per part range).

Targets: a real crop's mask is all zeros (reals have no mask rows). A fake crop's
mask is its SSIM mask; if the mask row is missing or ``valid`` is false (no visible
manipulation), the crop gets no segmentation loss, and its classification loss is
kept or dropped by ``train.cls_on_invalid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from dfmask.errors import DfmaskError
from dfmask.faces.crops import to_crop_coords
from dfmask.model.augment import augment_pair
from dfmask.model.inputs import binary_mask, resize_crop
from dfmask.model.selfblend import self_blend
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


# ----------------------------------------------------------------------------- dataset


class CropDataset(Dataset[dict[str, Any]]):
    """Crops of ``rows`` of a `CropIndex`, resized to ``input_size``, optionally augmented.

    Each item: ``image`` (3, S, S) float32 in [0, 1]; ``mask`` (1, S, S) float32 0/1;
    ``is_fake`` float32; ``seg_w`` / ``cls_w`` float32 0/1 loss weights; ``index`` int;
    ``blended`` bool.

    ``blended[k]`` (real rows only) turns item k into a self-blended fake of that real
    crop (`dfmask.model.selfblend`, settings ``self_blend``): label FAKE, the blend
    region as its mask, both losses on. Randomness (self-blend and augmentation) comes
    from torch's RNG, which Lightning seeds per worker (``seed_everything(workers=True)``),
    so runs are reproducible.
    """

    def __init__(
        self,
        index: CropIndex,
        rows: Sequence[int] | np.ndarray,
        input_size: int,
        augment: Any | None = None,
        cls_on_invalid: bool = True,
        self_blend: Any | None = None,
        blended: Sequence[bool] | np.ndarray | None = None,
    ) -> None:
        self.index = index
        self.rows = np.asarray(rows, np.int64)
        self.input_size = input_size
        self.augment = augment
        self.self_blend = self_blend
        self.blended = np.zeros(len(self.rows), bool) if blended is None else np.asarray(blended, bool)
        if len(self.blended) != len(self.rows):
            raise ValueError(f"CropDataset: {len(self.blended)} blended flags for {len(self.rows)} rows")
        if self.blended.any() and (self_blend is None or index.is_fake[self.rows[self.blended]].any()):
            raise ValueError("CropDataset: self-blending needs self_blend params and real rows only")
        self.seg_ok = index.seg_ok
        self.cls_ok = index.cls_ok(cls_on_invalid)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = int(self.rows[k])
        blended = bool(self.blended[k])
        image = resize_crop(self.index.crop(i), self.input_size)
        rng = None
        if blended or self.augment is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        if blended:
            assert rng is not None
            box, landmarks = self.index.face_geometry(i, self.input_size)
            image, mask = self_blend(image, box, landmarks, self.self_blend, rng)
        else:
            mask = self.index.mask(i, self.input_size)
        if self.augment is not None:
            assert rng is not None
            image, mask = augment_pair(image, mask, self.augment, rng)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0,
            "mask": torch.from_numpy(mask[None].astype(np.float32)),
            "is_fake": torch.tensor(1.0 if blended else float(self.index.is_fake[i])),
            "seg_w": torch.tensor(1.0 if blended else float(self.seg_ok[i])),
            "cls_w": torch.tensor(1.0 if blended else float(self.cls_ok[i])),
            "index": i,
            "blended": blended,
        }


def spaced_rows(index: CropIndex, rows: np.ndarray, per_video: int | None) -> np.ndarray:
    """At most ``per_video`` rows of each video, evenly spaced over its (sorted) crops."""
    if per_video is None:
        return rows
    keep: list[int] = []
    videos = index.video_id[rows]
    for vid in dict.fromkeys(videos):
        own = rows[videos == vid]
        take = np.unique(np.linspace(0, len(own) - 1, min(per_video, len(own))).round().astype(int))
        keep.extend(own[take].tolist())
    return np.asarray(sorted(keep), np.int64)


def balanced_weights(
    is_fake: np.ndarray, usable: np.ndarray, blended: np.ndarray | None = None, blend_frac: float = 0.0
) -> np.ndarray:
    """Per-row sampling weights giving reals and fakes equal total mass (0 for unusable rows).

    With ``blended`` rows (self-blended fakes made from reals), the FAKE half is split:
    ``blend_frac`` of it goes to the blended rows, the rest to the corpus's fakes (all of
    it to whichever group is present when the other is empty).
    """
    w = np.zeros(len(is_fake), np.float64)
    blended = np.zeros(len(is_fake), bool) if blended is None else blended
    groups = [
        (~is_fake.astype(bool) & ~blended & usable, 0.5),
        (is_fake & ~blended & usable, 0.5 * (1.0 - blend_frac)),
        (blended & usable, 0.5 * blend_frac),
    ]
    if not groups[1][0].any() or not groups[2][0].any():
        groups[1] = (groups[1][0], 0.5)
        groups[2] = (groups[2][0], 0.5)
    for sel, mass in groups:
        if sel.any():
            w[sel] = mass / sel.sum()
    return w


class CropDataModule(L.LightningDataModule):
    """Train (balanced, augmented) and val loaders over a `CropIndex`."""

    def __init__(self, index: CropIndex, params: Any, seed: int) -> None:
        super().__init__()
        self.index = index
        self.params = params
        self.seed = seed
        train_rows = index.rows("train")
        if not len(train_rows):
            raise DfmaskError("splits: the train split has no face crops; check the split stage report")
        usable = index.seg_ok | index.cls_ok(params.cls_on_invalid)
        rows = train_rows[usable[train_rows]]
        frac = params.self_blend.frac  # in [0, 1), checked at load
        reals = rows[~index.is_fake[rows]] if frac > 0 else rows[:0]
        # self-blended fakes: a second entry for every real train crop, flagged ``blended``
        self.train_rows = np.concatenate([rows, reals])
        self.train_blended = np.r_[np.zeros(len(rows), bool), np.ones(len(reals), bool)]
        self.blend_frac = frac
        self.val_rows = spaced_rows(index, index.rows("val"), params.val_crops_per_video)
        self.train_set = CropDataset(
            index,
            self.train_rows,
            params.input_size,
            params.augment,
            params.cls_on_invalid,
            self_blend=params.self_blend,
            blended=self.train_blended,
        )
        self.val_set = CropDataset(index, self.val_rows, params.input_size, None, params.cls_on_invalid)

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.params.num_workers
        return {
            "batch_size": self.params.batch_size,
            "num_workers": workers,
            "persistent_workers": False,
            "pin_memory": torch.cuda.is_available(),
        }

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        n = self.params.samples_per_epoch or int((~self.train_blended).sum())
        generator = torch.Generator().manual_seed(self.seed)
        # drop a ragged last batch (BatchNorm needs > 1 sample) unless it is the only one
        drop_last = n > self.params.batch_size
        if self.params.balance:
            is_fake = self.index.is_fake[self.train_rows]
            weights = balanced_weights(is_fake, np.ones(len(is_fake), bool), self.train_blended, self.blend_frac)
            sampler: Any = WeightedRandomSampler(weights.tolist(), n, replacement=True, generator=generator)
            return DataLoader(self.train_set, sampler=sampler, drop_last=drop_last, **self._loader_kwargs())
        return DataLoader(
            self.train_set, shuffle=True, generator=generator, drop_last=drop_last, **self._loader_kwargs()
        )

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        return DataLoader(self.val_set, shuffle=False, **self._loader_kwargs())
