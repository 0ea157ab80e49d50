"""The library's packages follow the data: no stage's code reaches back to a later one.

corpus → faces → {identity, masks} → splits → {model, release} → deploy → inference, over shared
infrastructure (params, tables, schemas, ...) that imports no stage package. A module
may import its own package, the infrastructure, and packages of earlier stages only;
``dfmask.cli`` (the command) sits on top and may import anything. Imports inside
functions count: they run when called (the same walk as `dfmask.codedeps`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dfmask.codedeps import PACKAGE_DIR

#: Stage packages in data-flow order; equal ranks must not import each other.
FLOW = {
    "corpus": 0,
    "faces": 1,
    "identity": 2,
    "masks": 2,
    "splits": 3,
    "model": 4,
    "release": 4,
    "deploy": 5,
    "inference": 6,
}
#: Shared infrastructure: importable from anywhere, imports no stage package.
INFRA = {
    "codedeps",
    "compute",
    "dlib_models",
    "errors",
    "headline",
    "metrics",
    "params",
    "progress",
    "schemas",
    "stage",
    "tables",
    "video",
    "workdir",
}
#: The command: may import everything, nothing imports it.
TOP = {"cli", "__main__", "__init__"}


def _package(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR)
    return rel.parts[0].removesuffix(".py")


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] if node.module != "dfmask" else [f"dfmask.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("dfmask.")}
    return found


MODULES = sorted(p for p in PACKAGE_DIR.rglob("*.py") if "vai" not in p.relative_to(PACKAGE_DIR).parts)


def reach_backs(path: Path) -> list[str]:
    """The packages ``path`` imports against the flow (empty when it keeps to it)."""
    own = _package(path)
    bad = []
    for target in sorted(_imported_packages(path) - {own}):
        if own in TOP or (target in INFRA and own not in INFRA):
            continue
        if target in TOP:
            bad.append(f"{target} (the command)")
        elif own in INFRA:
            bad.append(f"{target} (infrastructure imports no stage package)" if target in FLOW else "")
        elif target not in FLOW:
            bad.append(f"{target} (unknown package: add it to FLOW or INFRA)")
        elif FLOW[target] >= FLOW[own]:
            bad.append(f"{target} (stage rank {FLOW[target]} >= {own}'s {FLOW[own]})")
    return [b for b in bad if b]


def test_every_package_is_placed() -> None:
    packages = {_package(p) for p in MODULES}
    assert packages <= set(FLOW) | INFRA | TOP, sorted(packages - set(FLOW) - INFRA - TOP)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_imports_follow_the_data(path: Path) -> None:
    assert not reach_backs(path), f"{path.relative_to(PACKAGE_DIR)} imports {reach_backs(path)}"


def test_a_reach_back_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = PACKAGE_DIR / "faces" / "_probe.py"
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"def f():\n    from dfmask.model import train\n")
    assert reach_backs(fake) == ["model (stage rank 4 >= faces's 1)"]
    monkeypatch.setattr(Path, "read_bytes", lambda self: b"from dfmask import faces\n")
    assert reach_backs(PACKAGE_DIR / "tables.py") == ["faces (infrastructure imports no stage package)"]
