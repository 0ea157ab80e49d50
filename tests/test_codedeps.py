"""dvc.yaml's code deps are exactly the files each stage runs (`dfmask.codedeps`).

A stage whose code is missing from its deps goes silently stale (DVC does not re-run it
when that code changes); a stage that lists code it never runs re-runs for nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask import codedeps
from dfmask.codedeps import CodeDepsError, source_files, stage_deps

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = re.compile(r"\bpython3?\s+(stages/\S+\.py)\b")
_CODE_ROOTS = ("src/", "stages/")


def _stages(dvc_yaml: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each stage's definition (the ``do`` of a foreach stage)."""
    return {name: stage.get("do", stage) for name, stage in dvc_yaml["stages"].items()}


def _files_under(dep: str, root: Path) -> list[str]:
    """The files a code dep stands for: itself, or every file under a folder dep (what
    DVC hashes, less Python's caches)."""
    path = root / dep
    if path.is_dir():
        return sorted(
            p.relative_to(root).as_posix()
            for p in path.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        )
    return [dep]


def deps_mismatches(dvc_yaml: dict[str, Any], root: Path = REPO) -> dict[str, tuple[list[str], list[str]]]:
    """Per stage: (code it runs that its deps miss, code deps it does not run)."""
    out = {}
    for name, stage in _stages(dvc_yaml).items():
        match = _SCRIPT.search(stage["cmd"])
        assert match, f"stage {name}: cmd {stage['cmd']!r} runs no stages/*.py script"
        runs = set(stage_deps(match.group(1), root))
        declared = [str(d) for d in stage.get("deps", []) if str(d).startswith(_CODE_ROOTS)]
        covered = {f for d in declared for f in _files_under(d, root)}
        missing = sorted(runs - covered)
        extra = [d for d in declared if not set(_files_under(d, root)) <= runs or not (root / d).exists()]
        extra += [d for d, n in Counter(declared).items() if n > 1 and d not in extra]  # merge leftovers
        if missing or extra:
            out[name] = (missing, extra)
    return out


def describe(mismatches: dict[str, tuple[list[str], list[str]]]) -> str:
    """The dvc.yaml lines to add and remove, per stage (paste-ready)."""
    lines = []
    for name, (missing, extra) in mismatches.items():
        if missing:
            lines.append(f"stage {name}: add to deps (the stage runs them):")
            lines += [f"  - {f}" for f in missing]
        if extra:
            lines.append(f"stage {name}: remove from deps (not run, a folder holding such code, or listed twice):")
            lines += [f"  - {f}" for f in extra]
    return "\n".join(lines)


def test_every_stage_declares_exactly_the_code_it_runs() -> None:
    mismatches = deps_mismatches(yaml.safe_load((REPO / "dvc.yaml").read_text()))
    assert not mismatches, "dvc.yaml code deps differ from the stages' imports:\n" + describe(mismatches)


def test_a_missing_or_an_unused_code_dep_is_caught_and_named() -> None:
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    quantize = doc["stages"]["quantize"]
    quantize["deps"].remove("src/dfmask/deploy/runners.py")
    quantize["deps"].append("src/dfmask/metrics.py")
    faces = doc["stages"]["faces"]["do"]  # a foreach stage
    faces["deps"].remove("src/dfmask/faces/detect.py")
    faces["deps"].append("src/dfmask/faces")  # a folder dep: also covers quality.py, which faces never runs
    doc["stages"]["masks"]["do"]["deps"].append("src/dfmask/ssim.py")  # twice, as a merge may leave it
    mismatches = deps_mismatches(doc)
    assert mismatches == {
        "quantize": (["src/dfmask/deploy/runners.py"], ["src/dfmask/metrics.py"]),
        "faces": ([], ["src/dfmask/faces"]),
        "masks": ([], ["src/dfmask/ssim.py"]),
    }
    message = describe(mismatches)
    assert "stage quantize: add to deps (the stage runs them):\n  - src/dfmask/deploy/runners.py" in message
    assert "  - src/dfmask/metrics.py" in message


def test_no_stage_depends_on_all_of_the_library() -> None:
    """Depending on all of src/dfmask would re-run every stage for any edit."""
    for name, stage in _stages(yaml.safe_load((REPO / "dvc.yaml").read_text())).items():
        assert not {"src", "src/", "src/dfmask", "src/dfmask/"} & set(map(str, stage.get("deps", []))), name


def test_hand_declared_reads_are_named_by_their_reader_and_cover_every_data_file() -> None:
    """`codedeps.READS` is the one hand-kept list: each file it names is named in its
    reader's source, and every non-Python file in the package is in it (or is a marker)."""
    for reader, reads in codedeps.READS.items():
        text = (codedeps.PACKAGE_DIR / reader).read_text()
        for rel in reads:
            assert (codedeps.PACKAGE_DIR / rel).is_file(), rel
            assert Path(rel).name in text, f"{reader} does not mention {rel}: is READS stale?"
    declared = {r for reads in codedeps.READS.values() for r in reads}
    data = {
        p.relative_to(codedeps.PACKAGE_DIR).as_posix()
        for p in codedeps.PACKAGE_DIR.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc", ".typed"} and "__pycache__" not in p.parts
    }
    assert data <= declared, f"data files in src/dfmask with no reader in codedeps.READS: {sorted(data - declared)}"


# --- the walk's rules, on a small package of our own -------------------------------


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway `dfmask` package that `dfmask.codedeps` walks instead of the real one."""
    pkg = tmp_path / "src" / "dfmask"
    files = {
        "__init__.py": "",
        "a.py": "import os\nfrom dfmask import b\n",
        "b.py": "def f():\n    from .sub import c  # lazy and relative\n    return c\n",
        "sub/__init__.py": "from ..d import X\n",
        "sub/c.py": "",
        "d.py": "X = 1\n",
        "typing_only.py": "",
        "main_only.py": "",
        "other.py": "",
        "dyn.py": "",
        "reads.py": "",
        "data.json": "{}",
        "apart.py": "import dfmask.other  # runs in another interpreter; not followed\n",
        "e.py": (
            "from typing import TYPE_CHECKING\nimport importlib\n"
            "if TYPE_CHECKING:\n    import dfmask.typing_only\nelse:\n    import dfmask.d\n"
            "M = importlib.import_module('dfmask.dyn')\n"
            "import dfmask.reads\n"
            "if __name__ == '__main__':\n    import dfmask.main_only\n"
        ),
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    monkeypatch.setattr(codedeps, "PACKAGE_DIR", pkg.resolve())
    monkeypatch.setattr(codedeps, "READS", {"reads.py": ("data.json", "apart.py")})
    codedeps._walk.cache_clear()
    codedeps._direct.cache_clear()
    yield tmp_path
    codedeps._walk.cache_clear()
    codedeps._direct.cache_clear()


def _names(files: list[Path], root: Path) -> set[str]:
    return {p.relative_to(root.resolve()).as_posix() for p in files}


def test_walk_follows_lazy_relative_and_submodule_imports_and_package_inits(package: Path) -> None:
    assert _names(source_files("dfmask.a"), package) == {
        "src/dfmask/__init__.py",
        "src/dfmask/a.py",
        "src/dfmask/b.py",
        "src/dfmask/sub/__init__.py",  # `from .sub import c` runs the package first
        "src/dfmask/sub/c.py",  # a `from` name that is a submodule
        "src/dfmask/d.py",  # via sub/__init__.py's `from ..d import X`
    }


def test_walk_skips_type_checking_and_a_library_modules_main_block(package: Path) -> None:
    files = _names(source_files("dfmask.e"), package)
    assert "src/dfmask/typing_only.py" not in files and "src/dfmask/d.py" in files  # else branch runs
    assert "src/dfmask/dyn.py" in files  # importlib.import_module('dfmask.dyn')
    assert "src/dfmask/main_only.py" not in files  # never runs when e is imported
    # declared reads join with their reader; a program run apart is not walked
    assert {"src/dfmask/data.json", "src/dfmask/apart.py"} <= files and "src/dfmask/other.py" not in files


def test_a_script_runs_its_main_block(package: Path) -> None:
    script = package / "stages" / "e.py"
    script.parent.mkdir()
    script.write_text((package / "src/dfmask/e.py").read_text())
    assert stage_deps("stages/e.py", package)[-1] == "stages/e.py"
    assert "src/dfmask/main_only.py" in stage_deps("stages/e.py", package)


def test_an_import_of_a_missing_module_names_the_file_and_line(package: Path) -> None:
    (package / "src/dfmask/bad.py").write_text("\n\nfrom dfmask.nope import x\n")
    with pytest.raises(CodeDepsError, match=r"bad\.py:3: `dfmask\.nope` names no module"):
        source_files("dfmask.bad")


# --- DVC itself: an edit re-runs exactly the stages that import the edited module ---


def _stand_in_outputs(repo: Path) -> None:
    """Stand-in files for every stage's deps and outs, so `dvc commit` can record a
    dvc.lock without running anything (a file where the path has a suffix, else a folder)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        paths = {
            Path(str(item.def_path))
            for stage in dvc.index.stages
            for item in (*stage.deps, *stage.outs)
            if not str(item.def_path).startswith(_CODE_ROOTS)
        }
    for rel in sorted(paths, key=lambda p: len(p.parts)):
        path = repo / rel
        if path.exists():  # params.yaml, or inside a folder made already
            continue
        if rel.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"stand-in {rel}\n")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "stand-in.txt").write_text(f"stand-in {rel}\n")


@pytest.mark.slow
def test_dvc_status_after_an_edit_marks_only_the_stages_that_import_it(tmp_path: Path) -> None:
    from repo_utils import init_repo, run

    repo = init_repo(tmp_path / "repo")
    _stand_in_outputs(repo)
    run(["dvc", "commit", "-f", "-q"], repo)
    assert run(["dvc", "status", "--json"], repo).stdout.strip() == "{}"

    stages = _stages(yaml.safe_load((repo / "dvc.yaml").read_text()))
    scripts = {name: _SCRIPT.search(stage["cmd"]).group(1) for name, stage in stages.items()}  # type: ignore[union-attr]
    expected: set[str] = set()
    # a leaf module, then one that the deploy stages share through their imports
    for edited in ("src/dfmask/deploy/benchmark.py", "src/dfmask/deploy/calib.py"):
        with (repo / edited).open("a") as f:
            f.write("# an edit\n")
        expected |= {name for name, script in scripts.items() if edited in stage_deps(script)}
        changed = set(yaml.safe_load(run(["dvc", "status", "--json"], repo).stdout))
        assert changed == expected, edited
    assert expected == {"deploy_crops", "export", "quantize", "quantize_vai", "compile", "benchmark"}
