"""The model and deploy stages take every path from params.yaml ``paths:`` (#15 item 2).

dvc.yaml templates each path (``${paths.onnx}``) into the stage's cmd, deps and outs,
and the stage script receives it as a required argument: a literal path in either place
would be a second owner that a changed ``paths:`` entry leaves behind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask.deploy.calib import deploy_draws
from dfmask.params import BenchmarkParams, DeployParams, ExportParams, QuantizeParams

REPO = Path(__file__).resolve().parents[2]
STAGES = ("train", "evaluate", "deploy_crops", "export", "quantize", "quantize_vai", "compile", "benchmark")
_LITERAL = re.compile(r"(?<![\w$}/.-])(data|models|reports)/")


def _dvc() -> dict[str, Any]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def _entries(stage: dict[str, Any]) -> list[str]:
    """The cmd and every data path a stage declares (code deps excluded)."""
    out = [stage["cmd"]]
    for key in ("deps", "outs", "metrics", "plots"):
        for item in stage.get(key, []):
            name = next(iter(item)) if isinstance(item, dict) else str(item)
            if not name.startswith(("src/", "stages/")):
                out.append(name)
    return out


@pytest.mark.parametrize("name", STAGES)
def test_stage_paths_are_templated_from_params_paths(name: str) -> None:
    literal = [e for e in _entries(_dvc()["stages"][name]) if _LITERAL.search(e)]
    assert not literal, f"stage {name}: use ${{paths.*}} instead of {literal}"


@pytest.mark.parametrize("name", STAGES)
def test_stage_script_has_no_path_defaults(name: str) -> None:
    tree = ast.parse((REPO / "stages" / f"{name}.py").read_bytes())
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flag = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
            for kw in node.keywords:
                if kw.arg == "default" and isinstance(kw.value, ast.Constant) and flag != "--params":
                    defaults[flag] = kw.value.value
    assert not defaults, f"stages/{name}.py: path defaults {defaults}; dvc.yaml passes every path"


def test_deploy_stages_read_exactly_the_draws_deploy_crops_writes() -> None:
    """The draw files named in dvc.yaml are the ones `deploy_draws` defines, each read by a stage."""
    draws = {d.name for d in deploy_draws(ExportParams(), QuantizeParams(), DeployParams(), BenchmarkParams())}
    read: set[str] = set()
    for name, entry in _dvc()["stages"].items():
        stage = entry.get("do", entry)
        named = set(re.findall(r"\$\{paths\.deploy_crops\}/(\w+)\.parquet", " ".join(_entries(stage))))
        assert named <= draws, f"stage {name} reads unknown draws {named - draws}"
        in_cmd = set(re.findall(r"\$\{paths\.deploy_crops\}/(\w+)\.parquet", stage["cmd"]))
        in_deps = {m for d in stage.get("deps", []) for m in re.findall(r"deploy_crops\}/(\w+)\.parquet", str(d))}
        assert in_cmd == in_deps, f"stage {name}: cmd reads {in_cmd}, deps declare {in_deps}"
        read |= in_cmd
    assert read == draws

