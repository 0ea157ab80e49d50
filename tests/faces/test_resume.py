"""Resumability: SIGKILL the real stage halfway, rerun, get a clean run's exact bytes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask.schemas.faces import STATUS_PATH
from dfmask.tables import file_sha256, shard_paths
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]
VIDEOS = 17


def _workspace(base: Path, corpus: Any) -> Path:
    base.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["corpus"] = {"root": str(corpus.root), "parts": [0]}
    params["faces"].update(frames=8, device="cpu", shard_rows=40)
    (base / "params.yaml").write_text(yaml.safe_dump(params))
    (base / "data/interim/videos").mkdir(parents=True)
    shutil.copy(corpus.videos, base / "data/interim/videos/part=0.parquet")
    return base


def _cmd() -> list[str]:
    return stage_argv("faces", 0)


def _finished(base: Path) -> int:
    return len(list((base / "data/.work/faces/part=0").glob("*/*.parquet")))


def _outputs(base: Path) -> dict[str, str]:
    out = base / "data/interim/faces/part=0"
    files = [*shard_paths(out), out / STATUS_PATH]
    return {str(p.relative_to(out)): file_sha256(p) for p in files}


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_matches_a_clean_run(faces_corpus: Any, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    clean = _workspace(tmp_path / "clean", faces_corpus)
    subprocess.run(_cmd(), cwd=clean, env=env, check=True, capture_output=True, timeout=600)

    killed = _workspace(tmp_path / "killed", faces_corpus)
    proc = subprocess.Popen(_cmd(), cwd=killed, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while _finished(killed) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = _finished(killed)
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= at_kill < VIDEOS, f"kill landed at {at_kill} finished videos"
    assert not (killed / "reports/faces/part=0.json").exists()

    rerun = subprocess.run(_cmd(), cwd=killed, env=env, check=True, capture_output=True, text=True, timeout=600)
    report = json.loads((killed / "reports/faces/part=0.json").read_text())
    assert report["resume"] == {"reused_videos": at_kill, "computed_videos": VIDEOS - at_kill}
    assert f"{at_kill:,} reused" in rerun.stdout
    assert _outputs(killed) == _outputs(clean)
