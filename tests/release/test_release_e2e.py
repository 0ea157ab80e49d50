"""End to end: a source repo releases with the real stage + `make release` CLI, and a
researcher pulls it with `dvc list` / `dvc get` / `dvc import` / `dvc.api.open` /
`dvc artifacts get` from a bare git repo plus a local DVC remote, then loads it with
pandas and `datasets`.

The source repo is built here from small synthetic upstream tables (written with the
real TableSpecs, see release_fixtures.py) and a tiny dvc.yaml holding only the release stage.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from release_fixtures import write_params, write_upstream

from dfmask.release import manifest

ROOT = Path(__file__).resolve().parents[2]

DVC_YAML = """\
stages:
  release:
    cmd: python stages/release.py --faces ${paths.faces} --masks ${paths.masks}
      --splits ${paths.splits} --videos ${paths.videos} --reports ${paths.reports}
      --sample ${paths.sample} --out ${paths.release} --report ${paths.reports}/release.json
    deps:
      - stages/release.py
      - ${paths.faces}
      - ${paths.masks}
      - ${paths.splits}
      - ${paths.videos}
    params:
      - corpus.root
      - corpus.parts
      - paths.sample
      - release.artifact
      - release.pixels
      - release.shard_mb
    outs:
      - ${paths.release}
    metrics:
      - ${paths.reports}/release.json:
          cache: false
artifacts:
  masks:
    path: data/release
    type: dataset
    desc: face crops with SSIM manipulation masks and identity-disjoint splits
    labels: [deepfake, segmentation]
"""


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    env.update(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.org",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.org",
        DVC_NO_ANALYTICS="1",
        HOME=str(tmp / "home"),
        HF_DATASETS_CACHE=str(tmp / "hf"),
        HF_DATASETS_OFFLINE="1",
    )
    env.pop("ALLOW_LOCAL_REMOTE", None)
    return env


def sh(args: list[str], cwd: Path, env: dict[str, str], ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(*args: str) -> list[str]:
    return [sys.executable, "-m", "dvc", *args]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_release_push_then_get_and_import(tmp_path: Path) -> None:
    env = _env(tmp_path)
    (tmp_path / "home").mkdir()
    src, origin, store = tmp_path / "src", tmp_path / "origin.git", tmp_path / "dvc-store"
    src.mkdir()
    sh(["git", "init", "-q", "-b", "main"], src, env)
    sh(dvc("init", "-q"), src, env)
    write_upstream(src)
    write_params(src)
    (src / "stages").mkdir()
    shutil.copy(ROOT / "stages/release.py", src / "stages/release.py")
    (src / "dvc.yaml").write_text(DVC_YAML)
    sh(dvc("repro", "-q"), src, env)
    # a DVC-tracked file outside the release: `make release` must not push it
    (src / "private.bin").write_bytes(b"face crops under stricter terms")
    sh(dvc("add", "-q", "private.bin"), src, env)
    sh(["git", "add", "-A"], src, env)
    sh(["git", "commit", "-qm", "build release"], src, env)
    sh(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path, env)
    sh(["git", "remote", "add", "origin", str(origin)], src, env)
    publish = [sys.executable, "-m", "dfmask", "release", "publish", "--version", "1.0.0"]

    # no DVC remote yet: refused, with the how-to
    res = sh(publish, src, env, ok=False)
    assert res.returncode == 2 and "no default DVC remote" in res.stderr and "dvc remote add -d" in res.stderr

    sh(dvc("remote", "add", "-d", "store", str(store)), src, env)
    sh(["git", "commit", "-qam", "remote"], src, env)
    sh(["git", "push", "-q", "origin", "main"], src, env)

    # local remote without ALLOW_LOCAL_REMOTE: refused before anything is tagged or pushed
    res = sh(publish, src, env, ok=False)
    assert res.returncode == 2 and "local path" in res.stderr and "ALLOW_LOCAL_REMOTE=1" in res.stderr
    assert not store.exists()

    # dirty git workspace: refused
    (src / "notes.txt").write_text("x")
    res = sh(publish, src, {**env, "ALLOW_LOCAL_REMOTE": "1"}, ok=False)
    assert res.returncode == 2 and "not clean" in res.stderr and "notes.txt" in res.stderr
    (src / "notes.txt").unlink()

    # dvc status dirty (an output changed, git clean): refused
    sheet = src / "data/release/DATASHEET.md"
    text = sheet.read_text()
    sheet.unlink()
    res = sh(publish, src, {**env, "ALLOW_LOCAL_REMOTE": "1"}, ok=False)
    assert res.returncode == 2 and "dvc status is not clean" in res.stderr
    sh(dvc("checkout", "-q"), src, env)
    assert sheet.read_text() == text

    # the real release
    res = sh(publish, src, {**env, "ALLOW_LOCAL_REMOTE": "1"})
    assert "masks@v1.0.0" in res.stdout and "tag pushed to git remote 'origin'" in res.stdout
    tags = sh(["git", "ls-remote", "--tags", str(origin)], tmp_path, env).stdout
    assert "refs/tags/masks@v1.0.0" in tags
    assert any(store.rglob("*")), "dvc push wrote nothing to the remote"
    private = hashlib.md5(b"face crops under stricter terms").hexdigest()
    assert not (store / "files/md5" / private[:2] / private[2:]).exists()
    assert (src / ".dvc/cache/files/md5" / private[:2] / private[2:]).exists()
    # the same version again: refused (immutable)
    res = sh(publish, src, {**env, "ALLOW_LOCAL_REMOTE": "1"}, ok=False)
    assert res.returncode == 2 and "already exists" in res.stderr

    # ---- researcher side, from a folder that is not the source repo
    rev = "masks@v1.0.0"
    work = tmp_path / "researcher"
    work.mkdir()
    listing = sh(dvc("list", str(origin), "data/release", "--rev", rev), work, env).stdout
    assert "DATASHEET.md" in listing and "SHA256SUMS" in listing and "data" in listing

    sh(dvc("get", str(origin), "data/release", "--rev", rev, "-o", "got"), work, env)
    got = work / "got"
    assert manifest.verify_sums(got) == []
    assert (got / "SHA256SUMS").read_bytes() == (src / "data/release/SHA256SUMS").read_bytes()

    sh(dvc("artifacts", "get", str(origin), "masks", "--rev", "v1.0.0", "-o", "art"), work, env)
    assert (work / "art/SHA256SUMS").read_bytes() == (src / "data/release/SHA256SUMS").read_bytes()

    proj = tmp_path / "project"
    proj.mkdir()
    sh(["git", "init", "-q", "-b", "main"], proj, env)
    sh(dvc("init", "-q"), proj, env)
    (proj / "data/external").mkdir(parents=True)  # dvc import needs the parent folder
    sh(dvc("import", str(origin), "data/release", "--rev", rev, "-o", "data/external/masks"), proj, env)
    assert manifest.verify_sums(proj / "data/external/masks") == []
    lock = (proj / "data/external/masks.dvc").read_text()
    assert "rev: masks@v1.0.0" in lock and "rev_lock:" in lock

    code = (
        "import dvc.api, pandas as pd, sys\n"
        f"kw = dict(repo={str(origin)!r}, rev={rev!r})\n"
        "with dvc.api.open('data/release/DATASHEET.md', **kw) as fh:\n"
        "    text = fh.read()\n"
        "with dvc.api.open('data/release/data/train-part0-00000.parquet', mode='rb', **kw) as fh:\n"
        "    rows = len(pd.read_parquet(fh))\n"
        "sys.stdout.write(f'{rows}\\n' + text)\n"
    )
    streamed = sh([sys.executable, "-c", code], work, env).stdout
    assert streamed == "8\n" + text

    # ---- loading: pandas and datasets, images and masks decoded
    load = (
        "import pandas as pd, datasets, numpy as np, json\n"
        f"df = pd.read_parquet({str(got / 'data')!r})\n"
        f"ds = datasets.load_dataset('parquet', data_dir={str(got / 'data')!r})\n"
        "row = ds['train'][0]\n"
        "out = dict(rows=len(df), splits=sorted(ds.keys()), crop=[row['crop'].mode, list(row['crop'].size)],\n"
        "           mask=[row['mask'].mode, list(row['mask'].size)],\n"
        "           n={k: ds[k].num_rows for k in ds})\n"
        "print(json.dumps(out))\n"
    )
    import json

    out = json.loads(sh([sys.executable, "-c", load], work, env).stdout.strip().splitlines()[-1])
    assert out["rows"] == 18
    assert out["splits"] == ["test", "train", "validation"]
    assert out["n"] == {"train": 8, "validation": 4, "test": 6}
    assert out["crop"] == ["RGB", [16, 16]] and out["mask"] == ["L", [16, 16]]
