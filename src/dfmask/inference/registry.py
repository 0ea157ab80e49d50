"""Released models: ``NAME@VERSION`` names a model a DVC project registered.

A model is released the way the mask dataset is: the project's ``dvc.yaml`` declares it
under ``artifacts:`` (``uynet``: the checkpoint; ``uynet-onnx`` and ``uynet-int8``: the
graphs) and a maintainer tags a commit with GTO (``gto register uynet-int8 HEAD
--version v1.0.0``, the tag ``uynet-int8@v1.0.0``). ``--model uynet-int8@v1.0.0`` then
resolves through DVC's own artifact lookup (`dvc.api.artifacts_show`, which reads GTO's
tags; ``@latest`` is the highest version) and `dvc.api.open` reads the file at the
tagged commit from the project's DVC remote or local cache.

Beside the model file, three files of the same commit are fetched when the commit has
them, because they belong to the model: its config (``model_config.json`` or
``uynet_config.json`` in the model's folder: the input size), ``params.yaml`` (the
``faces:`` settings its training crops were made with) and the evaluate stage's
``calibration.json`` (the calibrated probability and the val threshold). They land in
``<cache>/<name>/<commit>/``, written atomically, so a second call reads them from disk
and a half-written download is never used.

Which versions count is GTO's business: ``@latest`` is the highest version GTO calls
registered (`gto.api.find_latest_version`; a deregistered ``NAME@vX.Y.Z!`` never is,
where DVC's own lookup sorts every tag), and a named version must be registered and not
deregistered. A named version downloaded once is recorded in
``<cache>/<name>/versions/<version>.json`` per registry, so the next call reads it from
disk without asking the registry (offline use; a deregistration made after the download
is then not seen: remove the record to look again). ``@latest`` always asks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dfmask.errors import DfmaskError

#: ``NAME@vX.Y.Z`` or ``NAME@latest``; NAME as GTO allows it (lower case, digits, dashes).
SPEC = re.compile(r"^(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)@(?P<version>v\d+\.\d+\.\d+|latest)$")

#: Where released models are kept unless told otherwise (``DFMASK_MODEL_CACHE`` overrides).
DEFAULT_CACHE = Path("~/.cache/dfmask/models")

#: Config files looked for in the model file's folder at the tagged commit.
CONFIG_NAMES = ("model_config.json", "uynet_config.json")

#: The record of a finished download; its presence marks the folder complete.
RECORD = "release.json"
#: Per-artifact folder of named versions already resolved: ``<version>.json`` holds, per
#: registry, the commit it resolved to.
VERSIONS = "versions"


@dataclass(frozen=True)
class Release:
    """A fetched release: the model file and, when the commit had them, its sidecars."""

    spec: str
    name: str
    version: str
    rev: str
    repo: str
    model: Path
    params: Path | None
    calibration: Path | None


def parse(spec: str | Path) -> tuple[str, str] | None:
    """``(name, version)`` when ``spec`` is a release name (``uynet@v1.0.0``), else None."""
    match = SPEC.match(str(spec))
    return (match["name"], match["version"]) if match else None


def is_release(model: str | Path) -> bool:
    """True when ``model`` names a release rather than a file or folder: an existing path
    of that name wins (a folder ``uynet@v1.0.0`` is a folder)."""
    return not Path(model).exists() and parse(model) is not None


def cache_dir() -> Path:
    """The release cache: ``$DFMASK_MODEL_CACHE`` or ``~/.cache/dfmask/models``."""
    return Path(os.environ.get("DFMASK_MODEL_CACHE") or DEFAULT_CACHE).expanduser()


def _read(repo: str, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev`` (git- or DVC-tracked), None when the commit lacks it."""
    import dvc.api
    from dvc.exceptions import PathMissingError

    try:
        with dvc.api.open(path, repo=repo, rev=rev, mode="rb") as handle:
            data: bytes = handle.read()
            return data
    except PathMissingError:
        return None


def _reports_dir(params_text: bytes | None) -> str:
    """``paths.reports`` of the tagged params.yaml (``reports`` when absent or unreadable)."""
    import yaml

    if params_text is None:
        return "reports"
    try:
        data = yaml.safe_load(params_text)
        value = data["paths"]["reports"]
    except (yaml.YAMLError, KeyError, TypeError):
        return "reports"
    return str(value) if isinstance(value, str) and value else "reports"


def resolve(spec: str | Path, repo: str | Path | None = None, cache: Path | None = None) -> Release:
    """Fetch release ``spec`` (``NAME@VERSION``) of the DVC project ``repo`` (a path or git
    URL; default: this directory's project) into the cache, or reuse a finished download.

    Raises:
        DfmaskError: not a release name, unknown artifact or version, or a tagged commit
            whose model file cannot be read (one line naming the release).
    """
    parsed = parse(spec)
    if parsed is None:
        raise DfmaskError(f"--model {spec}: not a file, folder or release name (NAME@vX.Y.Z or NAME@latest)")
    name, version = parsed
    repo_arg = registry_key(repo)
    root = (cache or cache_dir()) / name
    known = _known_version(root, version, repo_arg) if version != "latest" else None
    if known is not None:  # a named version downloaded before: no registry needed
        rev, path = known
    else:
        rev, path = _lookup(spec, name, version, repo_arg)
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise DfmaskError(f"--model {spec}: artifact path {path!r} leaves the project")
    dest = root / rev
    if not (dest / RECORD).is_file():
        _download(spec, repo_arg, rev, rel, dest)
    if version != "latest" and known is None:
        _remember_version(root, version, repo_arg, rev, path)
    record = json.loads((dest / RECORD).read_text())
    return Release(
        spec=str(spec),
        name=name,
        version=version,
        rev=rev,
        repo=repo_arg,
        model=dest / rel.name,
        params=dest / "params.yaml" if record["params"] else None,
        calibration=dest / "calibration.json" if record["calibration"] else None,
    )


def registry_key(repo: str | Path | None) -> str:
    """How a registry is named in the version records: a local folder by its absolute,
    resolved path (``.``, a relative path and the default working directory are one
    registry; two projects are never confused), a git URL as given."""
    if repo is None:
        return str(Path.cwd().resolve())
    text = str(repo)
    if "://" not in text and not text.startswith("git@") and Path(text).exists():
        return str(Path(text).resolve())
    return text


def _lookup(spec: str | Path, name: str, version: str, repo: str) -> tuple[str, str]:
    """The commit and artifact path of ``name`` at ``version`` (``latest``: GTO's highest
    registered version), asking the registry; one-line `DfmaskError` otherwise."""
    import dvc.api
    import gto.api
    from dvc.exceptions import DvcException
    from gto.exceptions import GTOException
    from scmrepo.exceptions import SCMError

    try:
        if version == "latest":
            found = gto.api.find_latest_version(repo, name)
            if found is None:
                raise DfmaskError(f"--model {spec}: {name} has no registered version in {repo}")
            version = str(found.version)
        elif version not in {str(v["version"]) for v in gto.api.show(repo, name)}:
            raise DfmaskError(f"--model {spec}: no such released model in {repo} (not registered, or deregistered)")
        info = dvc.api.artifacts_show(name, version=version, repo=repo)
    except (DvcException, GTOException, SCMError) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DfmaskError(f"--model {spec}: no such released model in {repo} ({why})") from err
    return str(info["rev"]), str(info["path"])


def _known_version(root: Path, version: str, repo: str) -> tuple[str, str] | None:
    """The commit and path a named version resolved to before (for this registry), when
    its download is complete in the cache."""
    try:
        entry = json.loads((root / VERSIONS / f"{version}.json").read_text())[repo]
        rev, path = str(entry["rev"]), str(entry["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (rev, path) if (root / rev / RECORD).is_file() else None


def _remember_version(root: Path, version: str, repo: str, rev: str, path: str) -> None:
    """Record (atomically) that ``version`` of this registry is commit ``rev``."""
    folder = root / VERSIONS
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{version}.json"
    try:
        doc = json.loads(target.read_text())
        doc = doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        doc = {}
    doc[repo] = {"rev": rev, "path": path}
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, target)


def _download(spec: str | Path, repo: str, rev: str, rel: PurePosixPath, dest: Path) -> None:
    """Read the model and its sidecars at ``rev`` into a temp folder, then rename it to ``dest``."""
    from dvc.exceptions import DvcException

    try:
        model = _read(repo, rev, str(rel))
        if model is None:
            raise DfmaskError(f"--model {spec}: {rel} is missing at {rev[:12]} (was it pushed to the remote?)")
        files: dict[str, bytes] = {rel.name: model}
        for config in CONFIG_NAMES:
            data = _read(repo, rev, str(rel.parent / config))
            if data is not None:
                files[config] = data
        params = _read(repo, rev, "params.yaml")
        calibration = _read(repo, rev, f"{_reports_dir(params)}/eval/calibration.json")
    except DvcException as err:
        raise DfmaskError(f"--model {spec}: reading {rel} at {rev[:12]} failed ({err})") from err
    if params is not None:
        files["params.yaml"] = params
    if calibration is not None:
        files["calibration.json"] = calibration
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
        record: dict[str, str | bool] = {"spec": str(spec), "repo": repo, "rev": rev, "path": str(rel)}
        record |= {"params": params is not None, "calibration": calibration is not None}
        (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / RECORD).is_file():  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
