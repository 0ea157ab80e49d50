"""evaluate's true masks from a corpus's own mask videos (FaceForensics++'s masks/videos/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfmask.model.segeval import CorpusTruthMasks
from dfmask.video import encode_video

W, H = 64, 48


def _mask_video(path: Path, frames: int = 4) -> None:
    """White rectangle (x 16-40, y 8-32) on black, moving 2 px right per frame."""
    out = []
    for f in range(frames):
        img = np.zeros((H, W, 3), np.uint8)
        img[8:32, 16 + 2 * f : 40 + 2 * f] = 255
        out.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_video(out, path, fps=10, crf=0)


def test_masks_come_from_the_needed_frames_and_failures_are_counted_by_reason(tmp_path: Path) -> None:
    _mask_video(tmp_path / "masks/a.mp4")
    _mask_video(tmp_path / "masks/b.mp4")
    rows = [
        {"video_id": "a", "mask_path": "masks/a.mp4", "width": W, "height": H, "rotation": 0, "declared_frames": 4},
        # its header says 5 frames, the mask video's 4: frame i of one is not frame i of the other
        {"video_id": "e", "mask_path": "masks/a.mp4", "width": W, "height": H, "rotation": 0, "declared_frames": 5},
        # a copy of "a" at another quality (FF++ c23 / c40): the same mask video
        {"video_id": "a40", "mask_path": "masks/a.mp4", "width": W, "height": H, "rotation": 0},
        # coded portrait, displayed turned by 90: the mask (W x H as displayed) fits
        {"video_id": "r", "mask_path": "masks/a.mp4", "width": H, "height": W, "rotation": 90},
        # coded W x H, displayed turned: the mask does not fit the displayed frame
        {"video_id": "t", "mask_path": "masks/a.mp4", "width": W, "height": H, "rotation": 270},
        {"video_id": "b", "mask_path": "masks/b.mp4", "width": W * 2, "height": H, "rotation": 0},
        {"video_id": "c", "mask_path": "masks/missing.mp4", "width": W, "height": H, "rotation": 0},
        {"video_id": "d", "mask_path": None, "width": W, "height": H, "rotation": 0},  # a real
    ]
    needed = {"a": {0, 2, 9}, "a40": {1}, "r": {3}, "t": {0}, "b": {1}, "c": {0, 1}, "d": {0}, "e": {0, 1}}
    truth = CorpusTruthMasks(tmp_path, rows, needed)
    assert truth.has("a", 0) and truth.has("a", 2) and not truth.has("a", 9)
    assert truth.has("a40", 1) and truth.has("r", 3) and not truth.has("t", 0) and not truth.has("b", 1)
    assert truth.skipped == {
        "mask_frames_missing": 1,
        "mask_size_mismatch": 2,
        "mask_unreadable": 2,
        "mask_length_mismatch": 2,
    }
    assert truth.skipped_examples["mask_length_mismatch"] == "masks/a.mp4: 4 frames, its fake 5"
    assert not truth.has("e", 0)
    assert truth.skipped_examples["mask_unreadable"].startswith("masks/missing.mp4")
    assert truth.swap_kind == {"a": "full", "a40": "full", "r": "full"}  # scored videos only
    report = truth.report()
    assert report["videos"] == 3 and report["frames"] == 4
    # the whole frame as the crop window, at full size: the rectangle of frame 2 (x 20-44)
    full = truth.crop_mask("a", 2, np.array([0, 0, W, W]), W)
    assert full.shape == (W, W)
    rect = np.zeros((W, W), bool)
    rect[8:32, 20:44] = True
    assert (full.astype(bool) == rect).mean() > 0.98


def test_keeping_only_the_crop_windows_gives_the_same_crop_masks(tmp_path: Path) -> None:
    """With ``windows`` only the part of each frame's mask the crops see is stored
    (memory at FaceForensics++ scale); every crop mask is the same, windows that reach
    past the frame and half-pixel boxes included, and what is stored is smaller."""
    from dfmask.model.segeval import _kept

    _mask_video(tmp_path / "masks/a.mp4")
    rows = [{"video_id": "a", "mask_path": "masks/a.mp4", "width": W, "height": H, "rotation": 0}]
    needed = {"a": {0, 1, 2, 3}}
    boxes = {
        0: [np.array([10.5, 4.5, 42.5, 36.5]), np.array([30.2, 20.7, 50.2, 40.7])],  # two tracks: the union is kept
        1: [np.array([-8.0, -6.0, 24.0, 26.0])],  # past the top-left corner
        2: [np.array([48.0, 30.0, 80.0, 62.0])],  # past the bottom-right corner
        3: [np.array([70.0, 50.0, 90.0, 70.0])],  # wholly outside the frame
    }
    windows: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    for f, bs in boxes.items():
        ws = [tuple(int(v) for v in np.rint(b)) for b in bs]
        windows[("a", f)] = (min(w[0] for w in ws), min(w[1] for w in ws), max(w[2] for w in ws), max(w[3] for w in ws))
    whole = CorpusTruthMasks(tmp_path, rows, needed)
    kept = CorpusTruthMasks(tmp_path, rows, needed, windows)
    for f, bs in boxes.items():
        for b in bs:
            for size in (16, 32, 48):
                assert np.array_equal(whole.crop_mask("a", f, b, size), kept.crop_mask("a", f, b, size)), (f, b, size)
    assert any(whole.crop_mask("a", 0, b, 32).any() for b in boxes[0])  # the check compares real masks
    assert sum(len(c[0]) for c in kept.cells.values()) < sum(len(c[0]) for c in whole.cells.values())
    part, x0, y0 = _kept(np.ones((H, W), bool), (-5, -5, 10, 12))
    assert part.shape == (12, 10) and (x0, y0) == (0, 0)
