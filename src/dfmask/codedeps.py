"""Which source files a stage runs: the one list behind dvc.yaml's code deps and the
work keys' ``code`` hashes.

A static walk (no import is executed) of every ``import``/``from`` statement that names
a ``dfmask`` module, starting at a stage script or a library module, followed
transitively. What counts, and why:

* imports inside functions and methods count: a lazy import still runs when the stage
  calls that function, so its code shapes the output;
* ``importlib.import_module("dfmask.x")`` with a literal name counts (identity.embed does it);
* package ``__init__.py`` files count: importing ``dfmask.a.b`` executes
  ``dfmask/__init__.py`` and ``dfmask/a/__init__.py`` first;
* ``from dfmask.a import b`` counts ``dfmask/a/b.py`` when ``b`` is a submodule;
  relative imports are resolved against the importing module's package;
* the body of ``if TYPE_CHECKING:`` does not count: it never runs, so it cannot change
  an output (its ``else`` branch does count);
* the body of ``if __name__ == "__main__":`` counts only in the entry file itself (a
  stage script is run as ``__main__``; a library module's main block, e.g. a Vitis AI
  entry point under ``deploy/vai/``, never runs inside a stage).

Files that a module reads or runs without importing them (a JSON manifest beside it,
a Python 3.8 entry point run in the Vitis AI env) are declared by hand in `READS`,
keyed by the module that reads them; they join the list whenever that module does.

Third-party imports are not followed: library versions are hashed separately
(`dfmask.tables.library_versions`), and DVC does not track them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The repository root of a source checkout (``src/dfmask`` → the repo).
REPO_ROOT = PACKAGE_DIR.parents[1]
_ROOT_PACKAGE = PACKAGE_DIR.name  # "dfmask"

#: Files a module reads or runs without importing them, by the reading module's path
#: under src/dfmask (paths under src/dfmask too). Keep this the one hand-kept list.
READS: dict[str, tuple[str, ...]] = {
    # the pinned face-photo packages the sample generator downloads
    "corpus/sources.py": ("corpus/sources.json",),
    # Python 3.8 entry points run by `conda run`/`docker run` in the Vitis AI env
    "deploy/vck5000.py": ("deploy/vai/quantize_vai.py", "deploy/vai/uynet_py38.py"),
    "deploy/benchmark.py": ("deploy/vai/bench_vart.py",),
    # the upload page `dfmask serve` serves
    "inference/server.py": ("inference/page/app.css", "inference/page/app.js", "inference/page/index.html"),
}


class CodeDepsError(ValueError):
    """An import of a ``dfmask`` module that names no file (``file:line: ...``)."""


def _module_path(name: str) -> Path | None:
    """``dfmask.a.b`` → src/dfmask/a/b.py or src/dfmask/a/b/__init__.py (None if neither)."""
    parts = name.split(".")
    if parts[0] != _ROOT_PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if len(parts) > 1 and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _module_name(path: Path) -> str | None:
    """src/dfmask/a/b.py → ``dfmask.a.b``; src/dfmask/a/__init__.py → ``dfmask.a``."""
    try:
        rel = path.resolve().relative_to(PACKAGE_DIR)
    except ValueError:
        return None
    parts = [_ROOT_PACKAGE, *rel.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _run_nodes(nodes: Iterable[ast.AST], entry: bool) -> Iterator[ast.AST]:
    """Every node under ``nodes`` that can run, skipping ``if TYPE_CHECKING:`` bodies and,
    unless ``entry``, ``if __name__ == "__main__":`` bodies."""
    stack = list(nodes)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and (_is_type_checking(node.test) or (not entry and _is_main_guard(node.test))):
            children: list[ast.AST] = [node.test, *node.orelse]
        else:
            children = list(ast.iter_child_nodes(node))
        stack.extend(reversed(children))


def _imported_names(path: Path, entry: bool) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) for each import in ``path``; ``names`` are the ``from`` names."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    this = _module_name(path)
    package = (this if path.name == "__init__.py" else this.rpartition(".")[0]) if this else None
    for node in _run_nodes(tree.body, entry):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names if a.name != "*")
            if node.level:
                if package is None:
                    raise CodeDepsError(f"{path}:{node.lineno}: relative import outside the dfmask package")
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module, names
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, ()


def _files_of_import(path: Path, line: int, module: str, names: tuple[str, ...]) -> list[Path]:
    """The files an import executes: each package ``__init__`` on the way, the module, and
    each ``from`` name that is a submodule."""
    parts = module.split(".")
    if parts[0] != _ROOT_PACKAGE:
        return []
    files = []
    for i in range(1, len(parts) + 1):
        found = _module_path(".".join(parts[:i]))
        if found is None:
            raise CodeDepsError(f"{path}:{line}: `{module}` names no module under {PACKAGE_DIR}")
        files.append(found)
    if files[-1].name == "__init__.py":  # from a package: a name may be a submodule
        for name in names:
            sub = _module_path(f"{module}.{name}")
            if sub is not None:
                files.append(sub)
    return files


def _reads(path: Path) -> list[Path]:
    try:
        rel = path.resolve().relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        return []
    return [PACKAGE_DIR / r for r in READS.get(rel, ())]


@functools.cache
def _direct(path: Path, as_main: bool) -> tuple[Path, ...]:
    """The files ``path`` itself imports or reads (parsed once per process)."""
    files = [f.resolve() for imp in _imported_names(path, as_main) for f in _files_of_import(path, *imp)]
    return (*files, *_reads(path))


@functools.cache
def _walk(entry: Path, as_main: bool) -> tuple[Path, ...]:
    # READS files are data, or programs run apart whose own imports are their own
    run_apart = {PACKAGE_DIR / r for reads in READS.values() for r in reads}
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.suffix != ".py" or (path != entry and path in run_apart):
            continue
        todo.extend(_direct(path, as_main and path == entry))
    return tuple(sorted(seen))


def source_files(entry: str | Path) -> list[Path]:
    """Every source file that runs when ``entry`` runs: the entry itself, the ``dfmask``
    modules it imports transitively, and the files those modules read (`READS`).

    Args:
        entry: a module name (``"dfmask.faces.stage"``: imported, so its own
            ``__main__`` block does not count) or the path of a script
            (``stages/faces.py``: run as ``__main__``).

    Returns:
        Absolute paths, sorted.
    """
    if isinstance(entry, str) and not entry.endswith(".py"):
        path = _module_path(entry)
        if path is None:
            raise CodeDepsError(f"`{entry}` names no module under {PACKAGE_DIR}")
        return list(_walk(path.resolve(), False))
    return list(_walk(Path(entry).resolve(), True))


def stage_deps(script: str | Path, root: Path = REPO_ROOT) -> list[str]:
    """The code deps a DVC stage running ``script`` must declare: `source_files` as
    sorted POSIX paths relative to the repository ``root`` (``src/dfmask/...``)."""
    script = Path(script)
    if not script.is_absolute():
        script = root / script
    return sorted(p.relative_to(root.resolve()).as_posix() for p in source_files(script))
