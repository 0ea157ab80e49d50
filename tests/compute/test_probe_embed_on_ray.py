"""The ingest probe and the embed stage on a real Ray cluster write the local bytes.

On a tiny DFDC part (generated clips plus an empty, a truncated and a junk file, and a
fake of the junk original) and on faces shards of real photos (with an undecodable
crop and a crop without landmarks): the videos table, the embeddings table and both
reports are byte-identical with ``compute.executor: ray`` and ``local``; every bad
file keeps its local status; under Ray the jobs ran in processes other than the
driver (``recorded_jobs`` notes each job's pid), locally in the driver itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import recorded_jobs
import yaml
from identity.test_encoders import _faces_table, photo_faces  # noqa: F401  (the fixture)

from dfmask.corpus import ingest
from dfmask.identity import embed
from dfmask.params import ComputeParams, CorpusParams, EmbedParams, IngestParams
from dfmask.schemas.faces import FACES
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import read_table, write_table
from dfmask.video import encode_video
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]
RAY = ComputeParams(executor="ray", max_retries=1)


def _clip(path: Path, seed: int, n: int = 6) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return encode_video([np.roll(base, i, axis=1) for i in range(n)], path, fps=10).read_bytes()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Corpus root with dfdc_train_part_0: 2 originals, 3 fakes and 3 bad files."""
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "dfdc_train_part_0"
    folder.mkdir()
    a, b = _clip(root / "a.mp4", 0), _clip(root / "b.mp4", 1, n=9)
    files = {
        "aa.mp4": a,
        "af.mp4": a,
        "bb.mp4": b,
        "bf.mp4": b,
        "empty.mp4": b"",
        "trunc.mp4": a[: len(a) // 2],
        "junk.mp4": b"\x00garbage" * 100,
        "jf.mp4": a,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    meta = {
        "aa.mp4": {"label": "REAL", "split": "train"},
        "af.mp4": {"label": "FAKE", "split": "train", "original": "aa.mp4"},
        "bb.mp4": {"label": "REAL", "split": "train"},
        "bf.mp4": {"label": "FAKE", "split": "train", "original": "bb.mp4"},
        "empty.mp4": {"label": "REAL"},
        "trunc.mp4": {"label": "REAL"},
        "junk.mp4": {"label": "REAL"},
        "jf.mp4": {"label": "FAKE", "original": "junk.mp4"},
    }
    (folder / "metadata.json").write_text(json.dumps(meta))
    return root


def _ingest(corpus: Path, out: Path, compute: ComputeParams) -> dict[str, bytes]:
    paths = ingest.IngestPaths(out / "part=0.parquet", out / "part=0.json")
    ingest.run(IngestParams(), CorpusParams(root=str(corpus), parts=(0,)), paths, 0, compute)
    return {p.name: p.read_bytes() for p in (paths.out, paths.report)}


@pytest.fixture(scope="module")
def faces(photo_faces: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """Two faces shards of real photos, plus a video with an undecodable crop and one
    whose crop has no landmarks."""
    rows = [{k: v for k, v in r.items() if k != "person"} for r in photo_faces[:6]]
    rows.append({**rows[0], "video_id": "zbroken", "crop": {"bytes": b"not a png", "path": None}})
    rows.append({**rows[1], "video_id": "znolm", "landmarks": None})
    folder = tmp_path_factory.mktemp("faces") / "part=0"
    write_table(_faces_table(rows[:3]), folder / "faces-00000.parquet", FACES, "test")
    write_table(_faces_table(rows[3:]), folder / "faces-00001.parquet", FACES, "test")
    return folder


def _embed(faces: Path, out: Path, compute: ComputeParams) -> dict[str, bytes]:
    paths = embed.EmbedPaths(faces, out / "part=0.parquet", out / "part=0.json")
    embed.run(EmbedParams(), paths, 0, compute)
    return {p.name: p.read_bytes() for p in (paths.out, paths.report)}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages' job functions replaced by ones that note their process."""
    shutil.rmtree(recorded_jobs.PIDS, ignore_errors=True)
    monkeypatch.setattr(ingest, "_probe_job", recorded_jobs.probe_job)
    monkeypatch.setattr(embed, "_embed_job", recorded_jobs.embed_job)


def test_ingest_probes_on_ray_write_the_local_bytes(
    ray_cluster: str, corpus: Path, tmp_path: Path, recorded: None
) -> None:
    local = _ingest(corpus, tmp_path / "local", ComputeParams())
    assert recorded_jobs.pids("ingest") == {os.getpid()}  # locally: one after the other, here
    shutil.rmtree(recorded_jobs.PIDS)
    on_ray = _ingest(corpus, tmp_path / "ray", RAY)
    workers = recorded_jobs.pids("ingest")
    assert workers and os.getpid() not in workers
    assert on_ray == local
    table = read_table(tmp_path / "ray" / "part=0.parquet", VIDEOS)
    status = dict(zip(table["filename"].to_pylist(), table["status"].to_pylist(), strict=True))
    assert status == {
        "aa.mp4": "ok",
        "af.mp4": "ok",
        "bb.mp4": "ok",
        "bf.mp4": "ok",
        "empty.mp4": "empty",
        "trunc.mp4": "truncated",
        "junk.mp4": "corrupt",
        "jf.mp4": "original_unusable",
    }
    # the detail names the file relative to corpus.root, as locally (not the worker's path)
    detail = dict(zip(table["filename"].to_pylist(), table["status_detail"].to_pylist(), strict=True))
    assert str(corpus) not in detail["junk.mp4"]


def test_embed_on_ray_writes_the_local_bytes(ray_cluster: str, faces: Path, tmp_path: Path, recorded: None) -> None:
    local = _embed(faces, tmp_path / "local", ComputeParams())
    assert recorded_jobs.pids("embed") == {os.getpid()}
    shutil.rmtree(recorded_jobs.PIDS)
    on_ray = _embed(faces, tmp_path / "ray", RAY)
    workers = recorded_jobs.pids("embed")
    assert workers and os.getpid() not in workers
    assert on_ray == local
    report = json.loads(on_ray["part=0.json"])
    assert report["statuses"]["ok"] == 6 and report["statuses"]["bad_crop"] == 1
    assert report["statuses"]["no_landmarks"] == 1 and report["shards"] == 2


@pytest.mark.slow
def test_the_ingest_and_embed_stage_scripts_pass_compute_through(
    ray_cluster: str, corpus: Path, faces: Path, tmp_path: Path
) -> None:
    """`stages/ingest.py` and `stages/embed.py` read ``compute:`` from params.yaml: with
    ``executor: ray`` joining the cluster they write the local run's bytes."""
    out: dict[str, dict[str, bytes]] = {}
    for executor in ("local", "ray"):
        ws = tmp_path / executor
        ws.mkdir()
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["corpus"] = {"root": str(corpus), "parts": [0]}
        params["compute"].update(executor=executor, address=ray_cluster if executor == "ray" else "")
        (ws / "params.yaml").write_text(yaml.safe_dump(params))
        shutil.copytree(faces, ws / params["paths"]["faces"] / "part=0")
        for stage in ("inventory", "ingest", "embed"):
            done = subprocess.run(stage_argv(stage, 0), cwd=ws, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
        written = [ws / params["paths"]["videos"], ws / params["paths"]["embeddings"], ws / params["paths"]["reports"]]
        out[executor] = {str(p.relative_to(ws)): p.read_bytes() for d in written for p in sorted(d.rglob("*.*"))}
    assert len(out["ray"]) == 4 and out["ray"] == out["local"]
