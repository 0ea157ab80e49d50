"""Fast SSIM maps and the binary-mask morphology built on them.

`ssim_map` computes the same full SSIM map as
``skimage.metrics.structural_similarity(im1, im2, full=True, ...)`` (mean over colour
channels when ``channel_axis`` is used), but with OpenCV's SIMD separable filters:

* **Four blurred planes, not five.** SSIM factors exactly as
  ``S = (1 − (μx − μy)² / (μx² + μy² + C1)) · (1 − var(x − y) / (σx² + σy² + C2))``:
  the luminance factor is ``1 − (μx − μy)²/(μx² + μy² + C1)``, and since
  ``var(x − y) = σx² + σy² − 2σxy`` the contrast-structure factor is
  ``1 − var(x − y)/(σx² + σy² + C2)`` (each variance scaled by the sample-covariance
  factor when it is used). So the filters blur x, y, x² + y² and (x − y)², four
  images where scikit-image blurs five per channel (x, y, x², y², xy).
* **float32 and cancellation.** A variance ``E[v²] − E[v]²`` in float32 loses about
  ``eps·E[v²]`` (a few times that after the filter's sums): with raw 8-bit values (v²
  up to 65,025) ~4e-3, which against ``C2 = (0.03·255)² ≈ 58.5`` in flat regions is
  ~1e-4 of SSIM, the whole parity budget. Centring the pixels on ``data_range/2``
  (variances are shift-invariant; the luminance factor adds the offset back) cuts x²
  and y² fourfold. In the factored form the error of ``σx² + σy²`` only enters through
  the denominator, scaled by the deficit ``var(x − y)/(…)``, which is small wherever
  the images agree; and where they agree ``x − y`` is small, so ``var(x − y)`` is
  accurate. Where the local means differ by ~100 levels or more, ``(x − y)²`` is large
  and ``var(x − y)`` cancels like any variance: on flat regions with such offsets the
  float32 error reaches 1.4e-4 in grey and 8.6e-5 in colour with the Wang settings
  (the five-moment form: 1.1e-4 / 6.3e-5), up to ~1.6e-4 in grey at σ = 3; on OpenCV's
  baseline kernels (`opencv_baseline`: no FMA) 1.3e-4 / 8.0e-5 with the Wang settings,
  1.07e-4 in colour with the uniform 7-px window and sample covariance. S is
  ~0.4–0.7 there, far from any mask threshold, so masks are unchanged (tested).
  Elsewhere the factored form is 3–25x more exact than the five-moment form (flat or
  saturated regions at one level: 6.7e-6 against 1.6e-4 in grey; 48 synthetic 256²
  face pairs: 2.8e-5 against 7.6e-5; 64 real crop pairs: 1.7e-5 against 5.8e-5).
  For 1e-6 everywhere, use ``dtype=np.float64``.
* **Contiguous float32 planes, in strips.** The four planes (RGB interleaved as in the
  input) are contiguous, each blurred by one vertical and one horizontal
  `cv2.filter2D` call (see `separable_blur`), instead of scikit-image's 5·C separate
  `scipy.ndimage` filters in float64, in strips of `STRIP_ROWS` rows. A strip's planes
  and vertical pass include ``radius`` halo rows above and below; the horizontal pass
  and the arithmetic after the blur run on the strip's own rows only.
* **Same kernel, same border.** The 1-D kernel is built exactly as
  ``scipy.ndimage`` builds it (Gaussian: ``exp(-x²/2σ²)`` normalised over
  ``|x| <= int(truncate·σ + 0.5)`` with ``truncate = 3.5``, i.e. 11 taps at σ = 1.5;
  uniform: ``1/win`` repeated ``win`` times), and ``cv2.BORDER_REFLECT``
  (``dcba|abcd``) is scipy's ``mode="reflect"``. So the map agrees with scikit-image's
  everywhere, borders included, up to floating-point rounding. Only the *mean*
  (`SsimResult.ssim_mean`) ignores a ``(win - 1) // 2`` strip at each border, exactly
  as scikit-image's ``crop(S, pad).mean()`` does.

The binary mask (`mask_from_ssim`) thresholds the dissimilarity ``1 − S`` and cleans it
with OpenCV morphology: open (drops speckle), close (fills holes), drop connected
components smaller than a minimum area, optionally fill their convex hull, then dilate
(a margin for the swap's feathered edge).

All sizes are in crop pixels; SSIM values are unitless in [-1, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: scikit-image's Gaussian truncation: radius = int(3.5 * sigma + 0.5) (11 taps at 1.5).
GAUSSIAN_TRUNCATE = 3.5


@dataclass(frozen=True)
class SsimConfig:
    """SSIM settings, named as in ``skimage.metrics.structural_similarity``.

    Attributes:
        gaussian_weights: Gaussian-weighted window (True) or uniform ``win_size`` box.
        sigma: Gaussian standard deviation in pixels (used when ``gaussian_weights``).
        win_size: odd window side in pixels; None = scikit-image's default (7 for the
            uniform window; ``2·int(3.5σ + 0.5) + 1`` for the Gaussian one). With a
            Gaussian window it only sets the border strip ignored by the mean and the
            sample-covariance factor, exactly as in scikit-image.
        use_sample_covariance: divide covariances by N−1 (True) or N (False, Wang et al.).
        data_range: pixel value range (255 for 8-bit images).
        colour: SSIM per RGB channel, averaged (True), or on the 8-bit grey image (False,
            ``cv2.COLOR_RGB2GRAY``), three times less work.
        k1, k2: SSIM stabilising constants, ``C1 = (k1·data_range)²``, ``C2 = (k2·data_range)²``.
    """

    gaussian_weights: bool = True
    sigma: float = 1.5
    win_size: int | None = None
    use_sample_covariance: bool = False
    data_range: float = 255.0
    colour: bool = True
    k1: float = 0.01
    k2: float = 0.03

    def __post_init__(self) -> None:
        if self.win_size is not None and (self.win_size < 3 or self.win_size % 2 == 0):
            raise ValueError(f"SSIM win_size must be an odd integer >= 3, got {self.win_size}")
        if self.sigma <= 0 or self.data_range <= 0:
            raise ValueError(f"SSIM sigma and data_range must be > 0 (got {self.sigma}, {self.data_range})")

    @property
    def radius(self) -> int:
        """Filter radius in pixels (the kernel has ``2·radius + 1`` taps)."""
        if self.gaussian_weights:
            return int(GAUSSIAN_TRUNCATE * self.sigma + 0.5)
        return (self.window - 1) // 2

    @property
    def window(self) -> int:
        """The window side scikit-image uses for the border crop and N (pixels)."""
        if self.win_size is not None:
            return self.win_size
        if self.gaussian_weights:
            return 2 * int(GAUSSIAN_TRUNCATE * self.sigma + 0.5) + 1
        return 7

    def kernel(self, dtype: Any = np.float64) -> np.ndarray:
        """The normalised 1-D filter kernel, built the way ``scipy.ndimage`` builds it."""
        if self.gaussian_weights:
            x = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
            k = np.exp(-0.5 / (self.sigma * self.sigma) * x * x)
            k /= k.sum()
        else:
            k = np.full(self.window, 1.0 / self.window)
        return k.astype(dtype)

    def skimage_kwargs(self) -> dict[str, Any]:
        """Keyword arguments giving the same SSIM in ``structural_similarity``."""
        kw: dict[str, Any] = {
            "gaussian_weights": self.gaussian_weights,
            "use_sample_covariance": self.use_sample_covariance,
            "data_range": self.data_range,
            "K1": self.k1,
            "K2": self.k2,
        }
        if self.gaussian_weights:
            kw["sigma"] = self.sigma
        if self.win_size is not None:
            kw["win_size"] = self.win_size
        return kw


@dataclass(frozen=True)
class MorphConfig:
    """Threshold and morphology turning an SSIM map into a binary mask.

    Attributes:
        threshold: a pixel is manipulated where ``1 − SSIM > threshold`` (unitless).
        open_px: side of the elliptical opening element in pixels (0 = no opening).
        close_px: side of the elliptical closing element in pixels (0 = no closing).
        dilate_px: side of the elliptical dilation element in pixels (0 = none).
        min_area: connected components (8-connected) smaller than this many pixels are
            dropped after opening and closing (0 = keep all).
        fill_hull: replace the kept components by their joint convex hull. Face swaps
            blend a convex region (the landmark hull of the face or the mouth), but
            SSIM only sees where the blended pixels differ visibly (features, edges),
            not flat colour-matched skin; the hull restores the blended region.
    """

    threshold: float = 0.05
    open_px: int = 3
    close_px: int = 7
    dilate_px: int = 13
    min_area: int = 64
    fill_hull: bool = False


@dataclass(frozen=True)
class SsimResult:
    """SSIM of one pair: the channel-averaged map and its scikit-image-style mean."""

    ssim: np.ndarray  # (H, W) float, channel mean of the per-channel SSIM maps
    ssim_mean: float  # mean over the map without the (window - 1) // 2 border strip


def to_grey(image: np.ndarray) -> np.ndarray:
    """8-bit grey of an RGB uint8 image (``cv2.COLOR_RGB2GRAY``, BT.601 weights)."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def separable_blur(image: np.ndarray, kernel: np.ndarray, rows: slice | None = None) -> np.ndarray:
    """Blur a contiguous (H, W, C) image with ``kernel`` ⊗ ``kernel``, per channel.

    Vertical pass first, on the same memory read as an (H, W·C) single-channel image
    (its columns are independent, so every channel is filtered along H), then the
    horizontal pass on the (H, W, C) image. Border: reflect (scipy's ``mode="reflect"``).

    Args:
        image: contiguous (H, W, C) float image.
        kernel: the 1-D kernel (``SsimConfig.kernel``).
        rows: keep only these output rows (the vertical pass still reads all H rows;
            the horizontal pass runs on the kept rows only). None keeps all.

    Returns:
        The blurred (R, W, C) image, R = the number of kept rows.
    """
    h, w, c = image.shape
    vertical = cv2.filter2D(image.reshape(h, w * c), -1, kernel.reshape(-1, 1), borderType=cv2.BORDER_REFLECT)
    if rows is not None:
        vertical = vertical[rows]
    kept = vertical.shape[0]
    return cv2.filter2D(vertical.reshape(kept, w, c), -1, kernel.reshape(1, -1), borderType=cv2.BORDER_REFLECT)


#: Rows of output computed per strip. Each strip's vertical pass also reads ``radius``
#: halo rows above and below, so small strips waste filter work (48-row strips ran
#: ~1.2x slower than 128-row ones at 256², two processes), while whole images of large
#: crops leave the cache; 128 keeps a 128² crop in one strip and a 256² one in two.
STRIP_ROWS = 128


_BASELINE_LOCK = threading.Lock()
_baseline_depth = 0
_baseline_saved: tuple[bool, bool] = (True, True)


@contextmanager
def opencv_baseline() -> Iterator[None]:
    """OpenCV on its baseline instructions only, for the block: ``cv2.setUseOptimized(False)``
    turns off the kernels OpenCV picks at run time for the CPU it finds (AVX, AVX2, FMA,
    AVX-512 and IPP), leaving the code every build of the wheel runs on any CPU of its
    architecture (SSE to SSE3 on x86-64: `cv2.getCPUFeaturesLine` lists them unstarred).
    Float arithmetic then rounds the same way on every such CPU. Blocks may nest and
    overlap across threads (a counter under a lock: the first to enter switches the
    kernels off, the last to leave restores the caller's flag and IPP setting), but the
    flag is process-wide: OpenCV work of OTHER threads meanwhile also runs on the
    baseline kernels, slower but correct (the masks workers run one thread)."""
    global _baseline_depth, _baseline_saved
    with _BASELINE_LOCK:
        if _baseline_depth == 0:
            _baseline_saved = (cv2.useOptimized(), cv2.ipp.useIPP())
            cv2.setUseOptimized(False)
        _baseline_depth += 1
    try:
        yield
    finally:
        with _BASELINE_LOCK:
            _baseline_depth -= 1
            if _baseline_depth == 0:
                optimized, ipp = _baseline_saved
                cv2.setUseOptimized(optimized)
                cv2.ipp.setUseIPP(ipp)


def ssim_map(
    im1: np.ndarray, im2: np.ndarray, cfg: SsimConfig, dtype: Any = np.float32, *, baseline: bool = False
) -> SsimResult:
    """SSIM map of two aligned images (H, W) or (H, W, C), as scikit-image computes it.

    The map is computed in horizontal strips of `STRIP_ROWS` rows, each with ``radius``
    halo rows above and below, so the vertical filter sees real rows everywhere except
    at the image's own top and bottom (where the reflect border is the right one): the
    result is bit-identical to the whole-image computation (for kernels under 50 taps,
    σ below ~7; OpenCV filters longer ones through a DFT, whose rounding differs by
    ~1e-16 between strip sizes).

    Args:
        im1, im2: same-shape images (any real dtype; uint8 in the pipeline).
        cfg: SSIM settings. With ``cfg.colour`` False, RGB inputs are converted to grey.
        dtype: np.float32 (fast; parity 1e-4) or np.float64 (parity 1e-6).
        baseline: filter on OpenCV's baseline instructions only (`opencv_baseline`): the
            same bytes on every CPU of the architecture, also in float32, where the
            CPU's own kernels (AVX2, FMA) round differently; ~1.4x slower in float32 at
            128², still ~1.7x faster than float64 with them.

    Returns:
        The (H, W) SSIM map (averaged over channels) and its border-cropped mean.
    """
    if im1.shape != im2.shape:
        raise ValueError(f"SSIM needs same-shape images, got {im1.shape} and {im2.shape}")
    if not cfg.colour:
        im1, im2 = to_grey(im1), to_grey(im2)
    if im1.ndim == 2:
        im1, im2 = im1[:, :, None], im2[:, :, None]
    h, w, _ = im1.shape
    if min(h, w) < cfg.window:
        raise ValueError(f"SSIM window {cfg.window} px exceeds the image size {w}x{h}")
    dtype = np.dtype(dtype)
    im1, im2 = np.ascontiguousarray(im1), np.ascontiguousarray(im2)
    smap = np.empty((h, w), dtype)
    step = max(STRIP_ROWS, cfg.radius + 1)
    kernel = cfg.kernel(dtype)
    with opencv_baseline() if baseline else nullcontext():
        for top in range(0, h, step):
            bottom = min(h, top + step)
            lo, hi = max(0, top - cfg.radius), min(h, bottom + cfg.radius)
            own = slice(top - lo, bottom - lo)
            smap[top:bottom] = _ssim_strip(im1[lo:hi], im2[lo:hi], cfg, dtype, kernel, own)
    pad = (cfg.window - 1) // 2
    inner = smap[pad : h - pad, pad : w - pad] if pad else smap
    return SsimResult(ssim=smap, ssim_mean=float(inner.mean(dtype=np.float64)))


def _ssim_strip(
    im1: np.ndarray, im2: np.ndarray, cfg: SsimConfig, dtype: np.dtype[Any], kernel: np.ndarray, own: slice
) -> np.ndarray:
    """The channel-mean SSIM of the ``own`` rows of two contiguous (H, W, C) images.

    The rows outside ``own`` are halo: read by the vertical filter only. The image's
    first and last rows get the reflect border.
    """
    h, w, c = im1.shape
    offset = dtype.type(cfg.data_range / 2.0)
    # Images x, y, x² + y², (x − y)² of the centred pixels, laid out (4, H, W·C): every
    # image contiguous, the colour channels interleaved as in the input.
    stack = np.empty((4, h, w * c), dtype)
    x, y, squares, diff2 = stack
    np.subtract(im1.reshape(h, w * c), offset, out=x, dtype=dtype, casting="unsafe")
    np.subtract(im2.reshape(h, w * c), offset, out=y, dtype=dtype, casting="unsafe")
    np.subtract(x, y, out=diff2)
    np.multiply(diff2, diff2, out=diff2)
    np.multiply(x, x, out=squares)
    squares += y * y
    ux, uy, usq, udiff2 = (separable_blur(plane.reshape(h, w, c), kernel, own).reshape(-1, w * c) for plane in stack)

    c1 = dtype.type((cfg.k1 * cfg.data_range) ** 2)
    c2 = dtype.type((cfg.k2 * cfg.data_range) ** 2)

    # Contrast-structure deficit var(x − y) / (σx² + σy² + C2), from the centred moments.
    mean_diff2 = ux - uy
    mean_diff2 *= mean_diff2  # (μx − μy)²
    udiff2 -= mean_diff2  # var(x − y)
    usq -= ux * ux
    usq -= uy * uy  # σx² + σy²
    if cfg.use_sample_covariance:
        n = cfg.window**2
        cov_norm = dtype.type(n / (n - 1.0))
        udiff2 *= cov_norm
        usq *= cov_norm
    usq += c2
    np.divide(udiff2, usq, out=udiff2)
    # Luminance deficit (μx − μy)² / (μx² + μy² + C1), with the true means.
    ux += offset
    uy += offset
    ux *= ux
    uy *= uy
    ux += uy
    ux += c1
    np.divide(mean_diff2, ux, out=mean_diff2)
    # S = (1 − luminance deficit) · (1 − contrast-structure deficit)
    np.subtract(1, mean_diff2, out=mean_diff2)
    np.subtract(1, udiff2, out=udiff2)
    mean_diff2 *= udiff2
    if c == 1:
        return mean_diff2
    # Channel mean of the interleaved maps in one SIMD call (a 1 x C matrix transform).
    rows = mean_diff2.shape[0]
    return cv2.transform(mean_diff2.reshape(rows, w, c), np.full((1, c), 1.0 / c, dtype))


def skimage_ssim_map(im1: np.ndarray, im2: np.ndarray, cfg: SsimConfig) -> SsimResult:
    """The reference: scikit-image's full map (channel mean) and mean, same settings.

    Used by the parity tests and the benchmark's baseline; slow (per-channel scipy
    filters, float64 for 8-bit input).
    """
    from skimage.metrics import structural_similarity

    if not cfg.colour:
        im1, im2 = to_grey(im1), to_grey(im2)
    channel_axis = 2 if im1.ndim == 3 else None
    mssim, smap = structural_similarity(im1, im2, full=True, channel_axis=channel_axis, **cfg.skimage_kwargs())
    if smap.ndim == 3:
        smap = smap.mean(axis=2)
    return SsimResult(ssim=smap, ssim_mean=float(mssim))


def diff8(ssim: np.ndarray) -> np.ndarray:
    """8-bit dissimilarity ``clip(1 − S, 0, 1) · 255``, truncated (as the 1st place's diffs)."""
    d = np.subtract(1.0, ssim, dtype=np.float32)
    np.clip(d, 0.0, 1.0, out=d)
    d *= 255.0
    return d.astype(np.uint8)


def _element(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def clean_mask(binary: np.ndarray, morph: MorphConfig) -> np.ndarray:
    """Open, close, drop small components, fill the hull, dilate a 0/1 uint8 mask (a new
    array when anything changes; ``binary`` itself is never written)."""
    mask = binary
    if morph.open_px > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _element(morph.open_px))
    if morph.close_px > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _element(morph.close_px))
    if morph.min_area > 0 and mask.any():
        # Labels without OpenCV's stats (which cost more than the labelling) + bincount;
        # 16-bit labels while an 8-connected image cannot hold more than 65,535 components.
        ltype = cv2.CV_16U if mask.size // 4 < 65535 else cv2.CV_32S
        count, labels = cv2.connectedComponents(mask, connectivity=8, ltype=ltype)
        keep = np.bincount(labels.ravel(), minlength=count) >= morph.min_area
        keep[0] = False  # background label
        if not keep[1:].all():  # else every component is kept: the mask is unchanged
            mask = keep.astype(np.uint8)[labels]
    if morph.fill_hull and mask.any():
        hull = cv2.convexHull(cv2.findNonZero(mask))
        # fillConvexPoly draws in place: never into the caller's array
        mask = np.ascontiguousarray(mask).copy() if mask is binary else np.ascontiguousarray(mask)
        cv2.fillConvexPoly(mask, hull, 1)
    if morph.dilate_px > 1:
        mask = cv2.dilate(mask, _element(morph.dilate_px))
    return mask


def mask_from_ssim(ssim: np.ndarray, morph: MorphConfig) -> np.ndarray:
    """Binary mask (uint8, 1 = manipulated) from an SSIM map: ``1 − S > threshold``, cleaned."""
    binary = (ssim < (1.0 - morph.threshold)).astype(np.uint8)
    return clean_mask(binary, morph)
