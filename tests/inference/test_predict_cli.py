"""``dfmask predict``: files and folders, JSON Lines / CSV, exit codes, overlays."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from inference_fixtures import FRAMES, Models, Videos

from dfmask.cli import main
from dfmask.inference.detector import Detector
from dfmask.video import probe


@pytest.fixture(autouse=True)
def _outside_the_repo(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty working directory: the repository's params.yaml and its committed
    reports/eval/calibration.json are `dfmask predict` defaults and would change the
    scores these tests compare against the library's uncalibrated call."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_folder_with_a_broken_file(
    tmp_path: Path, models: Models, videos: Videos, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for v in (videos.face, videos.corrupt, videos.no_face):
        shutil.copy(v, folder / v.name)
    (folder / "readme.txt").write_text("not scored: not an .mp4")
    code, out, err = _run(capsys, str(folder), "--model", str(models.ckpt), "--frames", str(FRAMES))
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # one input failed; the others were still scored
    assert [(Path(d["file"]).name, d["status"]) for d in docs] == [
        ("corrupt.mp4", "corrupt"),
        ("face.mp4", "ok"),
        ("noface.mp4", "no_face"),
    ]
    assert docs[0]["file"] == str(folder / "corrupt.mp4")  # the path as found, not only the name
    assert "3 videos" in err and "1 failed" in err and err.count("predict [") == 3  # a line per video off a TTY
    lib = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES).predict(videos.face)
    np.testing.assert_allclose([f["p_fake"] for f in docs[1]["frames"]], [f.p_fake for f in lib.frames], atol=1e-6)


def test_csv_out_threshold_and_exit_zero(
    tmp_path: Path, models: Models, videos: Videos, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.csv"
    code, stdout, _ = _run(
        capsys,
        str(videos.face),
        "--model",
        str(models.ckpt),
        "--frames",
        str(FRAMES),
        "--format",
        "csv",
        "--out",
        str(out),
        "--threshold",
        "0.0",
    )
    assert code == 0 and "1 videos" in stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["label"] == "FAKE"  # every score >= 0
    assert float(rows[0]["threshold"]) == 0.0 and len(rows[0]["sha256"]) == 64


def test_overlay(tmp_path: Path, models: Models, videos: Videos, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, str(videos.face), "--model", str(models.ckpt), "--frames", str(FRAMES), "--overlay", str(tmp_path)
    )
    doc = json.loads(out)
    assert code == 0
    mp4, png = tmp_path / "face.overlay.mp4", tmp_path / "face.sheet.png"
    assert probe(mp4).frames == len({f["frame_idx"] for f in doc["frames"]}) and probe(mp4).error is None
    sheet = cv2.imread(str(png))
    assert sheet is not None and sheet.shape[1] == 4 * 240


def test_overlays_of_videos_sharing_a_name_do_not_overwrite_each_other(
    tmp_path: Path, models: Models, videos: Videos, capsys: pytest.CaptureFixture[str]
) -> None:
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(videos.face, tmp_path / "in" / sub / "clip.mp4")
    out = tmp_path / "overlays"
    code, _, _ = _run(
        capsys, str(tmp_path / "in"), "--model", str(models.ckpt), "--frames", str(FRAMES), "--overlay", str(out)
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a__clip.mp4.overlay.mp4", "a__clip.mp4.sheet.png", "b__clip.mp4.overlay.mp4", "b__clip.mp4.sheet.png",
    ]  # fmt: skip


def test_overlay_names_keep_unique_stems_and_tell_shared_ones_apart(tmp_path: Path) -> None:
    from dfmask.inference.overlay import overlay_names

    files = [tmp_path / "x" / "clip.mp4", tmp_path / "x" / "clip.MP4", tmp_path / "y" / "other.mp4"]
    assert list(overlay_names(files).values()) == ["x__clip.mp4", "x__clip.MP4", "other"]
    assert overlay_names([tmp_path / "one.mp4"]) == {tmp_path / "one.mp4": "one"}


def test_errors_are_one_line_exit_2(models: Models, videos: Videos, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(videos.face), "--model", str(models.ckpt), "--backend", "vart"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("dfmask predict: error:") and "needs a compiled .xmodel" in err and err.count("\n") == 1


def test_contact_sheet_keeps_at_most_sixteen_frames() -> None:
    from dfmask.inference.overlay import SHEET_FRAMES, contact_sheet

    frames = [np.full((90, 160, 3), k, np.uint8) for k in range(30)]
    sheet = contact_sheet(frames)
    assert sheet.shape == (SHEET_FRAMES // 4 * 135, 4 * 240, 3)
    assert sheet[0, 0, 0] == 0 and sheet[-1, -1, 0] == 29  # first and last frame kept
    assert contact_sheet(frames[:3]).shape == (135, 3 * 240, 3)


def test_faces_settings_of_params_yaml_here_else_the_defaults(
    tmp_path: Path, models: Models, videos: Videos, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = (str(videos.face), "--model", str(models.ckpt), "--frames", str(FRAMES))
    code, out, _ = _run(capsys, *argv)
    assert code == 0 and json.loads(out)["faces_params"] == "defaults"  # no params.yaml here
    Path("params.yaml").write_text("faces:\n  margin: 0.5\n")  # no paths: reports/eval/calibration.json
    code, out, _ = _run(capsys, *argv)
    here = json.loads(out)
    assert code == 0 and here["faces_params"] == "params.yaml"
    lib = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES, faces=Path("params.yaml"))
    assert [f["crop_box"] for f in here["frames"]] == [f.crop_box for f in lib.predict(videos.face).frames]
    Path("other.yaml").write_text("faces:\n  marginn: 0.5\n")
    for params, message in (("other.yaml", "faces.marginn: unknown key"), ("missing.yaml", "--params missing.yaml")):
        with pytest.raises(SystemExit) as exit_:
            main(["predict", *argv, "--params", params])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and err.count("\n") == 1
