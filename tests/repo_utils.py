"""Helpers for tests that build real git + DVC repositories (importable as `repo_utils`;
pyproject puts tests/ on the pytest pythonpath)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", REPO / ".cache" / "faces")).resolve()


def run(cmd: Sequence[str], cwd: Path, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run a command with the venv first on PATH; show its output if it fails."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("DVC_NO_ANALYTICS", None)
    env["DVC_NO_ANALYTICS"] = "1"
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def set_params(repo: Path, updates: dict[str, object]) -> None:
    """Set dotted keys (``sample.profile``) in the repo's params.yaml."""
    path = repo / "params.yaml"
    doc = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


#: The tiny test profile: the ci sample corpus, and a few seconds of training. These are
#: the same keys a user would pass with `dvc exp run -S`.
CI_PARAMS: dict[str, object] = {
    "sample.profile": "ci",
    "train.max_epochs": 1,
    "train.samples_per_epoch": 64,
    "train.val_crops_per_video": 2,
}


def init_repo(dest: Path, params: dict[str, object] | None = None) -> Path:
    """A fresh git + DVC repo holding this project's pipeline definition and code."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (dest / ".gitignore").write_text("/data/.work/\n__pycache__/\n")
    set_params(dest, {**CI_PARAMS, "sample.sources_cache": str(FACES_CACHE), **(params or {})})
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "config", "user.email", "ci@dfmask.test"], dest)
    run(["git", "config", "user.name", "dfmask tests"], dest)
    run(["dvc", "init", "-q"], dest)
    run(["dvc", "config", "core.autostage", "true"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "pipeline"], dest)
    return dest


def copy_repo(src: Path, dest: Path) -> Path:
    """Copy a built pipeline repo (workspace, .git, .dvc cache) to ``dest``."""
    shutil.copytree(src, dest, symlinks=True)
    return dest
