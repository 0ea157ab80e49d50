"""Workspaces and stage runs: each run is a temp folder laid out like the repo root
(params.yaml, corpus/, data/, reports/), and each stage is the real ``stages/<name>.py``
run there as DVC runs it (dvc.yaml's command for part 0, paths from the workspace's
params.yaml: `tools.stagecmd`)."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]
PART = 0
#: Every stage run gets this much address space and time: a runaway param (e.g.
#: faces.pyramid_factor > 1, 21 GB before the fix) becomes a `crash`, not an OOM kill.
ADDRESS_SPACE = 8 << 30
TIMEOUT_S = 300


@dataclass
class StageRun:
    """How one stage run ended: ``ok``, ``error:<line>`` or ``crash`` (+ ``detail``)."""

    stage: str
    outcome: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass
class Workspace:
    """A temp repo-root-like folder with one corpus part."""

    root: Path
    params: dict[str, Any]
    tmp_root: Path
    entries: list[tuple[str, object]] = field(default_factory=list)
    runs: dict[str, StageRun] = field(default_factory=dict)

    @classmethod
    def create(cls, tmp_root: Path, name: str, corpus_root: str = "corpus") -> Workspace:
        root = tmp_root / "ws" / name
        root.mkdir(parents=True)
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["corpus"] = {"root": corpus_root, "parts": [PART]}
        ws = cls(root, params, tmp_root)
        ws.write_params()
        return ws

    @property
    def part_dir(self) -> Path:
        return self.root / self.params["corpus"]["root"] / f"dfdc_train_part_{PART}"

    def write_params(self, text_edit: Callable[[str], str] | None = None) -> None:
        text = yaml.safe_dump(self.params, sort_keys=False)
        (self.root / "params.yaml").write_text(text_edit(text) if text_edit else text)

    def add(self, name: str, src: Path | None, label: str | None = "REAL", original: str | None = None) -> None:
        """List ``name`` in metadata.json and copy ``src`` there (None: listed only)."""
        if src is not None:
            dst = self.part_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        entry: dict[str, str] = {"split": "train"}
        if label is not None:
            entry["label"] = label
        if original is not None:
            entry["original"] = original
        self.entries.append((name, entry))

    def write_metadata(self) -> None:
        """metadata.json in listing order; a name listed twice is written twice."""
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in self.entries)
        self.part_dir.mkdir(parents=True, exist_ok=True)
        (self.part_dir / "metadata.json").write_text("{\n" + body + "\n}\n", encoding="utf-8")

    def run(self, stage: str) -> StageRun:
        """``stage`` (part `PART` where it runs per part) as dvc.yaml runs it. ``ingest``
        runs the ``inventory`` stage first, as `dvc repro` does: the corpus is read there
        (metadata.json, names, links, hashes), so an error of the inventory is the
        ingest's outcome too (the catalogue's cases name ``ingest`` as the corpus's reader)."""
        if stage == "ingest":
            inventory = run_command("inventory", stage_argv("inventory", PART, self.params), self.root, self.tmp_root)
            self.runs["inventory"] = inventory
            if not inventory.ok:
                self.runs[stage] = inventory
                return inventory
        result = run_command(stage, stage_argv(stage, PART, self.params), self.root, self.tmp_root)
        self.runs[stage] = result
        return result

    def run_pipeline(self, stages: Sequence[str]) -> bool:
        """Run the stages in order; stop at the first that does not end ``ok``."""
        return all(self.run(stage).ok for stage in stages)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(REPO / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_command(
    stage: str,
    cmd: Sequence[str],
    cwd: Path,
    tmp_root: Path,
    timeout: float = TIMEOUT_S,
    dvc: bool = False,
) -> StageRun:
    """Run ``cmd`` and classify how it ended (see `classify`)."""
    env = _env()
    env["DVC_NO_ANALYTICS"] = "1"
    try:
        proc = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            preexec_fn=_limit_memory,  # only setrlimit: safe before exec
        )
    except subprocess.TimeoutExpired:
        return StageRun(stage, "crash", f"timed out after {timeout:.0f} s")
    return classify(stage, proc.returncode, (proc.stdout + proc.stderr) if dvc else proc.stderr, tmp_root, dvc)


def sanitise(text: str, tmp_root: Path) -> str:
    """One line, without the temp folder's absolute path, random temp file names or
    object addresses, so the report is the same from run to run."""
    text = text.replace(str(tmp_root.resolve()), "<tmp>").replace(str(tmp_root), "<tmp>")
    text = text.replace(str(REPO), "<repo>")
    text = re.sub(r"\.[a-z0-9_]{8}\.tmp\b", ".<random>.tmp", text)  # tempfile names
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", text).strip()


def classify(stage: str, returncode: int, stderr: str, tmp_root: Path, dvc: bool = False) -> StageRun:
    """``ok`` (exit 0); ``error:<line>`` (exit 2, last stderr line is the stage's
    ``<stage>: error: ...`` line, no traceback); anything else is ``crash``. Under
    ``dvc repro`` (``dvc``), DVC's own one-line ``ERROR: ...`` is ``error:dvc: ...``
    unless the stage's line is there."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    last = sanitise(lines[-1], tmp_root) if lines else ""
    if returncode == 0 and not (dvc and any(ln.startswith("ERROR:") for ln in lines)):
        return StageRun(stage, "ok")
    prefix = f"{stage}: error: "
    if dvc and "Traceback (most recent call last)" not in stderr:
        own = [sanitise(ln, tmp_root) for ln in lines if ln.startswith(prefix)]
        if own:
            return StageRun(stage, "error:" + own[-1].removeprefix(prefix))
        errors = [sanitise(ln, tmp_root) for ln in lines if ln.startswith("ERROR:")]
        if errors:
            return StageRun(stage, "error:dvc: " + errors[0].removeprefix("ERROR:").strip())
    if returncode == 2 and "Traceback (most recent call last)" not in stderr and last.startswith(prefix):
        return StageRun(stage, "error:" + last.removeprefix(prefix))
    why = f"exit {returncode}" if returncode >= 0 else f"killed by signal {-returncode}"
    return StageRun(stage, "crash", f"{why}: {last[:300]}")
