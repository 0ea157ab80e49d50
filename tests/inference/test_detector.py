"""`dfmask.Detector`: the faces stage's crops, the model's scores, statuses of bad files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from inference_fixtures import FRAMES, Models, Videos

import dfmask
from dfmask.errors import DfmaskError
from dfmask.faces.extract import process_original
from dfmask.inference.detector import Detector
from dfmask.model import calibration as cal
from dfmask.model.calibration import Calibration, OperatingPoint
from dfmask.model.crop_index import CropIndex
from dfmask.model.evaluate import video_level
from dfmask.model.predict import predict_images
from dfmask.model.uynet import load_checkpoint
from dfmask.params import EvaluateParams
from dfmask.tables import decode_png


@pytest.fixture(scope="module")
def detector(models: Models) -> Detector:
    return dfmask.Detector.load(model=models.ckpt, backend="torch", frames=FRAMES)


def _stage_crops(det: Detector, path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The crops the faces stage itself cuts from ``path`` (its per-video function)."""
    row = {"part": 0, "video_id": path.stem, "original_id": None, "is_fake": False, "status": "ok"}
    from dfmask.video import probe

    row |= {"frames": probe(path).frames, "path": path.name}
    faces = process_original(row, path.parent, det.face_detector, det.faces)
    crops = [decode_png(c["bytes"]) for c in faces.rows.column("crop").to_pylist()]
    return crops, np.asarray(faces.rows.column("frame_idx").to_numpy())


def test_predict_matches_evaluate_on_the_stage_crops(detector: Detector, models: Models, videos: Videos) -> None:
    pred = detector.predict(videos.face)
    assert pred.status == "ok" and pred.frames and pred.tracks >= 1
    crops, frame_idx = _stage_crops(detector, videos.face)
    model, config = load_checkpoint(models.ckpt)
    p_eval, _ = predict_images(model, crops, config.input_size)  # evaluate's prediction path
    assert [f.frame_idx for f in pred.frames] == frame_idx.tolist()
    np.testing.assert_allclose([f.p_fake for f in pred.frames], p_eval, atol=1e-6, rtol=0)
    # the video score: mean per track, max over tracks (uncalibrated default), as evaluate makes it
    tracks = np.array([f.track_id for f in pred.frames])
    p = np.array([f.p_fake for f in pred.frames])
    assert pred.p_fake == pytest.approx(_evaluate_score(tracks, p, EvaluateParams()), abs=1e-12)
    assert pred.label == ("FAKE" if pred.p_fake >= 0.5 else "REAL")


def test_the_json_document(detector: Detector, models: Models, videos: Videos) -> None:
    doc = json.loads(json.dumps(detector.predict(videos.face).to_json()))
    assert doc["schema_version"] == 1 and next(iter(doc)) == "schema_version"
    assert doc["sha256"] == hashlib.sha256(videos.face.read_bytes()).hexdigest()
    assert doc["model_id"] == hashlib.sha256(models.ckpt.read_bytes()).hexdigest()
    assert doc["models"][0]["backend"] == "torch" and doc["models"][0]["input_size"] == 32
    assert doc["calibration"]["method"] == "none" and doc["aggregation"] == "max" and doc["threshold"] == 0.5
    assert (doc["width"], doc["height"], doc["fps"]) == (320, 180, 10.0)
    assert doc["frames_sampled"] == FRAMES
    for f in doc["frames"]:
        assert f["time_s"] == pytest.approx(f["frame_idx"] / 10.0)
        x0, y0, x1, y1 = f["box"]
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 180  # a face inside the frame
        assert 0.0 <= f["manipulated_area"] <= 1.0 and 0.0 < f["p_fake"] < 1.0


def test_onnx_backend_agrees_with_torch(detector: Detector, models: Models, videos: Videos) -> None:
    onnx = Detector.load(model=models.onnx, backend="onnx", frames=FRAMES)
    a, b = detector.predict(videos.face), onnx.predict(videos.face)
    assert b.models[0]["backend"] == "onnx" and b.model_id != a.model_id
    np.testing.assert_allclose([f.p_fake for f in a.frames], [f.p_fake for f in b.frames], atol=1e-5)


def test_an_ensemble_averages_logits(models: Models) -> None:
    one = Detector.load(model=models.ckpt, backend="torch")
    two = Detector.load(model=models.ckpt2, backend="torch")
    both = Detector.load(model=[models.ckpt, models.ckpt2], backend="torch")
    crops = [np.random.default_rng(k).integers(0, 256, (48, 48, 3), dtype=np.uint8) for k in range(5)]
    la, sa = one.ensemble.logits(crops)
    lb, sb = two.ensemble.logits(crops)
    lab, sab = both.ensemble.logits(crops)
    assert not np.allclose(la, lb)  # two different models
    np.testing.assert_allclose(lab, (la + lb) / 2, atol=1e-6)
    np.testing.assert_allclose(sab, (sa + sb) / 2, atol=1e-5)
    assert len(both.ensemble.infos) == 2 and both.ensemble.model_id not in (one.ensemble.model_id,)


def test_calibration_is_applied(models: Models, videos: Videos, detector: Detector) -> None:
    raw = detector.predict(videos.face)
    point = OperatingPoint(Calibration("temperature", temperature=3.0), threshold=0.9, aggregation="mean")
    det = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, calibration=point)
    pred = det.predict(videos.face)
    q = np.clip(raw.p_fake, 1e-15, 1 - 1e-15)
    assert pred.p_fake == pytest.approx(1 / (1 + np.exp(-np.log(q / (1 - q)) / 3.0)), abs=1e-9)  # one track: mean = max
    assert pred.label == "REAL" and pred.threshold == 0.9 and pred.calibration["method"] == "temperature"


def test_statuses_of_bad_files(detector: Detector, videos: Videos, tmp_path: Path) -> None:
    no_face = detector.predict(videos.no_face)
    assert (no_face.status, no_face.p_fake, no_face.frames) == ("no_face", 0.5, [])
    expect = {
        videos.corrupt: "corrupt",
        videos.truncated: "truncated",
        videos.empty: "empty",
        videos.text: "not_mp4",
        tmp_path / "absent.mp4": "missing",
    }
    for path, status in expect.items():
        pred = detector.predict(path)
        assert (pred.status, pred.p_fake, pred.label) == (status, None, None), path
        assert pred.failed and pred.detail


def test_no_face_score_is_calibrated_as_evaluate_calibrates_it(models: Models, videos: Videos) -> None:
    """A video without faces scores the raw 0.5 through the calibration, as the evaluate
    stage scores it (`video_scores` of no crops, then `OperatingPoint.apply`): with an
    isotonic map, 0.5 is not 0.5, and the label follows the calibrated value."""
    from dfmask.model.predict import video_scores

    iso = Calibration("isotonic", isotonic_x=(0.1, 0.6, 0.9), isotonic_y=(0.0, 0.2, 1.0))
    point = OperatingPoint(iso, threshold=0.35)
    det = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, calibration=point)
    pred = det.predict(videos.no_face)
    raw, _ = video_scores(["v"], [], np.zeros(0), "mean", crop_track_ids=[], over_tracks="max")
    assert pred.status == "no_face"
    assert pred.p_fake == pytest.approx(float(point.apply(raw)[0]), abs=1e-12) == pytest.approx(0.16)
    assert pred.label == "REAL"


@pytest.mark.parametrize(("w", "h"), [(8, 8), (2048, 2), (2, 1024)])
def test_frames_too_small_for_a_face_are_no_face(detector: Detector, tmp_path: Path, w: int, h: int) -> None:
    from dfmask.video import encode_video

    frames = [np.random.default_rng(k).integers(0, 255, (h, w, 3), np.uint8) for k in range(8)]
    path = encode_video(frames, tmp_path / f"tiny_{w}x{h}.mp4", 8)
    pred = detector.predict(path)
    assert (pred.status, pred.frames) == ("no_face", [])


def test_a_fragmented_mp4_is_scored_like_its_plain_copy(detector: Detector, videos: Videos, tmp_path: Path) -> None:
    """Fragmented MP4 (empty moov, no declared frame count) is a valid video: the frames
    are counted by decoding, not read as 0 from the header."""
    import av

    from dfmask.video import probe

    frag = tmp_path / "frag.mp4"
    with (
        av.open(str(videos.face)) as src,
        av.open(str(frag), "w", options={"movflags": "frag_keyframe+empty_moov"}) as dst,
    ):
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    assert probe(frag, decode=False).frames == 0  # the case: no count in the header
    plain, pred = detector.predict(videos.face), detector.predict(frag)
    assert pred.status == "ok" and [f.frame_idx for f in pred.frames] == [f.frame_idx for f in plain.frames]
    assert pred.p_fake == pytest.approx(plain.p_fake, abs=1e-9)


def test_an_unreadable_file_is_its_own_status(
    detector: Detector, videos: Videos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No read permission (root cannot be denied, so `open` is made to refuse): the file's
    status, never an exception that stops a batch."""
    import dfmask.inference.detector as module

    def refuse(*_: object, **__: object) -> typing.NoReturn:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(module, "open", refuse, raising=False)
    pred = detector.predict(videos.face)
    assert (pred.status, pred.p_fake, pred.sha256) == ("unreadable", None, None)
    assert pred.failed and "Permission denied" in (pred.detail or "")


def test_backend_errors_are_one_line(models: Models, tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="backend vart needs a compiled .xmodel") as err:
        Detector.load(model=models.ckpt, backend="vart")
    assert "\n" not in str(err.value)
    with pytest.raises(DfmaskError, match="needs an .onnx file"):
        Detector.load(model=models.ckpt, backend="onnx")
    with pytest.raises(DfmaskError, match="model file not found"):
        Detector.load(model=tmp_path, backend="onnx-int8")
    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(b"\x80\x04cos\nsystem\n.")  # a pickle naming os.system: refused, never run
    with pytest.raises(DfmaskError, match="not a loadable torch checkpoint"):
        Detector.load(model=bad, backend="torch")


def test_default_backend_prefers_int8(tmp_path: Path, models: Models) -> None:
    from dfmask.inference.backends import default_backend

    assert default_backend(tmp_path) == "torch"
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "uynet.onnx").write_bytes(models.onnx.read_bytes())
    assert default_backend(tmp_path) == "onnx"
    (tmp_path / "int8").mkdir()
    (tmp_path / "int8" / "uynet.ort_int8.onnx").write_bytes(models.onnx.read_bytes())
    assert default_backend(tmp_path) == "onnx-int8"
    assert Detector.load(model=tmp_path).ensemble.backend == "onnx-int8"


def test_import_dfmask_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, dfmask; print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _evaluate_score(track_id: np.ndarray, p: np.ndarray, params: EvaluateParams) -> float:
    """The video score evaluate gives crops with probabilities ``p`` of one video's tracks
    (`dfmask.model.evaluate.video_level` reads only the index's video and track ids)."""
    index = typing.cast(CropIndex, SimpleNamespace(video_id=np.full(len(p), "v"), track_id=np.asarray(track_id)))
    scores, _ = video_level(index, np.arange(len(p)), p, (["v"], np.zeros(1, bool)), params)
    return float(scores[params.aggregation][0])


@pytest.mark.parametrize("over_tracks", ["max", "mean"])
def test_the_video_score_is_evaluates_for_each_rule(detector: Detector, over_tracks: str) -> None:
    """Track 0: 3 of 5 frames are confident fakes (confident: their mean, 0.9; mean: 0.6);
    track 2: plain (0.4 either way)."""
    track_id = np.array([0, 0, 0, 0, 0, 2, 2, 2])
    p = np.array([0.9, 0.95, 0.1, 0.2, 0.85, 0.3, 0.5, 0.4])
    got = {}
    for rule in ("mean", "confident"):
        params = EvaluateParams(aggregation=rule, track_aggregation=over_tracks)  # type: ignore[arg-type]
        point = OperatingPoint(
            aggregation=params.track_aggregation,
            frame_aggregation=params.aggregation,
            confident_threshold=params.confident_threshold,
            confident_min_frac=params.confident_min_frac,
        )
        got[rule] = Detector(detector.ensemble, detector.faces, point).aggregate(track_id, p)
        assert got[rule] == _evaluate_score(track_id, p, params)
    expected = {"max": (0.6, 0.9), "mean": (0.5, 0.65)}[over_tracks]
    assert (got["mean"], got["confident"]) == pytest.approx(expected, abs=1e-12)


def test_the_frame_rule_of_the_file_scores_the_video(
    detector: Detector, models: Models, videos: Videos, tmp_path: Path
) -> None:
    """A ``confident`` calibration.json makes the scorer apply evaluate's confident rule
    (its threshold the median frame score: the upper half alone is averaged)."""
    frame_p = np.array([f.p_fake for f in detector.predict(videos.face).frames])
    median = float(np.median(frame_p))
    path = cal.write_calibration(
        tmp_path / "calibration.json",
        OperatingPoint(frame_aggregation="confident", confident_threshold=median, confident_min_frac=0.1),
    )
    det = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, calibration=path)
    pred = det.predict(videos.face)
    tracks = np.array([f.track_id for f in pred.frames])
    p = np.array([f.p_fake for f in pred.frames])
    params = EvaluateParams(aggregation="confident", confident_threshold=median, confident_min_frac=0.1)
    assert pred.p_fake == pytest.approx(_evaluate_score(tracks, p, params), abs=1e-12)
    assert pred.p_fake > _evaluate_score(tracks, p, EvaluateParams()) + 1e-9  # above the mean rule's score
    assert pred.calibration["frame_aggregation"] == "confident" and pred.calibration["confident_min_frac"] == 0.1


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_the_scorer_reads_evaluates_file_to_identical_values(
    detector: Detector, models: Models, videos: Videos, tmp_path: Path, method: str
) -> None:
    """Parity: evaluate's fit and writer -> the scorer's `Detector.load` -> the same map, bit for bit."""
    rng = np.random.default_rng(7)
    y = rng.random(60) < 0.5
    raw = np.clip(np.where(y, 0.75, 0.35) + rng.normal(0, 0.2, 60), 0.001, 0.999)
    fitted = cal.fit(method, y, raw)  # type: ignore[arg-type]
    assert fitted.method == method
    path = cal.write_calibration(tmp_path / "calibration.json", OperatingPoint(fitted, 0.5, fitted_on="val"))
    det = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, calibration=path)
    grid = np.concatenate([raw, np.linspace(0, 1, 201), [0.0, 1e-20, 1.0]])
    np.testing.assert_array_equal(det.calibration.apply(grid), fitted.apply(grid))
    assert det.predict(videos.face).p_fake == float(fitted.apply(detector.predict(videos.face).p_fake))


def test_faces_settings_come_from_a_params_file(models: Models, videos: Videos, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("faces:\n  size: 64\n  margin: 0.5\n")
    det = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, faces=params)
    assert (det.faces.size, det.faces.margin, det.faces.frames) == (64, 0.5, FRAMES)
    pred = det.predict(videos.face)
    assert pred.faces_params == str(params) and pred.to_json()["faces_params"] == str(params)
    default = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES)
    assert default.faces.size == 128 and default.predict(videos.face).faces_params == "defaults"
    # the wider margin cuts other crops: other boxes' windows, another score
    assert [f.crop_box for f in pred.frames] != [f.crop_box for f in default.predict(videos.face).frames]
    params.write_text("faces:\n  sizee: 64\n")
    with pytest.raises(DfmaskError, match=r"faces\.sizee: unknown key"):
        Detector.load(model=models.ckpt, backend="torch", faces=params)


def test_vart_backend_scores_through_the_vitis_env(
    videos: Videos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The VCK5000 path end to end up to the vendor calls: a stand-in conda/xir/vart
    (tests/deploy/fake_vitis) behind `VartRunner`; without them, a one-line how-to."""
    import os
    import sys

    fake = Path(__file__).parents[1] / "deploy" / "fake_vitis"
    xmodel = tmp_path / "compiled" / "uynet.xmodel"
    xmodel.parent.mkdir()
    spec = {"size": 32, "batch": 8, "in_fix": 6, "seg_fix": 3, "cls_fix": 2, "dpus": 1}
    with xmodel.open("wb") as handle:
        np.savez(handle, **{k: np.array(v) for k, v in spec.items()})
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DfmaskError, match="'conda' not found on PATH") as err:
        Detector.load(model=tmp_path, backend="vart")  # the folder's compiled/uynet.xmodel
    assert "\n" not in str(err.value)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VITIS_PYTHON", sys.executable)
    monkeypatch.setenv("FAKE_VITIS_DIR", str(fake))
    detector = Detector.load(model=xmodel, frames=FRAMES)
    assert detector.ensemble.backend == "vart" and detector.ensemble.input_size == 32
    pred = detector.predict(videos.face)
    assert pred.status == "ok" and len(pred.frames) == FRAMES
    assert all(0.0 < f.p_fake < 1.0 for f in pred.frames)
    assert pred.models[0]["backend"] == "vart" and pred.models[0]["id"] == "uynet.xmodel"


def test_scoring_runs_the_detector_fast_unless_exact(models: Models, videos: Videos, tmp_path: Path) -> None:
    """By default only how MTCNN runs changes (float32, every core, FFmpeg's decode
    threads: `FAST_FACES`); ``exact_faces`` keeps the params file's faces settings bit for
    bit, so its crops are the faces stage's bytes."""
    from dfmask.inference.detector import FAST_FACES
    from dfmask.params import FacesParams, load_section

    params = tmp_path / "params.yaml"
    params.write_text("faces:\n  size: 96\n  precision: float64\n  threads: 1\n  decode_threads: 1\n")
    stage = load_section(FacesParams, "faces", params)
    fast = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, faces=params)
    exact = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, faces=params, exact_faces=True)
    assert exact.faces == dataclasses.replace(stage, frames=FRAMES)
    assert fast.faces == dataclasses.replace(stage, frames=FRAMES, **FAST_FACES)
    assert set(FAST_FACES) == {"precision", "threads", "decode_threads"}  # never a crop setting
    p_fast, p_exact = fast.predict(videos.face), exact.predict(videos.face)
    assert (p_fast.faces_exact, p_exact.faces_exact) == (False, True)
    assert p_fast.to_json()["faces_exact"] is False and p_exact.to_json()["faces_exact"] is True
    # exact: the crops the faces stage's own function cuts with the file's settings
    crops, frame_idx = _stage_crops(exact, videos.face)
    assert [f.frame_idx for f in p_exact.frames] == frame_idx.tolist()
    np.testing.assert_allclose([f.p_fake for f in p_exact.frames], exact.frame_probabilities(crops)[0], atol=1e-6)
    # fast: the same faces, tracks and frames; windows within a pixel, scores close
    assert [(f.frame_idx, f.track_id) for f in p_fast.frames] == [(f.frame_idx, f.track_id) for f in p_exact.frames]
    boxes = np.abs(np.subtract([f.crop_box for f in p_fast.frames], [f.crop_box for f in p_exact.frames]))
    assert boxes.max() <= 1
    assert abs(p_fast.p_fake - p_exact.p_fake) < 0.01
