"""One fake video's mask rows: params → SSIM configs, pair → mask and QA, video → rows.

The mask of a pair is ``1 − SSIM > threshold`` cleaned by morphology (`dfmask.masks.ssim`),
stored as an 8-bit grey PNG with 255 = manipulated (docs/architecture.md, "Masks in
tables"). A fake crop is ``valid`` when more than ``valid_min_pixels`` pixels have an
8-bit dissimilarity ``(1 − SSIM)·255`` above ``valid_diff_level`` (the DFDC 1st place's
rule). A pair whose PNGs cannot be decoded or differ in size gets a status instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from dfmask.errors import DfmaskError
from dfmask.masks.pairing import FakeVideoJob
from dfmask.masks.ssim import MorphConfig, SsimConfig, diff8, mask_from_ssim, ssim_map
from dfmask.params import MasksParams
from dfmask.schemas.masks import MASKS
from dfmask.tables import decode_png, encode_png

#: A work item's schema: the `MASKS` columns plus the crop's status.
WORK_SCHEMA = MASKS.schema.append(pa.field("status", pa.string()))


@dataclass(frozen=True)
class PairMask:
    """The mask of one aligned (real, fake) pair and its QA figures."""

    mask: np.ndarray  # (H, W) uint8, 1 = manipulated
    ssim_mean: float  # unitless
    manipulated_frac: float  # share of pixels set
    valid: bool
    diff: np.ndarray  # (H, W) uint8 (1 - SSIM) * 255


def ssim_config(params: MasksParams) -> SsimConfig:
    return SsimConfig(
        gaussian_weights=params.gaussian_weights,
        sigma=params.sigma,
        win_size=params.win_size,
        use_sample_covariance=params.use_sample_covariance,
        data_range=params.data_range,
        colour=params.colour,
    )


def morph_config(params: MasksParams) -> MorphConfig:
    return MorphConfig(
        threshold=params.threshold,
        open_px=params.open_px,
        close_px=params.close_px,
        dilate_px=params.dilate_px,
        min_area=params.min_area,
        fill_hull=params.fill_hull,
    )


def mask_pair(real: np.ndarray, fake: np.ndarray, params: MasksParams) -> PairMask:
    """SSIM map → 8-bit diff, validity, thresholded and cleaned mask of one pair."""
    result = ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype))
    diff = diff8(result.ssim)
    mask = mask_from_ssim(result.ssim, morph_config(params))
    valid = int(np.count_nonzero(diff > params.valid_diff_level)) > params.valid_min_pixels
    return PairMask(
        mask=mask,
        ssim_mean=result.ssim_mean,
        manipulated_frac=float(np.count_nonzero(mask)) / mask.size,
        valid=valid,
        diff=diff,
    )


def mask_video(job: FakeVideoJob, params: MasksParams) -> pa.Table:
    """All mask rows of one fake video, with a status per crop (work-item table, `WORK_SCHEMA`)."""
    rows: list[dict[str, Any]] = []
    for frame_idx, track_id, real_png, fake_png in job.pairs:
        row: dict[str, Any] = {
            "part": job.part,
            "video_id": job.video_id,
            "original_id": job.original_id,
            "frame_idx": frame_idx,
            "track_id": track_id,
            "mask": None,
            "ssim_mean": None,
            "manipulated_frac": None,
            "valid": None,
            "diff": None,
        }
        try:
            real, fake = decode_png(real_png), decode_png(fake_png)
        except DfmaskError:
            rows.append({**row, "status": "decode_error"})
            continue
        if real.shape != fake.shape:
            rows.append({**row, "status": "shape_mismatch"})
            continue
        pm = mask_pair(real, fake, params)
        name = f"{job.video_id}/{frame_idx:05d}_{track_id}.png"
        row["mask"] = {"bytes": encode_png(pm.mask * np.uint8(255)), "path": f"mask/{name}"}
        row["ssim_mean"] = pm.ssim_mean
        row["manipulated_frac"] = pm.manipulated_frac
        row["valid"] = pm.valid
        if params.store_diff:
            row["diff"] = {"bytes": encode_png(pm.diff), "path": f"diff/{name}"}
        rows.append({**row, "status": "ok"})
    return pa.Table.from_pylist(rows, schema=WORK_SCHEMA)
