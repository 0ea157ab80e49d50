"""The ``dfmask`` command: one layer of commands, documented options, one-line errors."""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dfmask.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "dfmask"

#: Every runnable command; dropping or renaming one must be a deliberate edit here.
COMMANDS = {
    ("quality", "faces"),
    ("quality", "splits"),
    ("quality", "masks"),
    ("seeds",),
    ("release", "publish"),
    ("sources", "fetch"),
    ("sources", "verify"),
    ("predict",),
    ("serve",),
}


def dfmask(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m dfmask ARGS`` with this checkout's src/ first on the path."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(
        [sys.executable, "-m", "dfmask", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree with its words, the root first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def leaves() -> set[tuple[str, ...]]:
    return {path for path, p in parsers(build_parser()) if p.get_default("handler") is not None}


def test_the_tree_holds_exactly_the_commands():
    assert leaves() == COMMANDS


def test_top_level_help_lists_every_command():
    res = dfmask("--help")
    assert res.returncode == 0, res.stderr
    for words in COMMANDS:
        assert re.search(rf"^\s+dfmask {' '.join(words)}\s+\S", res.stdout, re.M), words


@pytest.mark.parametrize("words", sorted(COMMANDS | {("quality",), ("release",), ("sources",)}))
def test_every_command_help_exits_0(words, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*words, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: dfmask {' '.join(words)}")


def test_every_option_and_command_has_help_and_documents_its_default():
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            where = f"dfmask {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert (choice.help or "").strip(), f"{where} {choice.dest}: no help"
                continue
            assert (action.help or "").strip(), f"{where}: no help"
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.required or "default" in action.help, f"{where}: default not documented"


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from dfmask.cli import build_parser; build_parser().format_help(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'lightning', 'numpy', 'pandas', 'cv2', 'pyarrow', 'sklearn', 'dvc'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr


def _one_line_error(res: subprocess.CompletedProcess[str], prefix: str) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prefix}: error: "), res.stderr
    return lines[0]


def test_missing_input_is_one_line_and_exit_2(tmp_path):
    # The default splits table comes from the params file's paths: section.
    (tmp_path / "params.yaml").write_text(
        "paths: {splits: elsewhere/splits.parquet}\ncorpus: {root: data/sample/corpus, parts: [0]}\n"
    )
    line = _one_line_error(dfmask("quality", "splits", cwd=tmp_path), "dfmask quality splits")
    assert "elsewhere/splits.parquet" in line


def test_missing_input_folder_is_one_line_and_exit_2(tmp_path):
    # The default faces folder comes from the params file's paths: section.
    (tmp_path / "params.yaml").write_text(
        "paths: {faces: elsewhere/faces}\ncorpus: {root: data/sample/corpus, parts: [3]}\nfaces: {}\n"
    )
    line = _one_line_error(dfmask("quality", "faces", cwd=tmp_path), "dfmask quality faces")
    assert "elsewhere/faces/part=3" in line


def test_an_input_that_is_no_parquet_table_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("paths: {sample: data/sample}\ncorpus: {root: /data/dfdc, parts: [0]}\n")
    (tmp_path / "s.parquet").write_text("video_id,split\na,train\n")  # a CSV under a Parquet name
    (tmp_path / "t.parquet").write_bytes(b"PAR1")  # truncated
    cmd = ("quality", "splits", "--splits", "s.parquet", "--ground-truth", "t.parquet")
    line = _one_line_error(dfmask(*cmd, cwd=tmp_path), "dfmask quality splits")
    assert "s.parquet: not a Parquet table" in line


def test_a_preview_name_opencv_cannot_write_is_refused_before_any_work(tmp_path):
    (tmp_path / "params.yaml").write_text("paths: {faces: elsewhere/faces}\ncorpus: {root: x, parts: [0]}\nfaces: {}\n")
    cmd = ("quality", "faces", "--ground-truth", "t.parquet", "--preview", "reports/preview")
    line = _one_line_error(dfmask(*cmd, cwd=tmp_path), "dfmask quality faces")
    assert "--preview reports/preview: give a .png or .jpg file name" in line
    assert not (tmp_path / "reports").exists()  # no report written before the refusal


def test_no_ground_truth_for_a_real_corpus(tmp_path):
    (tmp_path / "params.yaml").write_text("paths: {sample: data/sample}\ncorpus: {root: /data/dfdc, parts: [0]}\n")
    line = _one_line_error(dfmask("quality", "splits", "--splits", "s.parquet", cwd=tmp_path), "dfmask quality splits")
    assert "/data/dfdc" in line and "--ground-truth" in line


def test_unverified_sources_and_usage_errors_are_one_line(tmp_path):
    line = _one_line_error(dfmask("sources", "verify", "--cache", str(tmp_path)), "dfmask sources verify")
    assert "missing" in line and f"dfmask sources fetch --cache {tmp_path}" in line
    line = _one_line_error(dfmask("release", "publish"), "dfmask release publish")
    assert "--version" in line
    _one_line_error(dfmask("seeds", "--jobs", "many"), "dfmask seeds")
    _one_line_error(dfmask(), "dfmask")


def test_seeds_and_sources_take_their_defaults_from_the_params_file(tmp_path, monkeypatch, capsys):
    import dfmask.model.seeds as seeds

    params = tmp_path / "params.yaml"
    params.write_text(
        "paths: {work: w, reports: r}\ncorpus: {root: data/sample/corpus, parts: [1]}\n"
        "sample: {sources_cache: my-cache}\ntrain: {}\nevaluate: {}\n"
    )
    seen = {}

    def fake_eval_seeds(train, evaluate, corpus, paths, work, out, jobs):
        seen.update(parts=corpus.parts, tables=paths.faces, work=work, out=out, jobs=jobs)
        return {"seeds": [], "summary": {name: {"mean": None, "sd": None} for name in seeds.FIGURES}}

    monkeypatch.setattr(seeds, "eval_seeds", fake_eval_seeds)
    assert main(["seeds", "--params", str(params), "--jobs", "2"]) == 0
    assert seen == {
        "parts": (1,),
        "tables": "data/interim/faces",  # paths.faces' default: the params file leaves it out
        "work": Path("w/eval_seeds"),
        "out": Path("r/eval_seeds.json"),
        "jobs": 2,
    }
    assert capsys.readouterr().out.startswith("dfmask seeds: 0 seeds: ")
    with pytest.raises(SystemExit) as exc:
        main(["sources", "verify", "--params", str(params)])
    assert exc.value.code == 2 and "my-cache/" in capsys.readouterr().err


def test_pyproject_declares_the_console_script():
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert doc["project"]["scripts"] == {"dfmask": "dfmask.cli:main"}


def _main_blocks(path: Path) -> list[int]:
    """Lines of ``if __name__ == "__main__":`` anywhere in the module."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    ]


def test_one_layer_of_commands():
    """No library module keeps its own ``python -m`` entry: only dfmask/__main__.py and
    the Vitis AI entry points (run by Python 3.8 in the Vitis AI environment)."""
    allowed = {SRC / "__main__.py"} | set((SRC / "deploy" / "vai").glob("*.py"))
    found = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if p not in allowed and _main_blocks(p)}
    assert found == set()
    assert sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("__main__.py")) == ["__main__.py"]


def test_no_file_names_a_removed_entry():
    """The Makefile, README, docs and library name the command, not ``python -m dfmask.X``."""
    files = [REPO / "Makefile", REPO / "README.md", REPO / "dvc.yaml", *REPO.glob("docs/*.md")]
    files += [*SRC.rglob("*.py"), *SRC.rglob("*.json"), *REPO.glob("stages/*.py")]
    stale = [
        f"{p.relative_to(REPO)}:{m.group(0)}" for p in files for m in re.finditer(r"-m dfmask\.\w+", p.read_text())
    ]
    assert stale == []
