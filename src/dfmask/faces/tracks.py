"""Face tracks: link per-frame detections by IoU, fill short gaps, smooth the boxes.

Works on the *sampled* frames of one original (about 10 decoded frames apart at 32
samples of a 300-frame clip), so gaps and windows count sampled frames, not decoded
ones. Every detection ends up in exactly one track: nothing is dropped, a lone
detection is a one-frame track.

Track ids are deterministic and meaningful: tracks are ordered by how many sampled
frames they cover (most first), then by mean box area (largest first), then by the
first frame and x position, so track 0 is the video's main face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfmask.faces.detect import FrameFaces


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), x0 y0 x1 y1."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class _Track:
    # sampled-frame position -> (detection index in that frame)
    hits: dict[int, int] = field(default_factory=dict)
    last_pos: int = -1
    last_box: np.ndarray = field(default_factory=lambda: np.zeros(4))


@dataclass(frozen=True)
class TrackedFaces:
    """One row per (sampled frame, track): the output of `track_faces`.

    Attributes:
        pos: (R,) int sampled-frame position (index into the sampled frame list).
        track_id: (R,) int.
        box: (R, 4) float32 smoothed box, full-res px.
        raw_box: (R, 4) float32 detector box (interpolated where not detected).
        landmarks: (R, 5, 2) float32 (interpolated where not detected).
        prob: (R,) float32 detector confidence, NaN where the box was interpolated.
    """

    pos: np.ndarray
    track_id: np.ndarray
    box: np.ndarray
    raw_box: np.ndarray
    landmarks: np.ndarray
    prob: np.ndarray

    def __len__(self) -> int:
        return len(self.pos)


def link_tracks(faces: list[FrameFaces], min_iou: float, max_gap: int) -> list[dict[int, int]]:
    """Greedy IoU linking: returns per track a map sampled position → detection index.

    In each frame, (track, detection) pairs are matched best-IoU first; a track is a
    candidate while it has missed at most ``max_gap`` sampled frames. Unmatched
    detections start new tracks.
    """
    tracks: list[_Track] = []
    for pos, frame in enumerate(faces):
        if len(frame) == 0:
            continue
        live = [t for t in tracks if pos - t.last_pos - 1 <= max_gap]
        matched_dets: set[int] = set()
        if live:
            ious = iou_matrix(np.stack([t.last_box for t in live]), frame.boxes)
            order = np.argsort(-ious, axis=None, kind="stable")
            used_tracks: set[int] = set()
            for flat in order:
                ti, di = divmod(int(flat), ious.shape[1])
                if ious[ti, di] < min_iou:
                    break
                if ti in used_tracks or di in matched_dets:
                    continue
                used_tracks.add(ti)
                matched_dets.add(di)
                live[ti].hits[pos] = di
                live[ti].last_pos = pos
                live[ti].last_box = frame.boxes[di].astype(np.float64)
        for di in range(len(frame)):
            if di not in matched_dets:
                tracks.append(_Track({pos: di}, pos, frame.boxes[di].astype(np.float64)))
    return [t.hits for t in tracks]


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of a (T, 4) box sequence over ``window`` rows.

    The window shrinks symmetrically at the ends, so the first and last boxes are
    never averaged with one side only (which would drag them inward).
    """
    boxes = np.asarray(boxes, np.float64)
    half = max(0, (window - 1) // 2)
    if half == 0 or len(boxes) < 3:
        return boxes.copy()
    out = np.empty_like(boxes)
    n = len(boxes)
    for i in range(n):
        h = min(half, i, n - 1 - i)
        out[i] = boxes[i - h : i + h + 1].mean(axis=0)
    return out


def track_faces(
    faces: list[FrameFaces], min_iou: float = 0.3, max_gap: int = 4, smooth_window: int = 3
) -> TrackedFaces:
    """Tracks over one video's sampled frames; gaps inside a track are interpolated.

    A track covers every sampled position from its first to its last detection: the
    positions it missed get a linearly interpolated box and landmarks and a NaN prob,
    so a detector miss in the middle of a shot still yields an (aligned) crop.
    """
    hits_per_track = link_tracks(faces, min_iou, max_gap)
    built = []
    for hits in hits_per_track:
        positions = np.array(sorted(hits))
        det_boxes = np.stack([faces[p].boxes[hits[p]] for p in positions]).astype(np.float64)
        det_lms = np.stack([faces[p].landmarks[hits[p]] for p in positions]).astype(np.float64)
        det_probs = np.array([faces[p].probs[hits[p]] for p in positions], np.float64)
        span = np.arange(positions[0], positions[-1] + 1)
        raw = np.stack([np.interp(span, positions, det_boxes[:, k]) for k in range(4)], axis=1)
        lm_flat = det_lms.reshape(len(positions), 10)
        lms = np.stack([np.interp(span, positions, lm_flat[:, k]) for k in range(10)], axis=1)
        prob = np.full(len(span), np.nan)
        prob[np.searchsorted(span, positions)] = det_probs
        area = float(np.mean((det_boxes[:, 2] - det_boxes[:, 0]) * (det_boxes[:, 3] - det_boxes[:, 1])))
        sort_key = (-len(positions), -area, int(positions[0]), float(det_boxes[0, 0]))
        built.append((sort_key, span, raw, lms.reshape(-1, 5, 2), prob))
    built.sort(key=lambda b: b[0])
    rows_pos, rows_tid, rows_box, rows_raw, rows_lm, rows_prob = [], [], [], [], [], []
    for tid, (_, span, raw, lms, prob) in enumerate(built):
        rows_pos.append(span)
        rows_tid.append(np.full(len(span), tid))
        rows_box.append(smooth_boxes(raw, smooth_window))
        rows_raw.append(raw)
        rows_lm.append(lms)
        rows_prob.append(prob)
    if not built:
        return TrackedFaces(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros((0, 4), np.float32),
            np.zeros((0, 4), np.float32),
            np.zeros((0, 5, 2), np.float32),
            np.zeros(0, np.float32),
        )
    all_pos = np.concatenate(rows_pos).astype(np.int64)
    all_tid = np.concatenate(rows_tid).astype(np.int64)
    order = np.lexsort((all_tid, all_pos))
    return TrackedFaces(
        all_pos[order],
        all_tid[order],
        np.concatenate(rows_box)[order].astype(np.float32),
        np.concatenate(rows_raw)[order].astype(np.float32),
        np.concatenate(rows_lm)[order].astype(np.float32),
        np.concatenate(rows_prob)[order].astype(np.float32),
    )
