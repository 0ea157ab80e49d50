"""``dfmask serve``: the `Detector` behind a small FastAPI app, plus an upload page.

Routes: ``POST /v1/predict`` (multipart field ``file``; ``?overlay=true`` adds a PNG
contact sheet of the mask overlays, base64), ``GET /v1/health``, ``GET /v1/models``,
``GET /docs`` (OpenAPI), and ``GET /`` (the upload page ``page/index.html``; its
script ``page/app.js`` and style ``page/app.css`` are served from here, no CDN).

Admission: at most ``workers`` videos are scored at once and ``queue`` more wait; a
request beyond that gets 429 with ``Retry-After`` before its body is read. An upload
that takes longer than ``upload_timeout_s`` gets 408, so slow clients cannot hold the
slots. A slot is
freed when its scoring thread ends, not when the client gives up, so a timed-out request
(504) still holds its slot until the work stops: load never exceeds the bound. Every
upload lives in its own temp folder, removed when the request and its work are done,
whatever happened. Memory per request: one ~64 KiB network chunk while uploading, then
the faces stage's decode bound (`dfmask.faces.extract.KEEP_FRAMES_BYTES`, 256 MiB of
frames at most, ~0.2 GB at 1080p) plus one batch of crops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from dfmask.inference.detector import Detector, sniff_status
from dfmask.inference.upload import UploadError, receive_upload

PAGE = Path(__file__).with_name("page")
#: The upload's file name inside its temp folder (never shown to the client: `_client_text`).
UPLOAD_NAME = "upload.bin"


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts (see ``dfmask serve --help``).

    Attributes:
        max_bytes: largest upload, bytes (enforced while it streams).
        max_pixels: largest frame, width x height in px.
        max_duration_s: longest video, seconds.
        workers: videos scored at once (threads).
        queue: requests waiting beyond ``workers`` before 429.
        timeout_s: seconds scoring may take before 504.
        upload_timeout_s: seconds the upload may take before 408 (a slow or stalled
            client cannot hold a slot longer).
        tmp_dir: parent of the per-request temp folders (None: the system's).
    """

    max_bytes: int = 200 * 2**20
    max_pixels: int = 3840 * 2160
    max_duration_s: float = 600.0
    workers: int = 1
    queue: int = 8
    timeout_s: float = 300.0
    upload_timeout_s: float = 300.0
    tmp_dir: str | None = None

    def __post_init__(self) -> None:
        from dfmask.errors import DfmaskError

        for name in ("max_bytes", "max_pixels", "workers"):
            if getattr(self, name) < 1:
                raise DfmaskError(f"serve: {name} must be >= 1, got {getattr(self, name)}")
        if self.queue < 0 or self.timeout_s <= 0 or self.upload_timeout_s <= 0 or self.max_duration_s <= 0:
            raise DfmaskError("serve: queue must be >= 0, the timeouts and max duration > 0")


class Admission:
    """A counter of requests in flight (scoring or waiting), capped at workers + queue."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.in_flight >= self.capacity:
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status, headers=headers)


def _client_text(text: str, path: Path, filename: str) -> str:
    """``text`` with the temp file's path and name replaced by the client's file name."""
    return text.replace(str(path), filename or "the upload").replace(path.name, filename or "the upload")


def _check_declared_size(path: Path, limits: ServeLimits) -> None:
    """413 when the container's header declares frames over ``max_pixels``, read without
    decoding anything (a file that cannot be opened is left to `probe`'s status)."""
    import av

    from dfmask.video import _open_media, _video_stream

    try:
        with _open_media(path) as container:
            stream = _video_stream(container)  # the stream `probe` and the faces stage read
            ctx = stream.codec_context if stream is not None else None
            if ctx is None:
                return  # no video stream, or no decoder: `probe` says which
            width, height = int(ctx.width or 0), int(ctx.height or 0)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return
    if width * height > limits.max_pixels:
        raise UploadError(413, "resolution_limit", f"{width}x{height} is over the limit of {limits.max_pixels} pixels")


def _check_video(path: Path, filename: str, limits: ServeLimits) -> None:
    """Refuse what is not a scorable video before any face detection runs (messages name
    the client's file name, never the temp path)."""
    from dfmask.corpus.ingest import _probe_status
    from dfmask.video import probe

    status, detail = sniff_status(path)
    if status != "ok":
        raise UploadError(415, status, f"not a video: {detail}")
    _check_declared_size(path, limits)  # before `probe`, which decodes a first frame
    info = probe(path, decode=False)
    if info.error:
        why = _client_text(info.error, path, filename)
        raise UploadError(422, _probe_status(info.error), f"the video cannot be read: {why}")
    if info.duration > limits.max_duration_s:
        raise UploadError(
            413, "duration_limit", f"{info.duration:.1f} s is over the limit of {limits.max_duration_s:g} s"
        )


def _score(detector: Detector, path: Path, filename: str, limits: ServeLimits, overlay: bool) -> dict[str, Any]:
    """Everything a request does after the upload (runs on a worker thread)."""
    _check_video(path, filename, limits)
    scored = detector.score(path)
    doc = scored.prediction.to_json()
    doc["file"] = filename or path.name
    if scored.prediction.failed:
        why = _client_text(scored.prediction.detail or scored.prediction.status, path, filename)
        raise UploadError(422, scored.prediction.status, f"the video cannot be read: {why}")
    if overlay and scored.prediction.frames:
        from dfmask.inference.overlay import sheet_png

        png = sheet_png(path, scored)
        doc["overlay_png"] = base64.b64encode(png).decode() if png else None
    return doc


def create_app(detector: Detector, limits: ServeLimits | None = None) -> FastAPI:
    """The FastAPI app around one loaded `Detector`."""
    limits = limits or ServeLimits()
    admission = Admission(limits.workers + limits.queue)
    pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="dfmask-score")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        lifespan=lifespan,
        title="dfmask",
        version="1",
        description="Deepfake scores of uploaded videos: p_fake, the label, and per-frame face scores "
        "and predicted manipulated area. See docs/predict.md.",
    )
    app.state.detector = detector
    app.state.limits = limits
    app.state.admission = admission

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(PAGE / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        files = {p.name: p for p in PAGE.iterdir() if p.is_file()}
        if name not in files:
            return _error(404, "not_found", f"no asset {name!r}")
        return FileResponse(files[name])

    @app.get("/v1/health", summary="liveness and load")
    def health() -> dict[str, Any]:
        return {"status": "ok", "in_flight": admission.in_flight, "capacity": admission.capacity}

    @app.get("/v1/models", summary="the loaded model(s), backend and calibration")
    def models() -> dict[str, Any]:
        return {
            "backend": detector.ensemble.backend,
            "model_id": detector.ensemble.model_id,
            "models": [asdict(i) | {"path": Path(i.path).name} for i in detector.ensemble.infos],
            "input_size": detector.ensemble.input_size,
            "frames": detector.faces.frames,
            "faces_params": detector.faces_source,
            "faces_exact": detector.faces_exact,
            "calibration": detector.calibration.describe(),
            "limits": {k: v for k, v in asdict(limits).items() if k != "tmp_dir"},
        }

    @app.post(
        "/v1/predict",
        summary="score one video (multipart field 'file')",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            }
        },
        responses={
            400: {"description": "empty or malformed body"},
            413: {"description": "over the size, resolution or duration limit"},
            415: {"description": "not multipart, or not a video"},
            422: {"description": "no 'file' field, or a corrupt/truncated video"},
            429: {"description": "too many requests in flight (see Retry-After)"},
            504: {"description": "scoring took longer than the timeout"},
        },
    )
    async def predict(request: Request, overlay: bool = False) -> Any:
        if not admission.enter():
            return _error(429, "busy", "the server is busy; retry later", {"Retry-After": "5"})
        folder: Path | None = None
        handed_over = False

        def release(_: object = None) -> None:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            admission.leave()

        try:  # from here on the slot is given back whatever happens, a failing mkdtemp included
            try:
                folder = Path(tempfile.mkdtemp(prefix="dfmask-serve-", dir=limits.tmp_dir))
            except OSError as err:  # a full disk, no permission, a tmp_dir removed under the server
                return _error(503, "no_temp_space", f"the server cannot store the upload: {err.strerror or err}")
            try:
                upload = await asyncio.wait_for(
                    receive_upload(
                        request.headers.get("content-type", ""),
                        request.headers.get("content-length"),
                        request.stream(),
                        folder / UPLOAD_NAME,
                        limits.max_bytes,
                    ),
                    limits.upload_timeout_s,
                )
            except TimeoutError:
                return _error(408, "upload_timeout", f"the upload took longer than {limits.upload_timeout_s:g} s")
            future: Future[dict[str, Any]] = pool.submit(
                _score, detector, upload.path, upload.filename, limits, overlay
            )
            future.add_done_callback(release)
            handed_over = True
            try:
                doc = await asyncio.wait_for(asyncio.wrap_future(future), limits.timeout_s)
            except TimeoutError:
                future.cancel()  # a queued job is dropped; a running one ends and frees its slot
                return _error(504, "timeout", f"scoring took longer than {limits.timeout_s:g} s")
            return JSONResponse(doc)
        except UploadError as err:
            return _error(err.status, err.code, err.message)
        finally:
            if not handed_over:
                release()

    return app


def serve(detector: Detector, limits: ServeLimits, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app under uvicorn until interrupted (one process: the model is loaded once)."""
    import uvicorn

    print(f"dfmask serve: http://{host}:{port}/ (API docs at /docs)", flush=True)
    uvicorn.run(create_app(detector, limits), host=host, port=port, log_level="warning", timeout_keep_alive=5)
