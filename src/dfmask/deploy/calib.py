"""Labelled crops for calibration (train split) and evaluation (test split).

The crops come from faces ⋈ masks ⋈ splits through `dfmask.model.data` (the same
join and the same resize as training), so the quantizers calibrate on, and the
parity report evaluates on, exactly what the model saw.

Selection is deterministic: ``max_crops`` rows are drawn with a seeded generator and
kept in table order, so the same tables and params give the same calibration set
(and byte-identical quantized models). The calibration set is also written as a
small ``.npz`` of uint8 crops (`save_calibration`) for the Vitis AI entry point,
which cannot read our Parquet tables under Python 3.8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.model.data import CropIndex, resize_crop


@dataclass(frozen=True)
class LabelledCrops:
    """Model inputs and targets of one split (or a seeded subset of it)."""

    images: np.ndarray  # N×3×S×S float32 in [0, 1] (the model's input)
    masks: np.ndarray  # N×S×S uint8 0/1 (zeros for reals)
    is_fake: np.ndarray  # N bool
    seg_ok: np.ndarray  # N bool: mask target usable (real, or fake with a valid mask)

    def __len__(self) -> int:
        return len(self.images)


def select_rows(rows: np.ndarray, max_crops: int | None, seed: int) -> np.ndarray:
    """At most ``max_crops`` of ``rows``, seeded, in their original order."""
    if max_crops is None or len(rows) <= max_crops:
        return rows
    picked = np.random.default_rng(seed).choice(len(rows), size=max_crops, replace=False)
    return rows[np.sort(picked)]


def load_crops(index: CropIndex, split: str, size: int, max_crops: int | None, seed: int) -> LabelledCrops:
    """Crops of ``split`` resized to ``size`` (at most ``max_crops``, seeded)."""
    rows = select_rows(index.rows(split), max_crops, seed)
    if len(rows) == 0:
        raise DfmaskError(f"split '{split}' has no crops; check data/interim/splits.parquet and the faces stage report")
    images = np.stack([resize_crop(index.crop(int(i)), size) for i in rows])
    masks = np.stack([index.mask(int(i), size) for i in rows])
    return LabelledCrops(
        images=np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0),
        masks=masks.astype(np.uint8),
        is_fake=index.is_fake[rows].astype(bool),
        seg_ok=index.seg_ok[rows].astype(bool),
    )


def save_calibration(path: str | Path, images: np.ndarray) -> Path:
    """Write float N×3×S×S crops as ``images`` uint8 N×S×S×3 in an uncompressed npz.

    The Vitis AI entry point reads it with plain numpy (``images / 255``, NCHW).
    ``np.savez`` writes fixed zip timestamps, so reruns are byte-identical.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, images=np.round(images.transpose(0, 2, 3, 1) * 255.0).astype(np.uint8))
    return path


@dataclass(frozen=True)
class CropTables:
    """Where the crop tables live (defaults = the dvc.yaml layout)."""

    faces: Path = Path("data/interim/faces")
    masks: Path = Path("data/processed/masks")
    splits: Path = Path("data/interim/splits.parquet")


def read_split(tables: CropTables, split: str, size: int, max_crops: int | None, seed: int) -> LabelledCrops:
    """`load_crops` over the pipeline's faces ⋈ masks ⋈ splits tables."""
    from dfmask.model.data import read_crop_tables

    return load_crops(read_crop_tables(tables.faces, tables.masks, tables.splits), split, size, max_crops, seed)
