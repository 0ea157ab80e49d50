"""The deploy crop sample: the labelled crops the deploy stages calibrate on and score on.

The ``deploy_crops`` stage (`dfmask.deploy.crop_sample`) draws them once from faces ⋈
masks ⋈ splits of ``corpus.parts`` and writes one small `DEPLOY_CROPS` table per
`Draw` (``<paths.deploy_crops>/<draw>.parquet``); export, quantize, quantize_vai and
benchmark read only their own draws here. So the deploy stages never re-join every crop
of the corpus, never import Lightning, and a changed draw size (``benchmark.eval_max_crops``)
re-runs only the stage that uses that draw.

Selection is deterministic (`select_rows`): ``max_crops`` rows of the split are drawn
with a generator seeded by ``base.seed`` and kept in table order, so the same tables
and params give the same crops (and byte-identical quantized models). The tables keep
each crop as the faces stage stored it (PNG at ``faces.size`` px); `read_draw` resizes
to the model's input size with the training rule (`dfmask.model.inputs`), so the
quantizers calibrate on, and the reports score on, exactly what the model saw. The
calibration set is also written as a small ``.npz`` of uint8 crops (`save_calibration`)
for the Vitis AI entry point, which cannot read our Parquet tables under Python 3.8.

The table's spec is `dfmask.schemas.deploy_crops.DEPLOY_CROPS`; `dfmask.deploy.crop_sample`
fills it from the crop join (`dfmask.schemas.crops`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from dfmask.errors import DfmaskError
from dfmask.model.inputs import binary_mask, resize_crop
from dfmask.params import BenchmarkParams, DeployParams, ExportParams, QuantizeParams
from dfmask.schemas.deploy_crops import BENCH_EVAL, DEPLOY_CROPS, EXPORT_PARITY, QUANTIZE_CALIB, QUANTIZE_EVAL, VAI_EVAL
from dfmask.tables import decode_png, read_table


@dataclass(frozen=True)
class Draw:
    """One seeded subset of a split: at most ``max_crops`` crops (None = all of it)."""

    name: str
    split: str
    max_crops: int | None

    def path(self, folder: str | Path) -> Path:
        """Where the ``deploy_crops`` stage writes this draw under ``folder``."""
        return Path(folder) / f"{self.name}.parquet"


def deploy_draws(
    export: ExportParams, quantize: QuantizeParams, deploy: DeployParams, benchmark: BenchmarkParams
) -> tuple[Draw, ...]:
    """Every draw of the deploy stages, sized by their params."""
    return (
        Draw(EXPORT_PARITY, "test", export.parity_crops),
        Draw(QUANTIZE_CALIB, "train", quantize.calib_crops),
        Draw(QUANTIZE_EVAL, "test", quantize.eval_max_crops),
        Draw(VAI_EVAL, "test", deploy.vai_eval_crops),
        Draw(BENCH_EVAL, "test", benchmark.eval_max_crops),
    )


@dataclass(frozen=True)
class LabelledCrops:
    """Model inputs and targets of one draw."""

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


def read_draw(path: str | Path, size: int) -> LabelledCrops:
    """The crops of one `DEPLOY_CROPS` table, resized to ``size`` (px), in table order."""
    table = read_table(path, DEPLOY_CROPS, ["is_fake", "seg_ok", "crop", "mask"])
    if table.num_rows == 0:
        raise DfmaskError(f"{path}: no crops; re-run the deploy_crops stage (dvc repro deploy_crops)")
    crops = pc.struct_field(table["crop"].combine_chunks(), "bytes").to_pylist()
    cells = pc.struct_field(table["mask"].combine_chunks(), "bytes").to_pylist()
    images = np.stack([resize_crop(decode_png(c), size) for c in crops])
    masks = np.stack(
        [np.zeros((size, size), np.uint8) if m is None else binary_mask(decode_png(m, grey=True), size) for m in cells]
    )
    return LabelledCrops(
        images=np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0),
        masks=masks.astype(np.uint8),
        is_fake=table["is_fake"].to_numpy().astype(bool),
        seg_ok=table["seg_ok"].to_numpy().astype(bool),
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
