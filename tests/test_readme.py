"""The README's commands work as written (read from README.md itself, not a copy).

Fast checks, on every command of every ```bash block: the block parses (``bash -n``),
each ``make`` target exists, each ``dfmask`` command line parses with the real parser,
each repository path named exists; ```python blocks parse. The slow test clones the
repository into a temp folder (the `.venv` and face cache linked in, as `make setup`
would have made them) and runs the commands that are cheap there; `NOT_RUN` lists the
others, each with its reason.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from repo_utils import FACES_CACHE, REPO, VENV_BIN

from dfmask.cli import build_parser

README = REPO / "README.md"

#: Commands the slow test does not run, by a substring of the command, and why.
NOT_RUN: dict[str, str] = {
    "make repro": "runs the whole pipeline (about 25 minutes); tests/test_pipeline.py runs it on the ci corpus",
    "make test": "runs the whole test suite, this test included",
    "dvc exp run": "trains a model (minutes); tests/test_pipeline.py runs `dvc exp run -S` on the ci corpus",
    "dvc plots diff": "renders every plot of the workspace; the plots have their own tests",
    "dvc remote": "a maintainer's one-time remote setup: changes .dvc/config and needs a real bucket",
    "git commit .dvc/config": "a maintainer's one-time remote setup",
    "dvc push": "needs a shared remote with write access",
    "dvc pull": "needs a shared remote holding the outputs",
    "dfmask quality": "needs the pipeline's outputs (make repro first)",
    "dfmask seeds": "trains one model per seed",
    "dfmask predict": "needs a trained model (make repro first); tests/inference runs it on a tiny model",
    "dfmask serve": "serves until stopped; tests/inference starts it and drives it from a browser",
    "dfmask release publish": "tags a release and pushes it",
    "dfmask sources fetch": "downloads when the face cache is missing; `dfmask sources verify` runs instead",
    "$REPO": "a researcher's commands against a published release (REPO is a placeholder URL)",
    "REPO=": "a placeholder URL",
    "masks-v1.0.0": "works on a downloaded release",
    "mkdir -p data/external": "part of the researcher's own project, not this one",
}


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), re.S | re.M)


def _commands() -> list[str]:
    """Every command line of the bash blocks, comments stripped (no block continues lines)."""
    commands = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words) if "$" not in line else line.split(" #")[0].strip())
    return commands


def _make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def test_readme_has_commands() -> None:
    commands = _commands()
    assert "source .venv/bin/activate" in commands
    assert any(c.startswith("dvc exp run evaluate") for c in commands)
    assert any(c.startswith("dvc exp show") for c in commands)


@pytest.mark.parametrize("block", _blocks("bash"), ids=lambda b: b.splitlines()[0][:40])
def test_bash_blocks_parse(block: str) -> None:
    proc = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("block", _blocks("python"), ids=lambda b: b.splitlines()[0][:40])
def test_python_blocks_parse(block: str) -> None:
    ast.parse(block)


def test_make_targets_exist() -> None:
    targets = _make_targets()
    named = [shlex.split(c)[1] for c in _commands() if c.startswith("make ")]
    named += re.findall(r"`make ([a-z][\w-]*\w)(?![\w*-])", README.read_text())  # not `make bench-*`
    assert named
    missing = sorted({t for t in named if t not in targets})
    assert not missing, f"README names make targets the Makefile lacks: {missing}"


def test_dfmask_commands_parse() -> None:
    parser = build_parser()
    lines = [c for c in _commands() if c.startswith("dfmask ")]
    assert len(lines) >= 5
    for line in lines:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit as err:  # argparse's way of refusing
            raise AssertionError(f"README command does not parse: {line}") from err


def test_repository_paths_named_exist() -> None:
    text = README.read_text()
    linked = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)  # markdown links to files
    quoted = re.findall(r"`((?:docs|src|stages|tools|tests)/[\w./-]+)`", text)
    paths = {p for p in linked + quoted if "<" not in p and "*" not in p}
    assert "docs/design.md" in paths and "docs/pipeline.md" in paths
    missing = sorted(p for p in paths if not (REPO / p).exists())
    assert not missing, f"README names files that do not exist: {missing}"


def _skipped(command: str) -> str | None:
    return next((why for marker, why in NOT_RUN.items() if marker in command), None)


def test_every_command_is_run_or_has_a_reason() -> None:
    """A new README command is either cheap enough to run in the slow test or listed."""
    ran = [c for c in _commands() if _skipped(c) is None]
    assert "source .venv/bin/activate" in ran
    assert all(len(why) > 10 for why in NOT_RUN.values())


@pytest.mark.slow
def test_readme_commands_run_in_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "dfmask"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=600)
    (clone / ".venv").symlink_to(VENV_BIN.parent)  # what `make setup` builds
    (clone / ".cache").mkdir()
    (clone / ".cache" / "faces").symlink_to(FACES_CACHE)
    env = {**os.environ, "PYTHONPATH": str(clone / "src"), "DVC_NO_ANALYTICS": "1", "COLUMNS": "160"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    ran = []
    for command in _commands():
        if _skipped(command) is not None:
            continue
        if command.startswith("dfmask sources") and not FACES_CACHE.exists():
            continue
        script = f"set -euo pipefail\nsource .venv/bin/activate\n{command}\n"
        proc = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{command}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        assert "…" not in proc.stdout, f"{command}: a column did not fit 160 columns\n{proc.stdout}"
        ran.append(command)
    assert any(c.startswith("dvc exp show") for c in ran), ran
