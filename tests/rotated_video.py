"""Test clips with a display rotation (a phone clip coded sideways, tagged to be turned).

PyAV 18 (the locked version) writes the display matrix with `VideoStream.set_display_rotation`, whose
angle is counter-clockwise, as `dfmask.video.probe` reads it back. The sample generator
never writes one; only tests need such clips.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def encode_rotated(upright: Iterable[np.ndarray], path: Path, rotation: int, fps: int = 10) -> Path:
    """Write RGB frames so that a player applying the display rotation shows ``upright``.

    The frames are coded turned by ``-rotation`` (``np.rot90``, counter-clockwise) and the
    stream's display matrix says ``rotation`` degrees counter-clockwise, so the coded
    picture of a 90° clip is sideways, as a phone records it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "medium", "threads": "1"}
        first = True
        for image in upright:
            coded = np.ascontiguousarray(np.rot90(image, -(rotation // 90)))
            if first:
                stream.width, stream.height = coded.shape[1], coded.shape[0]
                stream.set_display_rotation(rotation)
                first = False
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
