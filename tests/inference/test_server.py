"""``dfmask serve``'s app on loopback: answers, bad uploads, limits, admission, temp files."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from inference_fixtures import FRAMES, Models, Videos
from server_utils import app_server

from dfmask.inference.detector import Detector
from dfmask.inference.server import ServeLimits, create_app


@pytest.fixture(scope="module")
def detector(models: Models) -> Detector:
    return Detector.load(model=models.ckpt, backend="torch", frames=FRAMES)


@pytest.fixture(scope="module")
def tmp_uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def server(detector: Detector, tmp_uploads: Path) -> Iterator[tuple[str, object]]:
    limits = ServeLimits(max_bytes=60_000, max_pixels=320 * 180, max_duration_s=5.0, tmp_dir=str(tmp_uploads))
    app = create_app(detector, limits)
    with app_server(app) as url:
        yield url, app


def _post(url: str, path: Path, field: str = "file", **params: str) -> requests.Response:
    with open(path, "rb") as fh:
        return requests.post(f"{url}/v1/predict", files={field: (path.name, fh)}, params=params, timeout=120)


def test_predict_agrees_with_the_library(server: tuple[str, object], detector: Detector, videos: Videos) -> None:
    url, _ = server
    r = _post(url, videos.face, overlay="true")
    assert r.status_code == 200, r.text
    doc = r.json()
    lib = detector.predict(videos.face)
    assert doc["file"] == "face.mp4" and doc["status"] == "ok" and doc["sha256"] == lib.sha256
    np.testing.assert_allclose([f["p_fake"] for f in doc["frames"]], [f.p_fake for f in lib.frames], atol=1e-6)
    assert doc["p_fake"] == pytest.approx(lib.p_fake, abs=1e-6)
    sheet = cv2.imdecode(np.frombuffer(base64.b64decode(doc["overlay_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert sheet is not None and sheet.shape[1] >= 240 and sheet.std() > 10  # a real picture


def test_health_models_docs_and_page(server: tuple[str, object], models: Models) -> None:
    url, _ = server
    assert requests.get(f"{url}/v1/health").json()["status"] == "ok"
    info = requests.get(f"{url}/v1/models").json()
    assert info["backend"] == "torch" and info["models"][0]["id"] == models.ckpt.name and info["input_size"] == 32
    assert info["faces_params"] == "defaults" and info["calibration"]["frame_aggregation"] == "mean"
    schema = requests.get(f"{url}/openapi.json").json()
    assert "multipart/form-data" in schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert requests.get(f"{url}/docs").status_code == 200
    page = requests.get(f"{url}/").text
    assert 'src="/static/app.js"' in page and "http" not in page.split("<main>")[0].replace("http-equiv", "")
    js = requests.get(f"{url}/static/app.js")
    assert js.status_code == 200 and "/v1/predict" in js.text and "https://" not in js.text
    assert requests.get(f"{url}/static/..%2Fserver.py").status_code == 404


@pytest.mark.parametrize(
    ("which", "status", "code"),
    [
        ("text", 415, "not_mp4"),
        ("empty", 400, "empty_file"),
        ("truncated", 422, "truncated"),
        ("corrupt", 422, "corrupt"),
    ],
)
def test_bad_files(
    server: tuple[str, object], videos: Videos, tmp_uploads: Path, which: str, status: int, code: str
) -> None:
    url, _ = server
    r = _post(url, getattr(videos, which))
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and str(tmp_uploads) not in json.dumps(err)
    assert not list(tmp_uploads.iterdir())


def test_no_face_is_200(server: tuple[str, object], videos: Videos) -> None:
    r = _post(server[0], videos.no_face)
    assert r.status_code == 200 and r.json()["status"] == "no_face" and r.json()["p_fake"] == 0.5


def test_request_errors(server: tuple[str, object], videos: Videos, tmp_uploads: Path) -> None:
    url, _ = server
    r = _post(url, videos.face, field="video")
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_field" and "'video'" in r.text
    r = requests.post(f"{url}/v1/predict", data=b"")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_body"
    r = requests.post(f"{url}/v1/predict", data=b"abc", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 415
    assert not list(tmp_uploads.iterdir())


def test_size_limit_declared_and_streamed(server: tuple[str, object], tmp_uploads: Path) -> None:
    url, _ = server
    big = b"\x00\x00\x00\x18ftypisom" + bytes(200_000)
    r = requests.post(f"{url}/v1/predict", files={"file": ("big.mp4", big)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    boundary = "XyZ"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'.encode()
    written: list[int] = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: only the streaming check can stop it
        yield head
        for _ in range(50):
            written.append(1)
            yield bytes(8192)
        yield f"\r\n--{boundary}--\r\n".encode()

    try:
        r = requests.post(
            f"{url}/v1/predict", data=chunks(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    except requests.ConnectionError:
        # the server answered and closed before the client finished sending: it stopped reading early
        assert len(written) < 50
    assert written  # the body did stream (its cut-off itself: tests/inference/test_upload.py)
    assert not list(tmp_uploads.iterdir())


def test_resolution_and_duration_limits(detector: Detector, videos: Videos, tmp_path: Path) -> None:
    for limits, code in (
        (ServeLimits(max_pixels=320 * 179, tmp_dir=str(tmp_path)), "resolution_limit"),
        (ServeLimits(max_duration_s=0.5, tmp_dir=str(tmp_path)), "duration_limit"),
    ):
        with app_server(create_app(detector, limits)) as url:
            r = _post(url, videos.face)
        assert r.status_code == 413 and r.json()["error"]["code"] == code
        assert not list(tmp_path.iterdir())


def test_busy_server_answers_429(server: tuple[str, object], videos: Videos, tmp_uploads: Path) -> None:
    url, app = server
    admission = app.state.admission  # type: ignore[attr-defined]
    taken = 0
    while admission.enter():  # fill every slot (workers + queue)
        taken += 1
    try:
        r = _post(url, videos.face)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"]["code"] == "busy"
    finally:
        for _ in range(taken):
            admission.leave()
    assert taken == 9 and _post(url, videos.no_face).status_code == 200
    assert not list(tmp_uploads.iterdir())


def test_timeout_is_504_and_the_slot_comes_back(detector: Detector, videos: Videos, tmp_path: Path) -> None:
    import time

    app = create_app(detector, ServeLimits(timeout_s=0.01, workers=1, queue=0, tmp_dir=str(tmp_path)))
    with app_server(app) as url:
        r = _post(url, videos.face)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        end = time.monotonic() + 60
        while app.state.admission.in_flight and time.monotonic() < end:  # the work ends, then frees its slot
            time.sleep(0.1)
        assert app.state.admission.in_flight == 0 and not list(tmp_path.iterdir())


def test_messages_name_the_clients_file_never_the_temp_file(server: tuple[str, object], videos: Videos) -> None:
    url, _ = server
    with open(videos.corrupt, "rb") as fh:
        r = requests.post(f"{url}/v1/predict", files={"file": ("my holiday.mp4", fh)}, timeout=120)
    message = r.json()["error"]["message"]
    assert r.status_code == 422 and "my holiday.mp4" in message and "upload.bin" not in message, message


def test_a_stalled_upload_is_408_and_frees_its_slot(detector: Detector, tmp_path: Path) -> None:
    import time

    app = create_app(detector, ServeLimits(upload_timeout_s=0.5, workers=1, queue=0, tmp_dir=str(tmp_path)))
    head = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="v.mp4"\r\n\r\n'

    def slow() -> Iterator[bytes]:  # a client that sends a little, then stalls
        yield head
        time.sleep(3)
        yield b"--XyZ--\r\n"

    with app_server(app) as url:
        try:
            r = requests.post(
                f"{url}/v1/predict", data=slow(), headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
            )
            assert r.status_code == 408 and r.json()["error"]["code"] == "upload_timeout"
        except requests.ConnectionError:
            pass  # answered and closed while the client still sleeps: the slot checks below decide
        end = time.monotonic() + 10
        while app.state.admission.in_flight and time.monotonic() < end:
            time.sleep(0.05)
        assert app.state.admission.in_flight == 0 and not list(tmp_path.iterdir())
        assert requests.get(f"{url}/v1/health").json()["in_flight"] == 0


def test_a_temp_folder_that_cannot_be_made_is_503_and_frees_the_slot(
    detector: Detector, videos: Videos, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"  # --tmp-dir removed under a running server
    app = create_app(detector, ServeLimits(workers=1, queue=0, tmp_dir=str(gone)))
    with app_server(app) as url:
        for _ in range(2):  # the slot comes back: the second request is not 429
            r = _post(url, videos.no_face)
            assert r.status_code == 503 and r.json()["error"]["code"] == "no_temp_space", r.text
        assert app.state.admission.in_flight == 0
        gone.mkdir()
        assert _post(url, videos.no_face).status_code == 200


def test_resolution_limit_is_checked_before_any_frame_is_decoded(
    detector: Detector, videos: Videos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An over-limit frame size is refused from the container's header: `probe` (which
    decodes a first frame) never runs on it."""
    import dfmask.video

    probed: list[str] = []
    real = dfmask.video.probe
    monkeypatch.setattr(dfmask.video, "probe", lambda path, *a, **k: probed.append(str(path)) or real(path, *a, **k))
    app = create_app(detector, ServeLimits(max_pixels=320 * 179, tmp_dir=str(tmp_path)))
    with app_server(app) as url:
        r = _post(url, videos.face)
    assert r.status_code == 413 and r.json()["error"]["code"] == "resolution_limit"
    assert "320x180" in r.json()["error"]["message"] and probed == []


def test_an_unknown_codec_is_422_and_a_big_thumbnail_does_not_decide_the_size(
    detector: Detector, videos: Videos, tmp_path: Path
) -> None:
    """The header check reads the stream `probe` reads (the video, not a thumbnail listed
    first) and leaves a codec without decoder to `probe`'s 422."""
    from tools.robustness.media import with_codec_tag, with_thumbnail_first

    unknown = with_codec_tag(videos.face, tmp_path / "zzzz.mp4")
    big_thumb = with_thumbnail_first(videos.face, tmp_path / "thumb.mp4", np.zeros((1080, 1920, 3), np.uint8))
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    app = create_app(detector, ServeLimits(max_pixels=320 * 180, tmp_dir=str(uploads)))
    with app_server(app) as url:
        r = _post(url, unknown)
        assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt", r.text
        assert "no decoder" in r.json()["error"]["message"]
        r = _post(url, big_thumb)
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
