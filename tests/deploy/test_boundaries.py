"""The deploy path stays light: no deploy module imports Lightning or the training data,
and only the deploy_crops stage (`dfmask.deploy.crop_sample`) reads the crop index.

The deploy stages read their crops from the small ``deploy_crops`` tables
(`dfmask.deploy.calib`); if one of them imported `dfmask.model.crop_index` again, every
deploy stage would re-join the whole corpus and go stale whenever the crop join changed;
if one imported `dfmask.model.data`, it would load Lightning too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dfmask.codedeps import PACKAGE_DIR, source_files

REPO = PACKAGE_DIR.parents[1]
DEPLOY_STAGES = ("export", "quantize", "quantize_vai", "compile", "benchmark")
DEPLOY_MODULES = sorted(
    p for p in (PACKAGE_DIR / "deploy").rglob("*.py") if p.parent.name != "vai"  # vai/: the py3.8 env's own
)
#: dfmask modules that carry the training data or Lightning: no deploy code runs them.
TRAINING_SIDE = {PACKAGE_DIR / "model" / name for name in ("data.py", "lightning.py", "train.py")}
#: The crop index (the whole-corpus join): only the deploy_crops stage runs it.
CROP_INDEX = PACKAGE_DIR / "model" / "crop_index.py"
CROP_SAMPLE = PACKAGE_DIR / "deploy" / "crop_sample.py"


def _third_party_roots(path: Path) -> set[str]:
    """Top-level names of every import in ``path`` (functions included)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("entry", [*(f"stages/{s}.py" for s in DEPLOY_STAGES), *DEPLOY_MODULES], ids=str)
def test_deploy_code_runs_neither_the_crop_join_nor_lightning(entry: str | Path) -> None:
    files = source_files(REPO / entry)
    assert not TRAINING_SIDE & set(files), sorted(str(f) for f in TRAINING_SIDE & set(files))
    if Path(entry) != CROP_SAMPLE:
        assert CROP_INDEX not in files, f"{entry} runs the whole-corpus crop join"
    lightning = [f for f in files if f.suffix == ".py" and {"lightning", "pytorch_lightning"} & _third_party_roots(f)]
    assert not lightning, lightning


def test_the_boundary_check_sees_a_lazy_import_of_the_crop_join() -> None:
    """The train stage imports the join inside a function: the walk must still find it."""
    assert PACKAGE_DIR / "model" / "data.py" in source_files(REPO / "stages/train.py")
    assert CROP_INDEX in source_files(REPO / "stages/deploy_crops.py")
    assert not TRAINING_SIDE & set(source_files(REPO / "stages/deploy_crops.py"))


def test_importing_every_deploy_module_loads_no_lightning() -> None:
    names = [".".join(p.relative_to(PACKAGE_DIR.parent).with_suffix("").parts) for p in DEPLOY_MODULES]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name.removesuffix('.__init__'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')"
        " or m == 'dfmask.model.data'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
