"""PNG cells for the release: header-only sizes, zero masks, zero-copy IMAGE arrays.

The release never decodes a crop: it reads the width and height from each PNG's IHDR
chunk (bytes 16..24), so a part with gigabytes of crops costs 24 bytes of Python per row.
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask import tables
from dfmask.errors import DfmaskError


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk, without decoding the pixels."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise DfmaskError("an image cell is not a PNG (no IHDR header); re-run the stage that wrote it")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


_PNG_SIG = np.frombuffer(b"\x89PNG\r\n\x1a\n", np.uint8)
_IHDR = np.frombuffer(b"IHDR", np.uint8)


def png_sizes(data: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised `png_size` over a binary array: (width, height, is_png); nulls → (0, 0, False)."""
    heads = pc.binary_slice(data, 0, 24).to_pylist()
    flat = b"".join(h if h is not None and len(h) == 24 else bytes(24) for h in heads)
    raw = np.frombuffer(flat, np.uint8).reshape(-1, 24)
    ok = (raw[:, :8] == _PNG_SIG).all(axis=1) & (raw[:, 12:16] == _IHDR).all(axis=1)
    width = raw[:, 16:20].copy().view(">u4").ravel().astype(np.int64)
    height = raw[:, 20:24].copy().view(">u4").ravel().astype(np.int64)
    return np.where(ok, width, 0), np.where(ok, height, 0), ok


def image_array(png: pa.Array) -> pa.StructArray:
    """An `IMAGE` column from PNG bytes (zero-copy), with null ``path`` and null where no bytes."""
    png = png.cast(pa.binary())
    return pa.StructArray.from_arrays(
        [png, pa.nulls(len(png), pa.string())], fields=list(tables.IMAGE), mask=png.is_null()
    )


class ZeroMasks:
    """All-zero grey PNGs, one encoding per crop size (deterministic, cached)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int], bytes] = {}

    def __call__(self, width: int, height: int) -> bytes:
        if (width, height) not in self._cache:
            self._cache[(width, height)] = tables.encode_png(np.zeros((height, width), np.uint8))
        return self._cache[(width, height)]
