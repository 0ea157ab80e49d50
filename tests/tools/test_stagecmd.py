"""tools.stagecmd renders a stage's command exactly as DVC does (tests and tools run the
real stage scripts with it, outside DVC)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.stagecmd import render, stage_argv, stage_cmd  # noqa: E402


def test_every_stage_command_is_the_one_dvc_renders(tmp_path: Path) -> None:
    from dvc.repo import Repo

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    Repo.init(str(tmp_path), no_scm=True)
    stages = Repo(str(tmp_path)).index.stages
    assert len(stages) > 10
    for stage in stages:
        name, _, part = stage.name.partition("@")
        assert stage_cmd(name, int(part) if part else None) == stage.cmd, stage.name


def test_other_params_give_other_paths() -> None:
    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    doc["paths"] = doc["paths"] | {"faces": "elsewhere/faces", "reports": "out/reports"}
    argv = stage_argv("masks", 3, doc, python="py")
    assert argv[:2] == ["py", str(REPO / "stages" / "masks.py")]
    assert argv[argv.index("--faces") + 1] == "elsewhere/faces/part=3"
    assert argv[argv.index("--report") + 1] == "out/reports/masks/part=3.json"


def test_a_missing_key_or_part_is_refused() -> None:
    with pytest.raises(KeyError, match=r"paths\.nowhere"):
        render("x ${paths.nowhere}", {"paths": {}})
    with pytest.raises(KeyError, match="give its part"):
        stage_cmd("faces")
