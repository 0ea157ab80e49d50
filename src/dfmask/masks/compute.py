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

**The colour difference** ``c = mean over RGB |fake − real| / 255`` (temporal mean as
``d``, then a Gaussian of `EDGE_SIGMA` px) is a second cue beside SSIM, read only for
valid crops. Its region is ``c`` above ``max(colour_threshold, noise_factor · its ring
floor)``, opened, closed, small parts dropped (`colour_region`). Two uses:

* **Union** (``colour_union``): a crop's mask is SSIM's cleaned mask joined with the
  colour region, then hull-filled (``fill_hull``) and dilated (the track's side, below),
  as SSIM's alone would be.
  SSIM misses flat, colour-matched stretches of a faint swap that the plain difference
  still shows, so masks of such swaps came out too small.
* **Hard edges** (``edge_width_px``). The dilation (``dilate_px``) covers a feathered
  blend's faint outer edge, which the true mask holds (every pixel the blend was allowed
  to change) but neither cue can see. A hard-edged paste has no such edge, and there
  ``1 − SSIM`` itself spreads past the edge by the SSIM window's radius, so the dilated
  mask is far too large (docs/masks.md). The cue is how far ``c`` takes to fall from the
  face's level to the codec noise: the hulls of ``c`` above 20 % and 70 % of the way
  from the noise (0.95 quantile of ``c`` more than `EDGE_MARGIN_PX` outside SSIM's
  undilated mask) to the face's level (median of ``c`` more than `EDGE_MARGIN_PX` inside
  it) differ in area by about (edge width × perimeter); their area difference over the
  outer hull's perimeter is the crop's **edge width** in px (`edge_width`). A face track
  whose median width over its valid crops is below ``edge_width_px`` is hard-edged: each
  valid crop's mask is then its colour region, hull-filled and not dilated, where that is
  not empty. One
  decision per track, because the method is one per face and a single crop's width is
  noisy.

**The dilation of a face track** (``dilate_tail_px``, `track_dilation`). A blend fades
its edge out, and a mask stops where the blend's share of ``1 − SSIM`` falls below the
level, so how much of the fade it misses depends on how high the level sits against the
face's own ``1 − SSIM`` (`face_level`). Each track's masks (SSIM's, or the union) are
dilated by ``dilate_px + dilate_tail_px · ln(r / dilate_ratio)`` px, ``r`` the median
over its valid crops of that level over the face's level; hard-edged tracks stay
undilated. ``dilate_tail_px: 0`` gives every track ``dilate_px``.

The valid flag is always SSIM's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from dfmask.errors import DfmaskError
from dfmask.masks.pairing import FakeVideoJob
from dfmask.masks.ssim import (
    MorphConfig,
    SsimConfig,
    SsimResult,
    clean_mask,
    diff8,
    mask_from_ssim,
    separable_blur,
    ssim_map,
)
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


def pair_ssim(real: np.ndarray, fake: np.ndarray, params: MasksParams) -> SsimResult:
    """The SSIM map of one aligned pair with the stage's settings: `ssim_config`, the
    arithmetic ``dtype`` and OpenCV's ``simd`` kernels (every caller that must match the
    stage's maps goes through here)."""
    return ssim_map(real, fake, ssim_config(params), np.dtype(params.dtype), baseline=params.simd == "baseline")


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


def ssim_level(floor: float, params: MasksParams) -> float:
    """The level ``1 − SSIM`` must pass in a crop whose noise floor is ``floor``:
    ``max(threshold, noise_factor · floor)``."""
    return max(params.threshold, params.noise_factor * floor)


def mask_from_dissimilarity(dissimilarity: np.ndarray, params: MasksParams) -> tuple[np.ndarray, bool, float]:
    """Mask (uint8 0/1), valid flag and noise floor of one crop's (possibly track-averaged)
    ``1 − SSIM`` map, with the level raised to ``noise_factor`` times its noise floor."""
    floor = noise_floor(dissimilarity, params.noise_ring, params.noise_quantile)
    morph = dataclasses.replace(morph_config(params), threshold=ssim_level(floor, params))
    mask = mask_from_ssim(1.0 - dissimilarity, morph)
    valid_level = max(params.valid_diff_level / 255.0, params.noise_factor * floor)
    # the pixel count alone lets scattered codec noise through (each blob is dropped by the
    # morphology, their sum still passes): a valid crop also has a non-empty mask
    valid = bool(mask.any()) and int(np.count_nonzero(dissimilarity > valid_level)) > params.valid_min_pixels
    return mask, valid, floor


#: px: the Gaussian applied to the colour difference before the edge cue and hard masks
EDGE_SIGMA = 1.0
#: px: the colour difference's noise is read this far outside the undilated mask, the
#: face's level this far inside it
EDGE_MARGIN_PX = 6
#: the two levels (share of the way from the noise to the face's level) whose hulls give the edge width
EDGE_LEVELS = (0.2, 0.7)
_EDGE_KERNEL = SsimConfig(gaussian_weights=True, sigma=EDGE_SIGMA).kernel(np.float64)


def colour_difference(real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    """``mean over channels |fake − real| / 255`` of two (H, W[, C]) uint8 crops, float64 in [0, 1]."""
    diff = np.abs(fake.astype(np.float64) - real.astype(np.float64)) / 255.0
    return diff.mean(axis=2) if diff.ndim == 3 else diff


def blur_colour(colour: np.ndarray) -> np.ndarray:
    """The Gaussian of `EDGE_SIGMA` px that both uses of the colour difference read."""
    return separable_blur(np.ascontiguousarray(colour[:, :, None]), _EDGE_KERNEL).reshape(colour.shape)


def edge_width(
    blurred: np.ndarray, core: np.ndarray, params: MasksParams, face_px: np.ndarray | None = None
) -> float | None:
    """The crop's edge width in px: (area of the hull of the blurred colour difference
    (`blur_colour`) above the lower `EDGE_LEVELS` level − area above the upper one) / the
    lower hull's perimeter, the levels placed between the noise outside and the level
    inside the undilated mask ``core`` (module docstring; ``face_px``: `face_pixels` of
    ``core`` when the caller has them already). None when ``core`` is empty,
    when the colour difference inside is no higher than the noise outside, or when
    nothing passes the lower level."""
    if not core.any():
        return None
    outside = cv2.distanceTransform((1 - core).astype(np.uint8), cv2.DIST_L2, 5)
    far = blurred[outside > EDGE_MARGIN_PX]
    noise = float(np.quantile(far, 0.95)) if far.size else 0.0
    face = face_level(blurred, face_pixels(core) if face_px is None else face_px)
    if face <= noise:  # no colour step to measure: no width, not a hard edge
        return None
    morph = dataclasses.replace(morph_config(params), dilate_px=0, fill_hull=True)
    areas, perimeter = [], 0.0
    for k, level in enumerate(EDGE_LEVELS):
        hull = clean_mask((blurred > noise + level * (face - noise)).astype(np.uint8), morph)
        areas.append(int(np.count_nonzero(hull)))
        if k == 0:
            if not hull.any():
                return None
            contours, _ = cv2.findContours(hull, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            perimeter = float(sum(cv2.arcLength(c, True) for c in contours))
    return (areas[0] - areas[1]) / max(perimeter, 1.0)


def face_pixels(core: np.ndarray) -> np.ndarray:
    """Where a face's level is read in the non-empty mask ``core`` (H, W): the pixels more
    than `EDGE_MARGIN_PX` inside it, or all of ``core`` where at most 20 lie that deep
    (bool, H × W)."""
    deep: np.ndarray = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 5) > EDGE_MARGIN_PX
    return deep if np.count_nonzero(deep) > 20 else core > 0


def face_level(values: np.ndarray, pixels: np.ndarray) -> float:
    """The face's level of a map ``values`` (H, W): its median over ``pixels``
    (`face_pixels`)."""
    return float(np.median(values[pixels]))


def track_dilation(ratios: Sequence[float], params: MasksParams) -> int:
    """The dilation element side of one face track, crop px: ``dilate_px + dilate_tail_px
    · ln(r / dilate_ratio)``, ``r`` the median of ``ratios`` (each valid crop's level over
    its face's level of ``1 − SSIM``, `face_level`) clipped to at most 1, rounded to the
    nearest odd side (a tie, e.g. an even ``dilate_px`` at ``r = dilate_ratio``, rounds
    up), at least 1 (no dilation); 1 when ``r`` is 0 (a level of 0 already reaches the
    fade's end). ``dilate_px`` when the rule is off (``dilate_tail_px`` 0), when
    ``dilate_px`` is 0 or 1 (no dilation at all), or when ``ratios`` is empty.

    Why: a blend fades its edge out, so the pixels it changed reach past the mask's edge,
    where the blend's share of ``1 − SSIM`` falls below the level. Where the level sits
    low against the face's own dissimilarity (a strong swap on a quiet video) the mask
    already reaches far down that fade; where it sits high (a faint, colour-matched swap,
    or a level raised by codec noise) the mask stops early. A fade that decays
    exponentially leaves ``λ · ln(level / face)`` + a constant px uncovered, ``λ`` its
    length: ``dilate_tail_px`` stands for the element side that follows (docs/masks.md,
    "The dilation of a face track")."""
    if params.dilate_tail_px <= 0 or params.dilate_px <= 1 or not ratios:
        return params.dilate_px
    r = min(1.0, float(np.median(ratios)))
    if r <= 0:
        return 1
    # math.log: numpy's log picks AVX-512 code on CPUs that have it, and may differ by 1 ulp
    side = params.dilate_px + params.dilate_tail_px * math.log(r / params.dilate_ratio)
    return max(1, 2 * math.floor(side / 2) + 1)


def colour_region(blurred: np.ndarray, params: MasksParams) -> np.ndarray:
    """The colour-difference region of one crop: the blurred colour difference
    (`blur_colour`) above ``max(colour_threshold, noise_factor · its ring floor)``,
    opened, closed, small parts dropped; no hull, no dilation (uint8 0/1)."""
    floor = noise_floor(blurred, params.noise_ring, params.noise_quantile)
    morph = dataclasses.replace(
        morph_config(params),
        threshold=max(params.colour_threshold, params.noise_factor * floor),
        dilate_px=0,
        fill_hull=False,
    )
    return clean_mask((blurred > morph.threshold).astype(np.uint8), morph)


def _hull(mask: np.ndarray, params: MasksParams) -> np.ndarray:
    """`clean_mask`'s hull step alone (``fill_hull``), on a mask that has no hull yet:
    OpenCV's filled hull of a filled hull can gain pixels on a slanted edge."""
    morph = MorphConfig(threshold=0.0, open_px=0, close_px=0, dilate_px=0, min_area=0, fill_hull=params.fill_hull)
    return clean_mask(mask, morph)


def _dilated(mask: np.ndarray, side: int) -> np.ndarray:
    """`clean_mask`'s last step alone, with an element of ``side`` px (``dilate_px`` or a
    track's `track_dilation`)."""
    return clean_mask(mask, MorphConfig(threshold=0.0, open_px=0, close_px=0, dilate_px=side, min_area=0))


def track_masks(
    dissimilarities: list[np.ndarray], colours: list[np.ndarray], params: MasksParams
) -> list[tuple[np.ndarray, bool]]:
    """Mask and valid flag of each crop of ONE face track, from its ``1 − SSIM`` maps and
    colour differences in frame order (`temporal_means` applied here, to both): SSIM's
    masks, joined with the colour region (``colour_union``), dilated by the track's
    `track_dilation`, or the colour regions alone, undilated, when the track's median
    `edge_width` is below ``edge_width_px`` (module docstring). Invalid crops keep SSIM's
    mask (dilated by the track's side) and give no ratio."""
    ds = temporal_means(dissimilarities, params.temporal_frames)
    # SSIM's cleaned mask before clean_mask's last two steps (hull, dilation), so
    # _dilated(_hull(core), dilate_px) is exactly mask_from_dissimilarity(d, params)'s mask
    bare = dataclasses.replace(params, dilate_px=0, fill_hull=False)
    made = [mask_from_dissimilarity(d, bare) for d in ds]
    hulls = [_hull(core, params) for core, _, _ in made]
    # where each valid crop's face level is read (the dilation and the edge width share it;
    # neither rule on: not needed)
    face_px = (
        {
            k: face_pixels(hull)
            for k, (hull, (_, valid, _)) in enumerate(zip(hulls, made, strict=True))
            if valid and hull.any()
        }
        if params.dilate_tail_px > 0 or params.edge_width_px > 0
        else {}
    )
    side = params.dilate_px
    if params.dilate_tail_px > 0:
        ratios = [
            ssim_level(made[k][2], params) / face for k, px in face_px.items() if (face := face_level(ds[k], px)) > 0
        ]
        side = track_dilation(ratios, params)
    out = [(_dilated(hull, side), valid) for hull, (_, valid, _) in zip(hulls, made, strict=True)]
    if not (params.colour_union or params.edge_width_px > 0) or not any(valid for _, valid, _ in made):
        return out
    cs = temporal_means(colours, params.temporal_frames)
    blurred = {k: blur_colour(c) for k, (c, (_, valid, _)) in enumerate(zip(cs, made, strict=True)) if valid}
    regions = {k: colour_region(b, params) for k, b in blurred.items()}
    if params.edge_width_px > 0:
        known = [w for k, b in blurred.items() if (w := edge_width(b, hulls[k], params, face_px.get(k))) is not None]
        if known and float(np.median(known)) < params.edge_width_px:
            return [
                (_hull(regions[k], params), valid) if k in regions and regions[k].any() else (mask, valid)
                for k, (mask, valid) in enumerate(out)
            ]
    if not params.colour_union:
        return out
    return [
        (_dilated(_hull(made[k][0] | regions[k], params), side), valid) if k in regions else (mask, valid)
        for k, (mask, valid) in enumerate(out)
    ]


def tracked_masks(
    keys: Sequence[tuple[Hashable, int]],
    dissimilarities: Sequence[np.ndarray],
    colours: Sequence[np.ndarray],
    params: MasksParams,
) -> list[tuple[np.ndarray, bool]]:
    """`track_masks` over crops of several tracks in any order: ``keys[i]`` is crop i's
    (track, frame_idx); the result is in the input's order. The one grouping the stage,
    the sweep and the dev tools share."""
    members: dict[Hashable, list[int]] = {}
    for i, (track, _) in enumerate(keys):
        members.setdefault(track, []).append(i)
    out: list[tuple[np.ndarray, bool]] = [(np.zeros(0, np.uint8), False)] * len(keys)
    for crops in members.values():
        crops.sort(key=lambda i: keys[i][1])
        made = track_masks([dissimilarities[i] for i in crops], [colours[i] for i in crops], params)
        for i, result in zip(crops, made, strict=True):
            out[i] = result
    return out


def mask_pair(real: np.ndarray, fake: np.ndarray, params: MasksParams) -> PairMask:
    """SSIM map → 8-bit diff, validity, thresholded and cleaned mask of one pair, as a
    track of one crop (`mask_video` runs whole tracks)."""
    result = pair_ssim(real, fake, params)
    [(mask, valid)] = track_masks([1.0 - result.ssim], [colour_difference(real, fake)], params)
    return _pair_mask(result.ssim_mean, mask, valid, diff8(result.ssim))


def _pair_mask(ssim_mean: float, mask: np.ndarray, valid: bool, diff: np.ndarray) -> PairMask:
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
    # pair index → ssim mean, 1 − S, diff, colour difference
    results: dict[int, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}
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
            result = pair_ssim(real, fake, params)
            results[k] = (result.ssim_mean, 1.0 - result.ssim, diff8(result.ssim), colour_difference(real, fake))
    # each track's masks over the pairs that have a map, in frame order
    mapped = sorted(results)
    made = tracked_masks(
        [(job.pairs[k][1], job.pairs[k][0]) for k in mapped],
        [results[k][1] for k in mapped],
        [results[k][3] for k in mapped],
        params,
    )
    masks = dict(zip(mapped, made, strict=True))
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
        pm = _pair_mask(results[k][0], *masks[k], results[k][2])
        name = f"{job.video_id}/{frame_idx:05d}_{track_id}.png"
        row["mask"] = {"bytes": encode_png(pm.mask * np.uint8(255)), "path": f"mask/{name}"}
        row["ssim_mean"] = pm.ssim_mean
        row["manipulated_frac"] = pm.manipulated_frac
        row["valid"] = pm.valid
        if params.store_diff:
            row["diff"] = {"bytes": encode_png(pm.diff), "path": f"diff/{name}"}
        rows.append({**row, "status": "ok"})
    return pa.Table.from_pylist(rows, schema=WORK_SCHEMA)
