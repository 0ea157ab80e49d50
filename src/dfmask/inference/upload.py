"""A multipart upload streamed to a temp file, its size limit enforced as bytes arrive.

Starlette's own form parser spools a whole file part before the handler sees it, so
an oversized upload would already be on disk; here the request body is fed chunk by
chunk to python-multipart's streaming parser and the write stops (with `UploadError`
413) the moment the file part passes ``max_bytes``, or the whole body (every part, with
or without a Content-Length) passes it by more than `ENVELOPE_BYTES`. Memory per
upload is one network chunk (~64 KiB) plus the parser's buffer, whatever the file's
size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

#: The multipart field that carries the video.
FIELD = "file"
#: What a body may hold beyond ``max_bytes`` of video: the multipart envelope (boundaries,
#: part headers, a small extra field). The whole body is counted against it as it arrives,
#: with or without a Content-Length.
ENVELOPE_BYTES = 64 * 1024


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


class UploadError(Exception):
    """A bad upload: HTTP status, a short code and a one-line message for the client."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Upload:
    """The received file: where it was written, its client-side name and size in bytes."""

    path: Path
    filename: str
    size: int


class _Parts:
    """python-multipart callbacks that write the ``file`` field to ``path``."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.out: IO[bytes] | None = None
        self.fields: list[str] = []
        self.filename = ""
        self.size = 0
        self.found = False

    def on_part_begin(self) -> None:
        self.headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self.fields.append(name)
        if name == FIELD and not self.found:
            self.found = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self.out = open(self.path, "wb")  # noqa: SIM115  (closed in on_part_end / close)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.out is None:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            raise UploadError(413, "too_large", f"the file is over the upload limit of {self.max_bytes} bytes")
        self.out.write(data[start:end])

    def on_part_end(self) -> None:
        self.close()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def receive_upload(
    content_type: str, content_length: str | None, body: AsyncIterator[bytes], path: Path, max_bytes: int
) -> Upload:
    """Stream the request ``body`` into ``path``; `UploadError` for every bad request."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise UploadError(400, "bad_request", "Content-Length is not a number") from None
        if declared == 0:
            raise UploadError(400, "empty_body", "the request body is empty: send the video as multipart field 'file'")
        if declared > max_bytes + ENVELOPE_BYTES:
            raise UploadError(413, "too_large", f"the upload is over the limit of {max_bytes} bytes")
    chunks = body.__aiter__()
    first = b""
    async for chunk in chunks:  # the first non-empty chunk: an empty body is told apart
        if chunk:
            first = chunk
            break
    if not first:
        raise UploadError(400, "empty_body", "the request body is empty: send the video as multipart field 'file'")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadError(415, "not_multipart", "send the video as multipart/form-data with a field named 'file'")
    parts = _Parts(path, max_bytes)
    callbacks = {
        name: getattr(parts, name)
        for name in (
            "on_part_begin",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
            "on_part_data",
            "on_part_end",
        )
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    limit = max_bytes + ENVELOPE_BYTES
    received = 0
    try:
        async for chunk in _prepend(first, chunks):
            received += len(chunk)
            if received > limit:  # other parts, a second 'file' part, an epilogue: the body counts
                raise UploadError(413, "too_large", f"the upload is over the limit of {max_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except OSError as err:  # writing the file failed (a full disk): the server's trouble, not the body's
        raise UploadError(503, "no_temp_space", f"the server cannot store the upload: {err.strerror or err}") from None
    except Exception as err:  # noqa: BLE001  (python-multipart raises several types on a malformed body)
        raise UploadError(400, "bad_multipart", f"malformed multipart body: {err}") from None
    finally:
        parts.close()
    if not parts.found:
        got = ", ".join(repr(f) for f in parts.fields) or "none"
        raise UploadError(422, "missing_field", f"no multipart field named 'file' (got fields: {got})")
    if parts.size == 0:
        raise UploadError(400, "empty_file", "the uploaded file is empty (0 bytes)")
    return Upload(path, parts.filename, parts.size)
