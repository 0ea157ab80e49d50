"""The rows the sample stage writes about each video: its ground-truth rows
(`dfmask.schemas.ground_truth.GROUND_TRUTH`) and, for an original with a codec pair, the
pair's re-encoding and manifest row (`dfmask.schemas.ground_truth.CODEC_PAIRS`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dfmask.corpus import codec_pairs_dir
from dfmask.corpus.animate import Rendered
from dfmask.corpus.plan import FakePlan, OriginalPlan
from dfmask.corpus.swap import landmark_box
from dfmask.video import encode_video


def encode_codec_pair(out: Path, plan: OriginalPlan, rendered: Rendered, fps: int) -> dict[str, Any]:
    """Encode an original's raw frames again at its codec pair's settings (the fixture
    under ``codec_pairs/``, outside the corpus); its `CODEC_PAIRS` manifest row."""
    assert plan.codec_pair is not None
    crf, preset = plan.codec_pair
    relative = f"{codec_pairs_dir(out).name}/{plan.video_id}.mp4"
    encode_video(rendered.frames, out / relative, fps, crf, preset)
    height, width = rendered.frames[0].shape[:2]
    return {
        "part": plan.part,
        "video_id": plan.video_id,
        "path": relative,
        "crf": crf,
        "preset": preset,
        "original_crf": plan.crf,
        "original_preset": plan.preset,
        "width": width,
        "height": height,
        "n_frames": len(rendered.frames),
    }


def video_rows(
    plan: OriginalPlan,
    fake: FakePlan | None,
    rendered: Rendered,
    masks: list[dict[str, Any]] | None,
    fps: int,
) -> list[dict[str, Any]]:
    """Ground-truth rows of one video (see `GROUND_TRUTH`)."""
    height, width = rendered.frames[0].shape[:2]
    n = len(rendered.frames)
    kind = fake.kind if fake else "none"
    base = {
        "method": fake.method if fake else "none",
        "crf": fake.crf if fake else plan.crf,
        "preset": fake.preset if fake else plan.preset,
        "encode_differs": fake.encode_differs if fake else False,
        "part": plan.part,
        "video_id": fake.video_id if fake else plan.video_id,
        "label": "FAKE" if fake else "REAL",
        "is_fake": fake is not None,
        "original_id": plan.video_id if fake else None,
        "swap_kind": kind,
        "width": width,
        "height": height,
        "fps": fps,
        "n_frames": n,
        "source": rendered.source,
    }
    rows = []
    for i in range(n):
        mask_cell = masks[i] if masks is not None else None
        faces = [(j, t, t.landmarks[i]) for j, t in enumerate(rendered.faces) if t.landmarks[i] is not None]
        if not faces:
            rows.append(
                {
                    **base,
                    "frame_idx": i,
                    "face_idx": None,
                    "actor_id": None,
                    "donor_actor_id": None,
                    "face_swap_kind": None,
                    "box": None,
                    "landmarks": None,
                    "mask": mask_cell,
                }
            )
            continue
        for j, track, points in faces:
            swapped = fake is not None and j == 0
            assert points is not None
            x0, y0, x1, y1 = landmark_box(points)
            box = [
                float(np.clip(x0, 0, width)),
                float(np.clip(y0, 0, height)),
                float(np.clip(x1, 0, width)),
                float(np.clip(y1, 0, height)),
            ]
            rows.append(
                {
                    **base,
                    "frame_idx": i,
                    "face_idx": j,
                    "actor_id": track.actor_id,
                    "donor_actor_id": fake.donor if swapped and fake and fake.kind != "failed" else None,
                    "face_swap_kind": kind if swapped else "none",
                    "box": box,
                    "landmarks": points.astype(np.float32).reshape(-1).tolist(),
                    "mask": mask_cell,
                }
            )
    return rows
