"""Helpers for tests that build real git + DVC repositories (importable as `repo_utils`;
pyproject puts tests/ on the pytest pythonpath)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", REPO / ".cache" / "faces")).resolve()


def run(
    cmd: Sequence[str],
    cwd: Path,
    check: bool = True,
    timeout: float = 1800,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with the venv first on PATH (and ``env`` on top); show its output if it fails."""
    env = {**os.environ, **(env or {}), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("DVC_NO_ANALYTICS", None)
    env["DVC_NO_ANALYTICS"] = "1"
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def set_params(repo: Path, updates: dict[str, object]) -> None:
    """Set dotted keys (``sample.profile``) in the repo's params.yaml."""
    path = repo / "params.yaml"
    doc = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = doc
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


#: The tiny test profile: the ci sample corpus, and a few seconds of training. These are
#: the same keys a user would pass with `dvc exp run -S`.
CI_PARAMS: dict[str, object] = {
    "sample.profile": "ci",
    "train.max_epochs": 1,
    "train.samples_per_epoch": 64,
    "train.val_crops_per_video": 2,
}


def init_repo(dest: Path, params: dict[str, object] | None = None) -> Path:
    """A fresh git + DVC repo holding this project's pipeline definition and code."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, dest / name)
    for name in ("stages", "src"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (dest / ".gitignore").write_text("/data/.work/\n__pycache__/\n")
    set_params(dest, {**CI_PARAMS, "sample.sources_cache": str(FACES_CACHE), **(params or {})})
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "config", "user.email", "ci@dfmask.test"], dest)
    run(["git", "config", "user.name", "dfmask tests"], dest)
    run(["dvc", "init", "-q"], dest)
    run(["dvc", "config", "core.autostage", "true"], dest)
    enable_hydra(dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "pipeline"], dest)
    return dest


def hydra_settings() -> dict[str, str]:
    """The ``[hydra]`` section of this project's .dvc/config (how `dvc exp run` composes
    params.yaml from conf/)."""
    from configobj import ConfigObj  # DVC's own config reader

    return dict(ConfigObj(str(REPO / ".dvc" / "config"))["hydra"])


def enable_hydra(dest: Path) -> None:
    """Give the DVC repo ``dest`` this project's Hydra composition, as a clone has it:
    conf/ (its params.yaml kept a link to ``dest``'s params.yaml) and the ``[hydra]``
    settings of .dvc/config."""
    from configobj import ConfigObj

    shutil.copytree(REPO / "conf", dest / "conf", symlinks=True)
    config = ConfigObj(str(dest / ".dvc" / "config"))
    config["hydra"] = hydra_settings()
    config.write()


def copy_repo(src: Path, dest: Path) -> Path:
    """Copy a built pipeline repo (workspace, .git, .dvc cache) to ``dest``."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


#: The folders of a pipeline run that hold DVC outputs (and ``data/.work``, the stages'
#: resumable work items, which feed the outputs).
OUTPUT_FOLDERS = ("data", "models", "reports")


_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)


def _text_arrays(array: pa.ChunkedArray | pa.Array) -> Iterator[pa.ChunkedArray | pa.Array]:
    """Every string or binary leaf of a (nested) Arrow column."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        for chunk in chunks:
            yield from _text_arrays(chunk.dictionary)
    elif pa.types.is_struct(kind):
        for i in range(kind.num_fields):
            yield from _text_arrays(pc.struct_field(array, [i]))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        yield from _text_arrays(pc.list_flatten(array))
    elif any(is_text(kind) for is_text in _TEXT_TYPES):
        yield array


def _parquet_naming(path: Path, needles: Sequence[str]) -> set[str]:
    """The ``needles`` in a Parquet file's key-value metadata or in any string or binary
    value (column pages are compressed, so the raw bytes do not show them)."""
    meta = pq.read_schema(path).metadata or {}
    blobs = [k + b"\0" + v for k, v in meta.items()]
    found = {n for n in needles if any(n.encode() in b for b in blobs)}
    for column in pq.read_table(path).columns:
        for leaf in _text_arrays(column):
            found |= {n for n in needles if len(leaf) and pc.any(pc.match_substring(leaf, n)).as_py()}
    return found


def _zip_naming(path: Path, needles: Sequence[str]) -> set[str]:
    """The ``needles`` in any member of a zip file (a torch checkpoint, an ``.npz``),
    whatever its compression; nothing when the file only looks like a zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [archive.read(info) for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, NotImplementedError):
        return set()
    return {n for n in needles if any(n.encode() in m for m in members)}


def outputs_naming(repo: Path, needles: Sequence[str], folders: Sequence[str] = OUTPUT_FOLDERS) -> dict[str, list[str]]:
    """The files under ``folders`` of ``repo`` whose content names any of ``needles``
    (e.g. the run's own absolute folder), as {path relative to ``repo``: needles found}.

    Searches each file's bytes, every member of a zip file (torch checkpoints, ``.npz``)
    and every string and binary value and the metadata of a Parquet file, where a raw
    search would miss values in compressed pages.
    """
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((repo / folder).rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            hits = {n for n in needles if n.encode() in data}
            if zipfile.is_zipfile(path):
                hits |= _zip_naming(path, needles)
            if data[:4] == b"PAR1":
                hits |= _parquet_naming(path, needles)
            if hits:
                found[path.relative_to(repo).as_posix()] = sorted(hits)
    return found
