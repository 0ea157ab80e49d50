"""A video that fails to decode is named in its status detail by its corpus-relative
path, never by where ``corpus.root`` lies (DESIGN: no absolute paths in outputs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dfmask.faces.extract import VideoFaces, VideoStatus, process_fake, process_original
from dfmask.params import FacesParams
from dfmask.schemas.faces import FACES

PARAMS = FacesParams(device="cpu", frames=4)
REL = "dfdc_train_part_0/broken.mp4"


def _row(video_id: str, is_fake: bool) -> dict[str, Any]:
    return {
        "part": 0,
        "video_id": video_id,
        "original_id": "orig" if is_fake else None,
        "is_fake": is_fake,
        "status": "ok",  # the probe passed; the decode of the sampled frames fails
        "frames": 30,
        "path": REL,
        "width": 64,
        "height": 48,
        "rotation": 0,
    }


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "some" / "where" / "corpus"
    (root / REL).parent.mkdir(parents=True)
    (root / REL).write_bytes(np.random.default_rng(0).bytes(4000))
    return root


def _ok_original() -> VideoFaces:
    """An original with one crop row at frame 0, as the faces stage stores it."""
    row = {
        "part": 0,
        "video_id": "orig",
        "original_id": None,
        "is_fake": False,
        "frame_idx": 0,
        "track_id": 0,
        "box": [10.0, 10.0, 30.0, 30.0],
        "crop_box": [5.0, 5.0, 35.0, 35.0],
        "landmarks": [15.0] * 10,
        "prob": 0.99,
        "crop": {"bytes": b"", "path": "orig/00000_0.png"},
    }
    rows = pa.Table.from_pylist([row], schema=FACES.schema)
    return VideoFaces(rows, VideoStatus(0, "orig", None, False, "ok", crops=1))


def _assert_relative(detail: str | None, root: Path) -> None:
    assert detail is not None and REL in detail, detail
    assert str(root.parent) not in detail, detail


def test_original_that_fails_to_decode_names_its_relative_path(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    result = process_original(_row("broken", False), root, None, PARAMS)  # type: ignore[arg-type]  # never detects
    assert result.status.status == "decode_failed"
    _assert_relative(result.status.detail, root)


def test_fake_that_fails_to_decode_names_its_relative_path(tmp_path: Path) -> None:
    root = _corpus(tmp_path)
    orig_row = dataclasses.asdict(_ok_original().status) | {"path": "dfdc_train_part_0/orig.mp4", "status": "ok"}
    orig_row |= {"frames": 30, "width": 64, "height": 48, "rotation": 0}
    result = process_fake(_row("broken", True), orig_row, _ok_original(), root, PARAMS)
    assert result.status.status == "decode_failed"
    _assert_relative(result.status.detail, root)
