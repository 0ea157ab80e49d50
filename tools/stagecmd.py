"""The command DVC runs for a stage: dvc.yaml's ``cmd`` with its ``${...}`` filled in.

Tests and tools (robustness, bench) run the real stage scripts outside DVC, in folders
laid out like the repository root. They take each script's arguments from here, so
dvc.yaml stays the one place that says where a stage reads and writes (from
params.yaml's ``paths:`` section), and a script run by hand gets exactly what DVC
passes. Only DVC's plain interpolation is filled: ``${section.key}`` from the params
document and ``${item}`` (the part of a ``foreach`` stage).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
_VAR = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*\}")


def _lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"${{{dotted}}}: not in the params document")
        node = node[key]
    return node


def render(cmd: str, params: Mapping[str, Any], part: int | None = None) -> str:
    """``cmd`` with ``${item}`` set to ``part`` and every ``${a.b}`` read from ``params``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "item":
            if part is None:
                raise KeyError(f"{cmd!r} is a foreach stage: give its part")
            return str(part)
        return str(_lookup(params, name))

    return _VAR.sub(value, cmd)


def stage_cmd(
    stage: str,
    part: int | None = None,
    params: Mapping[str, Any] | None = None,
    dvc_yaml: Path = REPO / "dvc.yaml",
) -> str:
    """The rendered ``cmd`` of ``stage`` (``part`` for a foreach stage). ``params``
    defaults to the repository's params.yaml."""
    doc = yaml.safe_load(dvc_yaml.read_text())["stages"][stage]
    cmd = (doc["do"] if "foreach" in doc else doc)["cmd"]
    if params is None:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
    return render(" ".join(str(cmd).split()), params, part)


def stage_argv(
    stage: str,
    part: int | None = None,
    params: Mapping[str, Any] | None = None,
    python: str = sys.executable,
) -> list[str]:
    """`stage_cmd` as an argv that runs from any folder: this interpreter and the
    repository's stage script (absolute), then the rendered arguments."""
    argv = shlex.split(stage_cmd(stage, part, params))
    if argv[:1] in (["python"], ["python3"]):
        argv[0] = python
    if len(argv) > 1 and argv[1].startswith("stages/"):
        argv[1] = str(REPO / argv[1])
    return argv
