"""One fake video's mask rows: params → SSIM configs, pair → mask and QA, video → rows.

The mask of a pair is ``d > level`` cleaned by morphology (`dfmask.masks.ssim`), where
``d = 1 − SSIM`` (unitless), stored as an 8-bit grey PNG with 255 = manipulated
(docs/architecture.md, "Masks in tables"). Two things keep codec noise out of it:

* **Temporal mean along the face track** (``temporal_frames``): ``d`` is averaged over
  that many consecutive sampled crops of the same track (centred; fewer at the track's
  ends). A swap changes the same face region in every frame; codec noise is drawn
  anew per frame, so averaging n maps shrinks it by ~√n while the swap stays.
* **A per-crop noise floor** (``noise_ring``, ``noise_quantile``, ``noise_factor``): the
  ``noise_quantile`` of ``d`` on the crop's border ring (``noise_ring`` of the side,
  away from the face, where fake and original must agree) measures this crop's codec
  noise; the level is ``max(threshold, noise_factor · floor)``. A clean pair keeps the
  absolute threshold, a heavily compressed one (or one encoded with other settings
  than its original) gets a level above its own noise.

A fake crop is ``valid`` when more than ``valid_min_pixels`` pixels have ``d`` above
``max(valid_diff_level / 255, noise_factor · floor)`` (the DFDC 1st place's rule on the
8-bit dissimilarity, raised to the noise floor) and its cleaned mask is not empty. A
pair whose PNGs cannot be decoded or differ in size gets a status instead.
"""

from __future__ import annotations

import dataclasses
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


def noise_floor(dissimilarity: np.ndarray, ring: float, quantile: float) -> float:
    """The ``quantile`` of ``dissimilarity`` (H, W) on the border ring of width
    ``round(ring · min(H, W))`` px (at least 1 px): this crop's codec noise, unitless.
    0.0 when ``ring`` is 0 (no floor)."""
    if ring <= 0:
        return 0.0
    h, w = dissimilarity.shape
    px = max(1, round(ring * min(h, w)))
    border = np.concatenate(
        [
            dissimilarity[:px].ravel(),
            dissimilarity[h - px :].ravel(),
            dissimilarity[px : h - px, :px].ravel(),
            dissimilarity[px : h - px, w - px :].ravel(),
        ]
    )
    return float(np.quantile(border.astype(np.float64), quantile))


def temporal_means(maps: list[np.ndarray], frames: int) -> list[np.ndarray]:
    """Each of one track's ``maps`` (in frame order) averaged with its neighbours:
    ``frames`` consecutive maps centred on it (fewer at the ends); 1 = unchanged."""
    if frames <= 1 or len(maps) <= 1:
        return maps
    half = frames // 2
    csum = np.cumsum(np.stack(maps).astype(np.float64), axis=0)
    out = []
    for i in range(len(maps)):
        lo, hi = max(0, i - half), min(len(maps) - 1, i + half)
        total = csum[hi] - (csum[lo - 1] if lo > 0 else 0.0)
        out.append((total / (hi - lo + 1)).astype(maps[i].dtype))
    return out


def mask_from_dissimilarity(dissimilarity: np.ndarray, params: MasksParams) -> tuple[np.ndarray, bool, float]:
    """Mask (uint8 0/1), valid flag and noise floor of one crop's (possibly track-averaged)
    ``1 − SSIM`` map, with the level raised to ``noise_factor`` times its noise floor."""
    floor = noise_floor(dissimilarity, params.noise_ring, params.noise_quantile)
    raised = params.noise_factor * floor
    morph = dataclasses.replace(morph_config(params), threshold=max(params.threshold, raised))
    mask = mask_from_ssim(1.0 - dissimilarity, morph)
    valid_level = max(params.valid_diff_level / 255.0, raised)
    # the pixel count alone lets scattered codec noise through (each blob is dropped by the
    # morphology, their sum still passes): a valid crop also has a non-empty mask
    valid = bool(mask.any()) and int(np.count_nonzero(dissimilarity > valid_level)) > params.valid_min_pixels
    return mask, valid, floor


def mask_pair(real: np.ndarray, fake: np.ndarray, params: MasksParams) -> PairMask:
    """SSIM map → 8-bit diff, validity, thresholded and cleaned mask of one pair (no
    temporal mean: one pair has no track; `mask_video` applies it)."""
    result = ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype))
    return _pair_mask(result.ssim_mean, 1.0 - result.ssim, diff8(result.ssim), params)


def _pair_mask(ssim_mean: float, dissimilarity: np.ndarray, diff: np.ndarray, params: MasksParams) -> PairMask:
    mask, valid, _ = mask_from_dissimilarity(dissimilarity, params)
    return PairMask(
        mask=mask,
        ssim_mean=ssim_mean,
        manipulated_frac=float(np.count_nonzero(mask)) / mask.size,
        valid=valid,
        diff=diff,
    )


def mask_video(job: FakeVideoJob, params: MasksParams) -> pa.Table:
    """All mask rows of one fake video, with a status per crop (work-item table, `WORK_SCHEMA`)."""
    rows: list[dict[str, Any]] = []
    results: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}  # pair index → ssim mean, 1 − S, diff
    status: dict[int, str] = {}
    for k, (_, _, real_png, fake_png) in enumerate(job.pairs):
        try:
            real, fake = decode_png(real_png), decode_png(fake_png)
        except DfmaskError:
            status[k] = "decode_error"
            continue
        if real.shape != fake.shape:
            status[k] = "shape_mismatch"
        else:
            result = ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype))
            results[k] = (result.ssim_mean, 1.0 - result.ssim, diff8(result.ssim))
    # the temporal mean runs along each track over the pairs that have a map, in frame order
    smoothed: dict[int, np.ndarray] = {}
    for track in sorted({t for _, t, _, _ in job.pairs}):
        keys = sorted((k for k in results if job.pairs[k][1] == track), key=lambda k: job.pairs[k][0])
        for k, m in zip(keys, temporal_means([results[k][1] for k in keys], params.temporal_frames), strict=True):
            smoothed[k] = m
    for k, (frame_idx, track_id, _, _) in enumerate(job.pairs):
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
        if k in status:
            rows.append({**row, "status": status[k]})
            continue
        pm = _pair_mask(results[k][0], smoothed[k], results[k][2], params)
        name = f"{job.video_id}/{frame_idx:05d}_{track_id}.png"
        row["mask"] = {"bytes": encode_png(pm.mask * np.uint8(255)), "path": f"mask/{name}"}
        row["ssim_mean"] = pm.ssim_mean
        row["manipulated_frac"] = pm.manipulated_frac
        row["valid"] = pm.valid
        if params.store_diff:
            row["diff"] = {"bytes": encode_png(pm.diff), "path": f"diff/{name}"}
        rows.append({**row, "status": "ok"})
    return pa.Table.from_pylist(rows, schema=WORK_SCHEMA)
