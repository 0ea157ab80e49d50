"""Pair each fake crop of a part with its original's crop at the same frame and track.

The faces stage cuts a fake with its original's boxes, so a fake crop and the original's
crop of the same ``(frame_idx, track_id)`` are pixel-aligned: the pair the SSIM compares.
A fake crop without such a partner is counted by status, never dropped unseen.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

#: Faces columns the masks stage reads (`dfmask.schemas.faces.FACES`).
FACES_COLUMNS = ("part", "video_id", "original_id", "is_fake", "frame_idx", "track_id", "crop")


@dataclass(frozen=True)
class FakeVideoJob:
    """The paired crops of one fake video: (frame_idx, track_id, real PNG, fake PNG)."""

    part: int
    video_id: str
    original_id: str
    pairs: tuple[tuple[int, int, bytes, bytes], ...]


def pair_crops(faces: pa.Table, part: int) -> tuple[list[FakeVideoJob], Counter[str]]:
    """Group fake crops by video and pair each with its original's crop.

    ``faces`` has the `FACES_COLUMNS` of one part. Returns the jobs (sorted by fake
    video id, pairs by frame and track) and the counts of unpaired fake crops by status
    (``unpaired_original_missing``, ``unpaired_no_original_crop``).
    """
    cols = {c: faces.column(c).to_pylist() for c in FACES_COLUMNS if c != "crop"}
    crops = faces.column("crop").to_pylist()
    real: dict[tuple[str, int, int], bytes] = {}
    originals_with_crops: set[str] = set()
    fakes: dict[str, list[int]] = {}
    for i, is_fake in enumerate(cols["is_fake"]):
        if is_fake:
            fakes.setdefault(cols["video_id"][i], []).append(i)
        else:
            key = (cols["video_id"][i], int(cols["frame_idx"][i]), int(cols["track_id"][i]))
            real[key] = crops[i]["bytes"]
            originals_with_crops.add(cols["video_id"][i])
    jobs: list[FakeVideoJob] = []
    unpaired: Counter[str] = Counter()
    for video_id in sorted(fakes):
        rows = sorted(fakes[video_id], key=lambda i: (cols["frame_idx"][i], cols["track_id"][i]))
        original_id = cols["original_id"][rows[0]]
        if original_id is None or original_id not in originals_with_crops:
            unpaired["unpaired_original_missing"] += len(rows)
            continue
        pairs = []
        for i in rows:
            frame_idx, track_id = int(cols["frame_idx"][i]), int(cols["track_id"][i])
            real_png = real.get((original_id, frame_idx, track_id))
            if real_png is None:
                unpaired["unpaired_no_original_crop"] += 1
                continue
            pairs.append((frame_idx, track_id, real_png, crops[i]["bytes"]))
        if pairs:
            jobs.append(FakeVideoJob(part, video_id, original_id, tuple(pairs)))
    return jobs, unpaired
