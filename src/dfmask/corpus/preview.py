"""The sample's contact sheet ``reports/sample_preview.png``, to check swaps by eye.

One row per chosen fake: original frame | fake frame | true mask | original face (zoom)
| fake face (zoom), with a label naming the video, its method, CRFs and who went where.
Written with fixed PNG settings (deterministic bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dfmask.corpus.animate import Rendered
from dfmask.corpus.catalogue import group_of
from dfmask.corpus.plan import FakePlan, OriginalPlan
from dfmask.corpus.swap import landmark_box
from dfmask.tables import encode_png

TILE_H = 180  # px height of each tile
LABEL_H = 22  # px height of a row's label strip
#: Rows per method (from distinct donor groups), and two-face composites.
PER_METHOD = {"classical": 2, "autoencoder": 2, "mouth": 2, "hard_paste": 1, "feather": 1}
MAX_COMPOSITE = 1


@dataclass
class Shot:
    """The frames of one fake shown on the sheet."""

    label: str
    original: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    box: tuple[float, float, float, float] | None


def pick(plans: list[OriginalPlan]) -> set[str]:
    """Fakes to show, in plan order: `PER_METHOD` of each swapping method from distinct
    donor groups (so the sheet spans photos and real clips), and one two-face composite."""
    chosen: set[str] = set()
    seen: dict[str, set[tuple[str, ...]]] = {m: set() for m in PER_METHOD}
    n_comp = 0
    for plan in plans:
        group = group_of(plan.actors[0])
        for fake in plan.fakes:
            if fake.method not in PER_METHOD:
                continue
            if len(plan.actors) > 1:
                if n_comp < MAX_COMPOSITE:
                    chosen.add(fake.video_id)
                    n_comp += 1
            elif group not in seen[fake.method] and len(seen[fake.method]) < PER_METHOD[fake.method]:
                chosen.add(fake.video_id)
                seen[fake.method].add(group)
    return chosen


def shot_index(rendered: Rendered) -> int:
    """The frame shown for a fake of ``rendered``: the middle one among the frames
    where the swapped face (face 0) is present (the middle frame if none is)."""
    present = [i for i, p in enumerate(rendered.faces[0].landmarks) if p is not None]
    present = present or list(range(len(rendered.frames)))
    return present[len(present) // 2]


def shot(plan: OriginalPlan, fake: FakePlan, rendered: Rendered, frame: np.ndarray, mask: np.ndarray) -> Shot:
    """Frame `shot_index` of a fake (``frame``, ``mask``) next to its original, labelled."""
    i = shot_index(rendered)
    points = rendered.faces[0].landmarks[i]
    crf = f"crf {plan.crf}" + (f"->{fake.crf}" if fake.crf != plan.crf else "")
    label = f"{fake.video_id} ({fake.method}, {crf}, frame {i}): {fake.donor} -> {plan.actors[0]}" + (
        f" [+{plan.actors[1]} untouched]" if len(plan.actors) > 1 else ""
    )
    box = landmark_box(points) if points is not None else None
    return Shot(label, rendered.frames[i], frame, mask, box)


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


def _zoom(image: np.ndarray, box: tuple[float, float, float, float] | None) -> np.ndarray:
    if box is None:
        return np.zeros((TILE_H, TILE_H, 3), np.uint8)
    x0, y0, x1, y1 = box
    side = 1.5 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = image.shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    return _fit(image[b:d, a:c], TILE_H)


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.45) -> None:
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(path: str | Path, shots: list[Shot]) -> Path:
    """Write the contact sheet of ``shots`` to ``path`` (PNG)."""
    if not shots:
        return placeholder(path, "sample generated, but no fake to preview")
    rows = []
    for s in shots:
        mask_rgb = np.repeat(s.mask[:, :, None], 3, axis=2)
        tiles = [
            _fit(s.original, TILE_H),
            _fit(s.fake, TILE_H),
            _fit(mask_rgb, TILE_H),
            _zoom(s.original, s.box),
            _zoom(s.fake, s.box),
        ]
        gap = np.full((TILE_H, 4, 3), 40, np.uint8)
        body = np.hstack([t for tile in tiles for t in (tile, gap)][:-1])
        strip = np.zeros((LABEL_H, body.shape[1], 3), np.uint8)
        _text(strip, s.label, 4, 16)
        rows.append(np.vstack([strip, body]))
    width = max(r.shape[1] for r in rows)
    header = np.zeros((LABEL_H + 4, width, 3), np.uint8)
    _text(header, "original | fake | true mask (white = manipulated) | original face | fake face", 4, 18, 0.5)
    padded = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    sheet = np.vstack([header, *padded])
    return _write(path, sheet)


def placeholder(path: str | Path, message: str) -> Path:
    """An honest placeholder image carrying ``message``."""
    canvas = np.full((120, max(480, 9 * len(message) + 20), 3), 30, np.uint8)
    _text(canvas, message, 10, 65, 0.5)
    return _write(path, canvas)


def _write(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(image))
    return path
