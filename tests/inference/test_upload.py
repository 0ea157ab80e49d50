"""`receive_upload`: the size limit holds for the whole body, with or without a Content-Length."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dfmask.inference.upload import ENVELOPE_BYTES, UploadError, receive_upload

BOUNDARY = "XyZ"
TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK = 8192


def _part(name: str, filename: str | None = None) -> bytes:
    extra = f'; filename="{filename}"' if filename else ""
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode()


class Body:
    """An async request body of parts, counting the chunks the receiver pulled."""

    def __init__(self, *parts: tuple[bytes, int]) -> None:
        self.parts = parts  # (part head, chunks of CHUNK zero bytes)
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for head, n in self.parts:
            self.pulled += 1
            yield head
            for _ in range(n):
                self.pulled += 1
                yield bytes(CHUNK)
            yield b"\r\n"
        yield f"--{BOUNDARY}--\r\n".encode()

    @property
    def total(self) -> int:
        return sum(n + 1 for _, n in self.parts)


def _receive(body: Body, tmp_path: Path, max_bytes: int) -> object:
    return asyncio.run(receive_upload(TYPE, None, body.__aiter__(), tmp_path / "upload.bin", max_bytes))


def test_a_small_file_is_received(tmp_path: Path) -> None:
    up = _receive(Body((_part("file", "v.mp4"), 3)), tmp_path, 60_000)
    assert (up.filename, up.size) == ("v.mp4", 3 * CHUNK)  # type: ignore[attr-defined]
    assert (tmp_path / "upload.bin").stat().st_size == 3 * CHUNK


@pytest.mark.parametrize(
    "parts",
    [
        [(_part("file", "v.mp4"), 50)],  # the file part itself
        [(_part("pad"), 50), (_part("file", "v.mp4"), 1)],  # a large field before the file
        [(_part("file", "v.mp4"), 1), (_part("file", "w.mp4"), 50)],  # a second 'file' part
    ],
    ids=["file", "other_field", "second_file"],
)
def test_the_limit_holds_for_every_part_without_content_length(tmp_path: Path, parts: list[tuple[bytes, int]]) -> None:
    body = Body(*parts)
    max_bytes = 60_000
    with pytest.raises(UploadError) as err:
        _receive(body, tmp_path, max_bytes)
    assert (err.value.status, err.value.code) == (413, "too_large")
    # stopped as the limit passed, not after reading the whole body
    assert body.pulled <= (max_bytes + ENVELOPE_BYTES) // CHUNK + 4 < body.total


def test_a_full_disk_is_the_servers_trouble_not_a_malformed_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dfmask.inference.upload as upload

    class Full:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        def close(self) -> None:
            pass

    monkeypatch.setattr(upload, "open", lambda *a, **k: Full(), raising=False)
    with pytest.raises(UploadError) as err:
        _receive(Body((_part("file", "v.mp4"), 2)), tmp_path, 60_000)
    assert (err.value.status, err.value.code) == (503, "no_temp_space")
    assert "No space left on device" in err.value.message
