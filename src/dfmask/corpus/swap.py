"""A landmark-based face swap with its exact mask, in the blends of the sample's methods.

This is how the sample corpus makes its fakes (see `dfmask.corpus.sample`): a donor
face image is warped onto a target frame by a piecewise-affine map over the Delaunay
triangles of the dlib 68-point landmarks (each donor landmark lands exactly on the
target's; outside the triangles a least-squares similarity, Umeyama 1991, takes over),
optionally colour-corrected to the target's skin in Lab space, and blended with an
alpha inside a region drawn from the TARGET's landmarks (a `Blend`):

* region ``full``: the convex hull of the jaw line and eyebrows (points 0–26), eroded
  and/or dilated by a fraction of the face width;
* region ``mouth``: the outer-lip hull (points 48–59), dilated: a lip-sync style
  partial swap;
* the edge: a Gaussian feather (sigma a fraction of the face width) or, with feather 0,
  a hard edge (alpha 0 or 1).

`BLENDS` holds each method's blend (the ``autoencoder`` method blends like
``classical``; what differs is its low-resolution donor, `dfmask.corpus.sample`).

The true mask is every pixel whose blend weight is non-zero (255 = manipulated), the
feather included. By construction the fake equals the target frame EXACTLY outside it
(`numpy.where` with the mask), so a model cannot learn anything from pixels outside the
swap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from scipy.spatial import Delaunay

SwapKind = Literal["full", "mouth"]

#: dlib 68-point index ranges (iBUG 300-W convention).
JAW = np.arange(0, 17)
BROWS = np.arange(17, 27)
NOSE = np.arange(27, 36)
EYES = np.arange(36, 48)
OUTER_LIPS = np.arange(48, 60)
MOUTH = np.arange(48, 68)

#: Landmarks each swap region aligns on: the whole face for ``full``; the nose base and
#: mouth for ``mouth``, so the donor's lips land on the target's lips.
ALIGN_POINTS: dict[str, np.ndarray] = {
    "full": np.arange(0, 68),
    "mouth": np.concatenate([np.arange(31, 36), MOUTH]),
}

_GRID = 128.0  # px: the face width at which the blend region is computed (see region_alpha)


@dataclass(frozen=True)
class Blend:
    """How a swap blends the warped donor into the frame (lengths × the target's face
    width, the jaw's horizontal extent)."""

    region: SwapKind  # "full": jaw + eyebrow hull; "mouth": outer-lip hull
    feather: float  # Gaussian sigma of the alpha edge; 0 = hard edge (alpha 0 or 1)
    erode: float = 0.0  # hull erosion before feathering
    dilate: float = 0.0  # hull dilation before feathering
    colour: bool = True  # Lab mean/std transfer of the donor to the target's skin


#: The blend of each swapping method (`dfmask.corpus.plan.FAKE_METHODS` but ``no_change``).
#: ``classical``: the eroded hull, narrow feather (stays inside the face). ``feather``: the
#: whole hull, a wide feather reaching ~0.27 face widths past it (into hair, ears,
#: neck): the true mask holds all of it. ``hard_paste``: a slightly eroded hull pasted
#: with a hard edge and the donor's own colours.
BLENDS: dict[str, Blend] = {
    "classical": Blend("full", feather=0.06, erode=0.10),
    "autoencoder": Blend("full", feather=0.06, erode=0.10),
    "mouth": Blend("mouth", feather=0.05, dilate=0.12),
    "hard_paste": Blend("full", feather=0.0, erode=0.05, colour=False),
    "feather": Blend("full", feather=0.10),
}


def blend_of(kind: SwapKind | Blend) -> Blend:
    """``kind`` as a `Blend`: a region name stands for its classical blend."""
    if isinstance(kind, Blend):
        return kind
    return BLENDS["classical" if kind == "full" else "mouth"]


def landmark_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """The box convention of the sample's ground truth: the tight bounding box of the
    68 landmarks, ``(x0, y0, x1, y1)`` in full-resolution pixels, no margin.

    It spans eyebrows to chin and ear to ear along the jaw; it excludes the forehead.
    """
    return (
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    )


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2×3 similarity transform (rotation, uniform scale, translation) that maps
    ``src`` points onto ``dst`` points with least squares (Umeyama 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1.0
    rot = u @ d @ vt
    var_s = (s_c**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ d) / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine ``matrix`` to (N, 2) points."""
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def triangles(points: np.ndarray) -> np.ndarray:
    """(T, 3) landmark indices of the Delaunay triangulation of the first 60 landmarks.

    The inner-lip points (60–67) are left out: an open donor mouth on a closed target
    mouth (or the reverse) would otherwise squash the teeth into slivers; without them
    the whole mouth maps by the outer-lip triangles and keeps its look.
    """
    return np.asarray(Delaunay(np.asarray(points, np.float64)[:60]).simplices, np.int64)


def piecewise_affine_map(
    src_points: np.ndarray,
    dst_points: np.ndarray,
    shape: tuple[int, int],
    align: np.ndarray,
    tris: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps that warp an image with landmarks ``src_points`` so they land
    on ``dst_points``, one affine per triangle (``tris``, default the triangulation of
    the source landmarks), over an (h, w) region whose pixels are ``dst_points``'
    coordinates.

    Pixels outside every triangle use the least-squares similarity fitted on the
    ``align`` landmarks, so the map is defined everywhere (and smooth outside the
    face). Degenerate (zero-area) triangles use it too.
    """
    h, w = shape
    src = np.asarray(src_points, np.float64)
    dst = np.asarray(dst_points, np.float64)
    tris = triangles(src) if tris is None else tris
    n = len(tris)
    mats = np.empty((n + 1, 2, 3), np.float64)
    mats[:] = similarity(dst[align], src[align])  # dst → src, index 0 = outside
    corners = np.concatenate([dst[tris], np.ones((n, 3, 1))], axis=2)  # (T, 3, 3)
    ok = np.abs(np.linalg.det(corners)) > 1e-6
    if ok.any():
        mats[1:][ok] = np.linalg.solve(corners[ok], src[tris[ok]]).transpose(0, 2, 1)
    ids = np.zeros((h, w), np.uint8 if n < 255 else np.uint16)
    for k in np.flatnonzero(ok):
        poly = np.round(dst[tris[k]] * 16).astype(np.int32)
        cv2.fillConvexPoly(ids, poly, int(k) + 1, lineType=cv2.LINE_8, shift=4)
    flat = mats.reshape(n + 1, 6).astype(np.float32)[ids.astype(np.intp)]  # (h, w, 6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = flat[..., 0] * xx + flat[..., 1] * yy + flat[..., 2]
    map_y = flat[..., 3] * xx + flat[..., 4] * yy + flat[..., 5]
    return map_x.astype(np.float32), map_y.astype(np.float32)


def region_alpha(
    landmarks: np.ndarray, kind: SwapKind | Blend, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Blend weight in [0, 1] of a swap of ``kind`` (a `Blend`, or a region name for its
    classical blend) over an (h, w) region.

    ``origin`` is the (x, y) of the region's top-left corner in frame pixels. Weights
    below 1/255 are set to exactly 0, so ``alpha > 0`` is the manipulated set; a hard
    edge (feather 0) gives weights of exactly 0 or 1.

    The hull, its erosion/dilation and the feather are computed on a grid where the
    face is at most `_GRID` px wide and then resized (bilinear) to the region: the
    shape is the same at any resolution, and a 1080p face costs no more than a small
    one. The threshold is applied after resizing, so the mask is exact at full size.
    """
    blend = blend_of(kind)
    h, w = shape
    pts = np.asarray(landmarks, np.float64) - np.asarray(origin, np.float64)
    face_w = max(1.0, float(np.ptp(pts[JAW, 0])))
    scale = min(1.0, _GRID / face_w)
    gh, gw = max(1, round(h * scale)), max(1, round(w * scale))
    grid_pts = (pts + 0.5) * (gw / w, gh / h) - 0.5  # cv2.resize's pixel-centre mapping
    face_w *= scale
    idx = np.concatenate([JAW, BROWS]) if blend.region == "full" else OUTER_LIPS
    hull = cv2.convexHull(np.round(grid_pts[idx] * 16).astype(np.int32))
    hard: np.ndarray = np.zeros((gh, gw), np.uint8)
    cv2.fillConvexPoly(hard, hull, 255, lineType=cv2.LINE_8, shift=4)
    grow = round(blend.dilate * face_w)
    shrink = round(blend.erode * face_w)
    if grow > 0:
        hard = np.asarray(cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)))
    if shrink > 0:
        hard = np.asarray(cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1,) * 2)))
    alpha: np.ndarray = hard.astype(np.float32) / 255.0
    if blend.feather > 0:
        alpha = np.asarray(cv2.GaussianBlur(alpha, (0, 0), max(0.8, blend.feather * face_w)))
    if (gh, gw) != (h, w):
        alpha = np.asarray(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR))
    if blend.feather > 0:
        alpha[alpha < 1.0 / 255.0] = 0.0
    else:
        alpha = (alpha >= 0.5).astype(np.float32)
    return np.asarray(alpha)


def match_colour(donor: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``donor`` (RGB float32 0..1) with its Lab mean and std matched to ``target``'s,
    both measured where ``weight`` > 0.5 (the swap's core). Std ratios are clipped to
    [0.5, 2] so a flat region cannot blow the contrast up."""
    core = weight > 0.5
    if core.sum() < 16:
        return donor
    d_lab = cv2.cvtColor(donor, cv2.COLOR_RGB2Lab)
    t_lab = cv2.cvtColor(target, cv2.COLOR_RGB2Lab)
    step = max(1, int(np.sqrt(core.sum() / 20000)))  # statistics from <= ~20k pixels
    sub = core[::step, ::step]
    d_px, t_px = d_lab[::step, ::step][sub], t_lab[::step, ::step][sub]
    d_mu, d_sd = d_px.mean(0), d_px.std(0) + 1e-3
    t_mu, t_sd = t_px.mean(0), t_px.std(0) + 1e-3
    ratio = np.clip(t_sd / d_sd, 0.5, 2.0)
    out_lab = (d_lab - d_mu) * ratio + t_mu
    out = cv2.cvtColor(out_lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.asarray(np.clip(out, 0.0, 1.0))


def swap_face(
    frame: np.ndarray,
    target_landmarks: np.ndarray,
    donor: np.ndarray,
    donor_landmarks: np.ndarray,
    kind: SwapKind | Blend,
    tris: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Swap the donor's face onto ``frame`` with the blend ``kind``.

    Args:
        frame: target RGB uint8 (H, W, 3).
        target_landmarks: (68, 2) landmarks of the target face in ``frame`` pixels.
        donor: donor RGB uint8 image (any size).
        donor_landmarks: (68, 2) landmarks of the donor face in ``donor`` pixels.
        kind: a `Blend` (`BLENDS` per method), or ``"full"`` / ``"mouth"`` for the
            classical whole-face or mouth-only blend.
        tris: `triangles` of ``donor_landmarks`` (computed if None; pass them when
            swapping one donor onto many frames).

    Returns:
        ``(fake, mask)``: the fake frame (uint8, equal to ``frame`` wherever ``mask`` is
        0) and the manipulation mask (uint8 (H, W), 255 = manipulated).
    """
    blend = blend_of(kind)
    h, w = frame.shape[:2]
    tgt = np.asarray(target_landmarks, np.float64)
    x0, y0, x1, y1 = landmark_box(tgt)
    # the region around the face: room for the dilation and 3 sigma of feather
    pad = max(0.4, blend.dilate + 3.0 * blend.feather + 0.05) * max(x1 - x0, y1 - y0)
    rx0, ry0 = max(0, int(np.floor(x0 - pad))), max(0, int(np.floor(y0 - pad)))
    rx1, ry1 = min(w, int(np.ceil(x1 + pad))), min(h, int(np.ceil(y1 + pad)))
    mask = np.zeros((h, w), np.uint8)
    fake = frame.copy()
    if rx1 <= rx0 or ry1 <= ry0:
        return fake, mask
    roi_shape = (ry1 - ry0, rx1 - rx0)
    alpha = region_alpha(tgt, blend, roi_shape, (rx0, ry0))
    if not alpha.any():
        return fake, mask
    map_x, map_y = piecewise_affine_map(donor_landmarks, tgt - (rx0, ry0), roi_shape, ALIGN_POINTS[blend.region], tris)
    warped = cv2.remap(donor, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    roi = frame[ry0:ry1, rx0:rx1]
    target_f = roi.astype(np.float32) / 255.0
    donor_f = warped.astype(np.float32) / 255.0
    if blend.colour:
        donor_f = match_colour(donor_f, target_f, alpha)
    a = alpha[:, :, None]
    blended = np.clip(np.round((a * donor_f + (1.0 - a) * target_f) * 255.0), 0, 255).astype(np.uint8)
    inside = alpha > 0
    fake[ry0:ry1, rx0:rx1] = np.where(inside[:, :, None], blended, roi)
    mask[ry0:ry1, rx0:rx1][inside] = 255
    return fake, mask
