"""Face detection: facenet-pytorch MTCNN on rescaled frames, boxes in full-res pixels.

Why rescale: MTCNN's cost grows with the image-pyramid area, so a 1080p frame is
detected on a 0.33x copy (DFDC 1st place did the same) and a tiny one on a 2x copy
(small faces are found more reliably). The detector's minimum face size is scaled with
the frame, so ``min_face_size`` keeps meaning full-resolution pixels whatever the
video's size. Boxes and landmarks come back divided by the factor.

Why float64 (``faces.precision``): in float32 the boxes, landmarks and confidences
come out a few ulps different (up to 6e-5 px, measured) under another oneDNN/MKL
instruction set (another CPU) or another thread count, and those values are stored and
place the crops. In float64 those differences are ~1e-13 px, far below the float32 the
values are stored in, so every CPU and thread count stores the same bytes (measured:
docs/architecture.md, "Reproducibility"). Dense float64 P-Net cost 1.7x (480x272) to 3x
(1080p) float32's detection time; on the CPU P-Net is therefore screened by a float32
copy and run in float64 only on the windows that can pass its threshold
(`dfmask.faces.pnet.ScreenedPNet`: the same bytes, 2.5x faster than dense float64 at
1080p in `make bench-phases`; in ad-hoc runs 1.27x float32's time on one thread at 1080p
and 1.36x on a mix of 480x272 and 1080p frames). ``float32`` stays the fast,
machine-dependent choice.

Float64 alone did not make the bytes CPU-independent: MKL picks its GEMM kernels by CPU
vendor and model, and on an Intel Xeon its fast path rounds float64 products otherwise
than the path it runs on an AMD EPYC; through O-Net that once moved a box by 0.06 px and
seven crops by a pixel. Importing this module therefore sets ``MKL_CBWR=COMPATIBLE``
(MKL's conditional numerical reproducibility: one code path on every x86-64 CPU) unless
the user set it; MKL reads it at its first call, so it must come before any GEMM of the
process (`MKL_MODE`).

The MTCNN weights ship inside the facenet-pytorch wheel; nothing is downloaded.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask.errors import DfmaskError
from dfmask.params import FacesParams

#: MKL's code path for every GEMM of the process (module docstring): the same on any
#: x86-64 CPU. Set at import, before MTCNN's first MKL call; a user's own MKL_CBWR is kept.
MKL_MODE = "COMPATIBLE"
os.environ.setdefault("MKL_CBWR", MKL_MODE)

#: MTCNN's smallest usable min_face_size (its P-Net window is 12 px).
_MIN_DETECTOR_FACE = 12

#: The most rescaled-frame pixels per MTCNN call. MTCNN's P-Net holds float32 feature
#: maps of the whole batch at each pyramid level (~10x the batch's RGB bytes at the first
#: level), so memory grows with batch x area: ``faces.batch_size`` frames per call as
#: long as they fit here (8 at 1080p's 634x356 and anything smaller), fewer at larger
#: sizes (1 at 4096x2160's 1352x713 instead of ~0.7 GB per call and worker for 8).
MAX_BATCH_PIXELS = 8 * 640 * 360


def batch_frames(width: int, height: int, scale: float, params: FacesParams) -> int:
    """Frames per MTCNN call for ``width`` x ``height`` frames detected at ``scale``:
    ``faces.batch_size``, lowered so a call stays within `MAX_BATCH_PIXELS` (at least 1)."""
    pixels = max(1, round(width * scale)) * max(1, round(height * scale))
    return max(1, min(params.batch_size, MAX_BATCH_PIXELS // pixels))


@dataclass(frozen=True)
class FrameFaces:
    """Faces found in one frame, full-resolution pixel coordinates.

    Attributes:
        boxes: (K, 4) float32 x0, y0, x1, y1.
        probs: (K,) float32 detector confidence in [0, 1].
        landmarks: (K, 5, 2) float32 (x, y) of eyes, nose, mouth corners.
    """

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray

    @staticmethod
    def empty() -> FrameFaces:
        return FrameFaces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)


def detection_scale(width: int, height: int, params: FacesParams) -> float:
    """The rescale factor for a ``width`` x ``height`` frame (by its longer side)."""
    limits, factors = params.scale_limits, params.scale_factors  # lengths checked at load
    side = max(width, height)
    for limit, factor in zip(limits, factors, strict=False):
        if side <= limit:
            return float(factor)
    return float(factors[-1])


def detector_min_face(scale: float, params: FacesParams) -> int:
    """MTCNN ``min_face_size`` on the rescaled frame (px), never below 12."""
    return max(_MIN_DETECTOR_FACE, round(params.min_face_size * scale))


def holds_a_face(height: int, width: int, min_face: int) -> bool:
    """Whether facenet-pytorch's MTCNN builds any image-pyramid level for a ``height`` x
    ``width`` image and faces of at least ``min_face`` px (its `detect_face` test, in the
    same float arithmetic). False: the image is smaller than the smallest face looked for,
    and MTCNN would raise on its empty pyramid."""
    return min(height, width) * (12.0 / min_face) >= 12


def _interp(scale: float) -> int:
    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def rescale_frame(frame: np.ndarray, scale: float) -> np.ndarray:
    """One (H, W, 3) uint8 frame resized by ``scale`` (area when shrinking, linear when
    growing): exactly what `rescale_frames` does to each frame of a stack."""
    h, w = frame.shape[:2]
    if scale == 1.0:
        return frame
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(frame, size, interpolation=_interp(scale))


def rescale_frames(frames: np.ndarray | Sequence[np.ndarray], scale: float) -> np.ndarray:
    """Resize a (N, H, W, 3) uint8 stack (or N equal-size frames) by ``scale`` (area when
    shrinking, linear when growing) into a new stack."""
    if scale == 1.0:
        return frames if isinstance(frames, np.ndarray) else np.stack(frames)
    n, (h, w) = len(frames), frames[0].shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = np.empty((n, size[1], size[0], 3), np.uint8)
    for i in range(n):
        out[i] = rescale_frame(frames[i], scale)
    return out


def no_cuda_driver() -> bool:
    """True when this machine certainly has no CUDA device, decided without torch.

    CUDA needs the NVIDIA kernel driver: on Linux it shows as ``/proc/driver/nvidia``
    (``/dev/dxg`` under WSL 2); macOS has no CUDA. Anywhere else the answer is False
    ("ask torch"). Lets ``auto`` resolve before torch is imported (with torchvision and
    facenet-pytorch, ~5 s here), so the import can overlap the first decode.
    """
    if sys.platform == "darwin":
        return True
    if sys.platform.startswith("linux"):
        return not (Path("/proc/driver/nvidia").exists() or Path("/dev/dxg").exists())
    return False


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU fails."""
    if device not in ("auto", "cpu", "cuda"):
        raise DfmaskError(f"params: faces.device: expected auto | cpu | cuda, got {device!r}")
    if device == "cpu":
        return device
    if no_cuda_driver():
        available = False
    else:
        import torch

        available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise DfmaskError("params: faces.device is 'cuda' but torch sees no CUDA GPU; use auto or cpu")
    return device


class FaceDetector:
    """Batched MTCNN (``keep_all=True``) with per-video rescaling.

    One detector serves many videos, on any number of threads at once (the nets are
    only run, never changed); each `detect` call takes the frames of one video (equal
    sizes, as batched MTCNN needs) and returns one `FrameFaces` per frame.
    """

    def __init__(self, params: FacesParams, *, screen: bool = True):
        """``screen=False`` runs float64 P-Net densely on the CPU (the reference that
        `ScreenedPNet` must equal; slower); it changes nothing in float32 or on a GPU."""
        self.params = params
        self.screen = screen
        self.device = resolve_device(params.device)
        self._nets: dict[int, Any] = {}
        self._lock = threading.Lock()  # `detect` may run on several threads at once
        # facenet-pytorch pulls in torch, torchvision and torch._dynamo (seconds here):
        # import it on a thread while the caller decodes the first video; `_mtcnn`
        # waits for it (a failed import is raised again there, by the normal import).
        threading.Thread(target=importlib.import_module, args=("facenet_pytorch",), daemon=True).start()

    def _mtcnn(self, min_face: int) -> Any:
        # MTCNN carries min_face_size as an attribute; one instance per size keeps
        # the (shared, read-only) weights and avoids mutating state mid-run.
        with self._lock:
            if min_face not in self._nets:
                import torch
                from facenet_pytorch import MTCNN

                if self.params.threads and not self._nets:
                    torch.set_num_threads(self.params.threads)
                net = MTCNN(
                    min_face_size=min_face,
                    thresholds=list(self.params.thresholds),
                    factor=self.params.pyramid_factor,
                    keep_all=True,
                    post_process=False,
                    device=self.device,
                )
                if self.params.precision == "float64":
                    net = net.double()  # facenet-pytorch casts the frames to the nets' dtype
                if self.device == "cpu":
                    from dfmask.faces.pnet import PerFramePNet, ScreenedPNet

                    if self.params.precision == "float64" and self.screen:  # float64 where it decides
                        net.pnet = ScreenedPNet(net.pnet, net.thresholds[0])
                    else:  # same outputs, a batch's worth less memory
                        net.pnet = PerFramePNet(net.pnet)
                self._nets[min_face] = net.eval()
            return self._nets[min_face]

    def start(self, width: int, height: int, scale: float | None = None) -> DetectionRun:
        """A `DetectionRun` for one video's ``width`` x ``height`` frames, fed one frame at a
        time (scale: default from `detection_scale`)."""
        if scale is None:
            scale = detection_scale(width, height, self.params)
        return DetectionRun(self, scale, batch_frames(width, height, scale, self.params))

    def detect(self, frames: np.ndarray | Sequence[np.ndarray], scale: float | None = None) -> list[FrameFaces]:
        """Detect every face in a (N, H, W, 3) RGB uint8 stack of one video's frames (or
        a sequence of N equal-size (H, W, 3) frames: no full-resolution stack needed).

        Args:
            scale: rescale factor; default from `detection_scale` for the frame size.
        """
        if len(frames) == 0:
            return []
        h, w = frames[0].shape[:2]
        run = self.start(w, h, scale)
        for frame in frames:
            run.add(frame)
        return run.finish()

    def _detect_batch(self, batch: np.ndarray, scale: float) -> list[FrameFaces]:
        """MTCNN on a (B, h, w, 3) stack of rescaled frames; boxes back in full-res px."""
        import torch

        min_face = detector_min_face(scale, self.params)
        if not holds_a_face(batch.shape[1], batch.shape[2], min_face):
            # smaller than the smallest face MTCNN looks for (a 8x8 or 2x2048 video): no
            # face, where facenet-pytorch would raise on its empty image pyramid
            return [FrameFaces.empty() for _ in range(len(batch))]
        mtcnn = self._mtcnn(min_face)
        with torch.inference_mode():
            boxes, probs, points = mtcnn.detect(batch, landmarks=True)
        out: list[FrameFaces] = []
        for b, p, lm in zip(boxes, probs, points, strict=True):
            if b is None or len(b) == 0:
                out.append(FrameFaces.empty())
                continue
            out.append(
                FrameFaces(
                    (np.asarray(b, np.float64) / scale).astype(np.float32),
                    np.asarray(p, np.float32),
                    (np.asarray(lm, np.float64) / scale).astype(np.float32),
                )
            )
        return out


class DetectionRun:
    """One video's detection, fed frame by frame as they are decoded.

    Each full-resolution frame is rescaled as it arrives (`rescale_frame`) and not kept:
    only the rescaled copies of the current batch (``batch`` frames, `batch_frames`) are
    held, and a batch is detected as soon as it is full. The batches are the same
    consecutive groups of frames as `FaceDetector.detect` on the whole list, so the
    faces are too.
    """

    def __init__(self, detector: FaceDetector, scale: float, batch: int):
        self.detector = detector
        self.scale = scale
        self._batch: list[np.ndarray] = []
        self._size = max(1, batch)
        self._faces: list[FrameFaces] = []

    def add(self, frame: np.ndarray) -> None:
        """Take the next (H, W, 3) RGB uint8 frame; may run a batch."""
        self._batch.append(rescale_frame(frame, self.scale))
        if len(self._batch) == self._size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch = np.stack(self._batch)
            self._batch = []
            self._faces.extend(self.detector._detect_batch(batch, self.scale))

    def finish(self) -> list[FrameFaces]:
        """Detect what is left; one `FrameFaces` per frame added, in order."""
        self._flush()
        return self._faces
