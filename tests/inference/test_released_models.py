"""Released models: ``--model NAME@VERSION`` through DVC's artifact lookup and GTO tags,
in a real git + DVC project with two registered versions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from inference_fixtures import FRAMES, Models, Videos

from dfmask.cli import main
from dfmask.errors import DfmaskError
from dfmask.inference import registry
from dfmask.inference.detector import Detector

CALIBRATION = {
    "aggregation": "max",
    "confident_min_frac": 0.4,
    "confident_threshold": 0.8,
    "fitted_on": "val",
    "frame_aggregation": "mean",
    "method": "temperature",
    "schema_version": 1,
    "temperature": 2.0,
    "threshold": 0.61,
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _dvc(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, models: Models) -> Path:
    """A project that released ``uynet`` twice: v0.1.0 (checkpoint a, its params and
    calibration) and v0.2.0 (checkpoint b, no calibration in the commit); a third,
    v0.3.0, was registered and then deregistered."""
    from gto.api import deregister, register

    repo = tmp_path_factory.mktemp("project")
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    _dvc(repo, "init", "-q")
    (repo / "models" / "train").mkdir(parents=True)
    (repo / "reports" / "eval").mkdir(parents=True)
    shutil.copy(models.ckpt, repo / "models" / "train" / "uynet.ckpt")
    _dvc(repo, "add", "-q", "models/train/uynet.ckpt")
    (repo / "dvc.yaml").write_text("artifacts:\n  uynet:\n    path: models/train/uynet.ckpt\n    type: model\n")
    (repo / "params.yaml").write_text(f"paths:\n  reports: reports\nfaces:\n  frames: {FRAMES}\n  margin: 0.35\n")
    (repo / "reports" / "eval" / "calibration.json").write_text(json.dumps(CALIBRATION))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    register(repo, "uynet", "HEAD", version="v0.1.0")
    shutil.copy(models.ckpt2, repo / "models" / "train" / "uynet.ckpt")
    _dvc(repo, "add", "-q", "models/train/uynet.ckpt")
    _git(repo, "rm", "-q", "reports/eval/calibration.json")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v2")
    register(repo, "uynet", "HEAD", version="v0.2.0")
    (repo / "NOTES").write_text("a withdrawn release\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v3")
    register(repo, "uynet", "HEAD", version="v0.3.0")
    deregister(repo, "uynet", version="v0.3.0")  # the tag uynet@v0.3.0! : withdrawn
    return repo


def test_parse() -> None:
    assert registry.parse("uynet-int8@v1.0.0") == ("uynet-int8", "v1.0.0")
    assert registry.parse("uynet@latest") == ("uynet", "latest")
    for spec in ("uynet", "models/train/uynet.ckpt", "uynet@1.0", "Uynet@v1.0.0", "a@b@v1.0.0", "uynet@v1.0.0/x"):
        assert registry.parse(spec) is None, spec


def test_a_version_fetches_its_commit_files_once(
    project: Path, models: Models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = registry.resolve("uynet@v0.1.0", project, tmp_path)
    assert first.rev == _git(project, "rev-list", "-n1", "uynet@v0.1.0").strip()
    assert first.model.read_bytes() == models.ckpt.read_bytes()
    assert first.calibration is not None and json.loads(first.calibration.read_text()) == CALIBRATION
    assert first.params is not None and "margin: 0.35" in first.params.read_text()
    assert sorted(p.name for p in (tmp_path / "uynet").iterdir()) == sorted([first.rev, "versions"])  # no temp left

    def offline(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second call must read the cache, not the project")

    for api in ("dvc.api.open", "dvc.api.artifacts_show", "gto.api.show", "gto.api.find_latest_version"):
        monkeypatch.setattr(api, offline)  # offline: neither the files nor the registry are asked
    again = registry.resolve("uynet@v0.1.0", project, tmp_path)
    assert again == first
    with pytest.raises(AssertionError, match="must read the cache"):  # another registry is asked
        registry.resolve("uynet@v0.1.0", tmp_path / "elsewhere", tmp_path)


def test_latest_is_the_highest_registered_version_and_may_lack_a_calibration(
    project: Path, models: Models, tmp_path: Path
) -> None:
    latest = registry.resolve("uynet@latest", project, tmp_path)
    assert latest.rev == _git(project, "rev-list", "-n1", "uynet@v0.2.0").strip()  # not the deregistered v0.3.0
    assert latest.model.read_bytes() == models.ckpt2.read_bytes()
    assert latest.calibration is None and latest.params is not None


@pytest.mark.parametrize("spec", ["uynet@v9.0.0", "nope@v0.1.0", "uynet@v0.3.0"])
def test_unknown_or_deregistered_release_is_one_line(project: Path, tmp_path: Path, spec: str) -> None:
    with pytest.raises(DfmaskError, match=f"--model {spec}: no such released model") as err:
        registry.resolve(spec, project, tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("spec", ["uynet@v0.1.0", "uynet@latest"])
def test_a_registry_that_is_no_git_repository_is_one_line(tmp_path: Path, spec: str) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(DfmaskError, match=f"--model {spec}: ") as err:
        registry.resolve(spec, plain, tmp_path / "cache")
    assert "\n" not in str(err.value)


def test_detector_takes_the_release_s_params_and_calibration(
    project: Path, models: Models, videos: Videos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DFMASK_MODEL_CACHE", str(tmp_path / "cache"))
    detector = Detector.load(model="uynet@v0.1.0", backend="torch", registry=project)
    assert detector.faces.margin == 0.35 and detector.faces.frames == FRAMES
    assert detector.faces_source == "uynet@v0.1.0 params.yaml"
    assert detector.calibration.threshold == CALIBRATION["threshold"]
    assert [i.id for i in detector.ensemble.infos] == ["uynet@v0.1.0"]
    release = registry.resolve("uynet@v0.1.0", project)
    local = Detector.load(model=models.ckpt, backend="torch", faces=release.params, calibration=release.calibration)
    assert detector.ensemble.infos[0].sha256 == local.ensemble.infos[0].sha256
    same = local.predict(videos.face)
    released = detector.predict(videos.face)
    assert released.p_fake == pytest.approx(same.p_fake, abs=1e-6)
    assert [f.p_fake for f in released.frames] == pytest.approx([f.p_fake for f in same.frames], abs=1e-6)


def test_cli_scores_with_a_release_from_anywhere(
    project: Path, videos: Videos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DFMASK_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("faces:\n  margin: 0.5\n")  # this directory's: not the release's
    code = main(["predict", str(videos.face), "--model", "uynet@v0.1.0", "--registry", str(project)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["status"] == "ok"
    assert doc["models"][0]["id"] == "uynet@v0.1.0" and doc["faces_params"] == "uynet@v0.1.0 params.yaml"
    assert doc["threshold"] == CALIBRATION["threshold"] and doc["calibration"]["method"] == "temperature"
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(videos.face), "--model", "uynet@v3.0.0", "--registry", str(project)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "uynet@v3.0.0: no such released model" in err and err.count("\n") == 1


def test_a_registry_is_named_by_its_resolved_path(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``.``, a relative path and the default working directory are one registry in the
    version records; another project's ``.`` is another registry."""
    monkeypatch.chdir(project)
    key = registry.registry_key(None)
    assert registry.registry_key(".") == key == registry.registry_key(project) == str(project.resolve())
    monkeypatch.chdir(project.parent)
    assert registry.registry_key(project.name) == key
    assert registry.registry_key(".") != key
    assert registry.registry_key("https://example.org/lab/project.git") == "https://example.org/lab/project.git"
    first = registry.resolve("uynet@v0.1.0", project.name, tmp_path)  # relative, from the parent

    def offline(*args: object, **kwargs: object) -> None:
        raise AssertionError("the registry was asked")

    monkeypatch.chdir(project)
    for api in ("dvc.api.open", "dvc.api.artifacts_show", "gto.api.show"):
        monkeypatch.setattr(api, offline)
    assert registry.resolve("uynet@v0.1.0", None, tmp_path).rev == first.rev  # the default: the same registry
