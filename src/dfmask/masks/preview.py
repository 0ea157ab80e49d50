"""The masks preview: real | fake | 1 − SSIM | our mask | true mask, a few crops per case.

``reports/masks_preview.png`` (`dfmask.masks.quality`): a header row names the columns;
each row is captioned with its case, method, CRF, crop and valid flag; rows of failed /
no-change fakes read ``FAILED / NO CHANGE`` in red.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dfmask.masks import scoring
from dfmask.masks.compute import pair_ssim
from dfmask.masks.ssim import diff8
from dfmask.masks.truth import QualityItem
from dfmask.params import MasksParams
from dfmask.tables import decode_png

#: Preview columns, left to right.
PREVIEW_COLUMNS = ("real", "fake", "1 - SSIM", "our mask", "true mask")
#: Preview header height and the caption strip at the top of each row, px.
HEADER_PX = 16
CAPTION_PX = 14


def _text(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)


def write_preview(items: Sequence[QualityItem], params: MasksParams, path: Path, per_kind: int = 2) -> Path:
    """A header row naming the columns (`PREVIEW_COLUMNS`), then ``per_kind`` crops of
    each case (`scoring.CASES`), each captioned with case, method, CRF and crop; rows of
    failed / no-change fakes are captioned ``FAILED / NO CHANGE`` in red."""
    chosen: list[QualityItem] = []
    for case in scoring.CASES:
        of_case = [it for it in items if it.case == case]
        step = max(1, len(of_case) // per_kind)
        chosen += of_case[::step][:per_kind]
    rows = []
    for it in chosen:
        real, fake = decode_png(it.real_png), decode_png(it.fake_png)
        diff = diff8(pair_ssim(real, fake, params).ssim)  # the stage's
        grey = [np.repeat(g[:, :, None], 3, axis=2) for g in (diff, it.mask * 255, it.truth * 255)]
        row = np.hstack([real, fake, *grey]).astype(np.uint8)
        row[:CAPTION_PX] //= 3  # a dark strip keeps the caption readable
        failed = it.case == "failed_or_no_change"
        label = "FAILED / NO CHANGE" if failed else it.case
        crf = "?" if it.crf is None else str(it.crf)
        colour = (255, 80, 80) if failed else (255, 255, 0)
        caption = f"{label} | {it.method} crf {crf} | {it.video_id}:{it.frame_idx} valid={int(it.valid)}"
        _text(row, caption, 3, 10, colour)
        rows.append(row)
    side = rows[0].shape[1] // len(PREVIEW_COLUMNS) if rows else 64
    header = np.zeros((HEADER_PX, side * len(PREVIEW_COLUMNS), 3), np.uint8)
    for k, name in enumerate(PREVIEW_COLUMNS):
        _text(header, name, k * side + 3, HEADER_PX - 4, (255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([header, *rows])[:, :, ::-1])
    return path
