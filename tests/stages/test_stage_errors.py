"""Stage scripts turn user errors into one line naming the key or file, and exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from dfmask.video import encode_video
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]


def _run(stage: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(stage_argv(stage, 0), cwd=tmp_path, capture_output=True, text=True, timeout=120)


def _run_ingest(tmp_path: Path, params: dict, inventory: bool = True) -> subprocess.CompletedProcess[str]:
    """stages/inventory.py, then stages/ingest.py for part 0, in ``tmp_path``, with the
    arguments dvc.yaml gives them (and the repository's ``compute:`` section, which ingest
    reads, unless given); the inventory's run when it fails (the corpus is read there)."""
    compute = yaml.safe_load((REPO / "params.yaml").read_text())["compute"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"compute": compute, **params}))
    if inventory:
        proc = _run("inventory", tmp_path)
        if proc.returncode != 0:
            return proc
    return _run("ingest", tmp_path)


def test_wrong_param_type_is_one_line_naming_the_key(tmp_path: Path) -> None:
    params = {"corpus": {"root": "c", "parts": ["zero"]}, "ingest": {"probe_decode": True}}
    for stage, proc in (("inventory", _run_ingest(tmp_path, params)), ("ingest", _run_ingest(tmp_path, params, False))):
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines() == [
            f"{stage}: error: params: corpus.parts[0]: expected int, got str 'zero'"
        ]
    assert not (tmp_path / "data").exists()  # nothing written on a params error


@pytest.mark.parametrize("where", ["/abs/faces", "../x"])
def test_a_path_outside_the_repo_stops_the_stage_naming_the_key(tmp_path: Path, where: str) -> None:
    """DVC renders params.yaml's paths into every stage and runs a stage whose out leaves
    the repo; the first stage that loads its params stops, even one that never uses faces."""
    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    params = _corpus(tmp_path) | {"paths": doc["paths"] | {"faces": where}}
    assert _one_line(_run_ingest(tmp_path, params, inventory=False)) == (
        "ingest: error: params: paths.faces: must be a relative path inside the repository "
        f"(no leading /, no ..), got {where!r}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "params.yaml"]  # nothing written


def test_malformed_metadata_is_one_line_naming_the_file(tmp_path: Path) -> None:
    part = tmp_path / "c" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    (part / "metadata.json").write_text('{"a.mp4": {"label": "REAL"},}')
    proc = _run_ingest(tmp_path, {"corpus": {"root": "c", "parts": [0]}, "ingest": {"probe_decode": True}})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("inventory: error: c/dfdc_train_part_0/metadata.json: malformed JSON at line 1")


def _corpus(tmp_path: Path, metadata: str | None = "{}") -> dict:
    part = tmp_path / "c" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    if metadata is None:
        (part / "metadata.json").mkdir()
    else:
        (part / "metadata.json").write_text(metadata)
    return {"corpus": {"root": "c", "parts": [0]}, "ingest": {"probe_decode": True}}


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, "inventory: error: c/dfdc_train_part_0/metadata.json: metadata.json is not a regular file"),
        ("[" * 100_000 + "]" * 100_000, "inventory: error: c/dfdc_train_part_0/metadata.json: JSON nested too deeply"),
    ],
)
def test_unreadable_metadata_is_one_line_naming_the_file(tmp_path: Path, metadata: str | None, expected: str) -> None:
    assert _one_line(_run_ingest(tmp_path, _corpus(tmp_path, metadata))).startswith(expected)


def test_output_folder_blocked_by_a_file_is_one_line_naming_it(tmp_path: Path) -> None:
    params = _corpus(tmp_path)
    (tmp_path / "data").write_text("not a folder")
    assert _one_line(_run_ingest(tmp_path, params)) == "inventory: error: data/interim/inventory: Not a directory"
    (tmp_path / "data").unlink()
    assert _run("inventory", tmp_path).returncode == 0
    (tmp_path / "data" / "interim" / "videos").write_text("not a folder")
    assert _one_line(_run("ingest", tmp_path)) == "ingest: error: data/interim/videos: File exists"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    params = _corpus(tmp_path)
    out = tmp_path / "data" / "interim" / "videos"
    out.mkdir(parents=True)
    out.chmod(0o555)
    try:
        line = _one_line(_run_ingest(tmp_path, params))
    finally:
        out.chmod(0o755)
    assert line == "ingest: error: data/interim/videos/part=0.parquet: Permission denied"


def test_unwritable_output_is_one_line_naming_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The read-only case where the tests run as root: the OS refuses the temp file."""
    import tempfile

    from dfmask.stage import run_stage
    from dfmask.tables import write_json

    def refuse(*args: object, dir: str = "", **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", f"{dir}/.report.json.x1y2.tmp")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "reports" / "report.json"
    with pytest.raises(SystemExit) as exit_:
        run_stage("ingest", lambda: str(write_json(out, {})))
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"ingest: error: {out}: Permission denied\n"


def test_same_corpus_at_two_absolute_paths_gives_identical_ingest_bytes(tmp_path: Path) -> None:
    first = tmp_path / "a" / "corpus"
    part = first / "dfdc_train_part_0"
    part.mkdir(parents=True)
    encode_video([np.full((48, 64, 3), 30 * i, np.uint8) for i in range(4)], part / "real.mp4", fps=10)
    (part / "junk.mp4").write_bytes(b"\x00garbage" * 100)
    (part / "metadata.json").write_text(
        '{"real.mp4": {"label": "REAL"}, "junk.mp4": {"label": "REAL"}, "gone.mp4": {"label": "REAL"}}'
    )
    second = tmp_path / "b" / "elsewhere" / "corpus"
    shutil.copytree(first, second)
    outputs = []
    for root in (first, second):
        work = root.parent / "work"
        work.mkdir()
        proc = _run_ingest(work, {"corpus": {"root": str(root), "parts": [0]}, "ingest": {"probe_decode": True}})
        assert proc.returncode == 0, proc.stderr
        outputs.append(
            [(work / f).read_bytes() for f in ("data/interim/videos/part=0.parquet", "reports/ingest/part=0.json")]
        )
    assert outputs[0] == outputs[1]
