"""Running Vitis AI 3.0 tools (nndct, vai_c_xir, xbutil) from the dfmask pipeline.

The vendor tools live in another stack: the ``vitis-ai-pytorch`` conda env (Python
3.8, torch 1.13) inside the Vitis AI 3.0 docker. dfmask (Python 3.11) therefore never
imports them; it builds a command and runs it in that environment:

* ``deploy.launcher: conda`` — we already run inside the Vitis AI docker (the lab
  server's usual setup, after ``./docker_run.sh``): ``conda run -n vitis-ai-pytorch …``.
* ``deploy.launcher: docker`` — we run on the host: ``docker run --rm -v $PWD:/workspace
  -w /workspace <image> conda run -n vitis-ai-pytorch …`` (add the card's devices
  for VART; see docs/deploy.md).

`require_environment` checks the launcher and the conda env up front and raises a
`DfmaskError` saying what is missing and how to get it, before any artifact is
written. `vendor_command` is pure (tested here); `run_vendor` runs it and fails with
the tail of the tool's log.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from dfmask.errors import DfmaskError
from dfmask.params import DeployParams

HOW_TO_GET = (
    "the Vitis AI 3.0 tools run in the vitis-ai-pytorch conda env of the Vitis AI 3.0 docker: "
    "`docker pull xilinx/vitis-ai-pytorch-cpu:ubuntu2004-3.0.0.106`, then `./docker_run.sh "
    "xilinx/vitis-ai-pytorch-cpu:ubuntu2004-3.0.0.106` from a Vitis-AI v3.0 checkout and run dvc "
    "inside it (deploy.launcher=conda), or set deploy.launcher=docker to call the image from the host "
    "(docs/deploy.md)"
)


def vendor_command(params: DeployParams, argv: Sequence[str], workdir: str | Path = ".") -> list[str]:
    """``argv`` wrapped to run in the Vitis AI env selected by ``params``.

    Paths in ``argv`` must be relative to the repo root: with ``launcher=docker`` the
    repo is mounted at ``/workspace`` and used as the working directory.
    """
    inner = ["conda", "run", "--no-capture-output", "-n", params.conda_env, *argv]
    if params.launcher == "conda":
        return inner
    root = str(Path(workdir).resolve())
    return ["docker", "run", "--rm", "-v", f"{root}:/workspace", "-w", "/workspace", params.docker_image, *inner]


def require_environment(params: DeployParams, which: object = shutil.which) -> None:
    """Fail with a how-to if the launcher or the Vitis AI conda env is missing.

    ``which`` is injectable for tests (defaults to `shutil.which`).
    """
    finder = which if callable(which) else shutil.which
    tool = "conda" if params.launcher == "conda" else "docker"
    if finder(tool) is None:
        raise DfmaskError(f"deploy.launcher={params.launcher}: '{tool}' not found on PATH; {HOW_TO_GET}")
    if params.launcher == "conda":
        envs = _conda_envs()
        if not any(Path(e).name == params.conda_env for e in envs):
            raise DfmaskError(
                f"deploy.conda_env: conda env '{params.conda_env}' not found (have: "
                f"{', '.join(Path(e).name for e in envs) or 'none'}); {HOW_TO_GET}"
            )
    else:
        probe = subprocess.run(
            ["docker", "image", "inspect", params.docker_image], capture_output=True, text=True, check=False
        )
        if probe.returncode != 0:
            raise DfmaskError(
                f"deploy.docker_image: image '{params.docker_image}' not present locally; "
                f"`docker pull {params.docker_image}` first ({HOW_TO_GET})"
            )


def _conda_envs() -> list[str]:
    done = subprocess.run(["conda", "env", "list", "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DfmaskError(f"`conda env list` failed: {done.stderr.strip()[-300:]}")
    return list(json.loads(done.stdout).get("envs", []))


def run_vendor(command: Sequence[str], log_path: str | Path, what: str) -> str:
    """Run ``command``, keep its combined output in ``log_path``, fail with its tail."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise DfmaskError(f"{what}: '{command[0]}' not found; {HOW_TO_GET}") from err
    output = done.stdout + done.stderr
    log_path.write_text(output)
    if done.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-5:])
        raise DfmaskError(f"{what} failed (exit {done.returncode}); see {log_path}: {tail}")
    return output
