"""The faces and masks stages on a real Ray cluster write the local executor's bytes.

On the faces stage's tiny real-video corpus (tests/faces/conftest.py: 17 videos, a
corrupt original, a fake without its original, a shorter fake, ...): the same shards
and status tables with ``compute.executor: ray`` as with ``local``, also when a
detector actor and a fake's worker are SIGKILLed mid-stage; a kill beyond
``max_retries`` fails the stage in one line naming the video; a SIGKILLed driver
resumes from its work items.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from faces.conftest import faces_corpus  # noqa: F401  (the fixture)

from dfmask.errors import DfmaskError
from dfmask.faces.stage import FacesPaths
from dfmask.faces.stage import run as run_faces
from dfmask.masks.stage import MasksPaths
from dfmask.masks.stage import run as run_masks
from dfmask.params import ComputeParams, CorpusParams, FacesParams, MasksParams
from dfmask.schemas.faces import FACE_VIDEOS, STATUS_PATH
from dfmask.tables import file_sha256, read_table
from tools.stagecmd import stage_argv

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FACES = FacesParams(device="cpu", frames=8, shard_rows=40, workers=2)
MASKS = MasksParams(workers=2, shard_rows=50)
RAY = ComputeParams(executor="ray", max_retries=2)
VIDEOS = 17


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*.parquet"))}


def _faces(corpus: Any, base: Path, compute: ComputeParams) -> Path:
    paths = FacesPaths(corpus.videos, base / "faces", base / "faces.json", base / "work")
    run_faces(FACES, CorpusParams(root=str(corpus.root), parts=(0,)), paths, 0, compute)
    return base / "faces"


def _masks(faces: Path, base: Path, compute: ComputeParams) -> Path:
    run_masks(MASKS, MasksPaths(faces, base / "masks", base / "masks.json", base / "work"), 0, compute)
    return base / "masks"


@pytest.fixture(scope="module")
def local(faces_corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    base = tmp_path_factory.mktemp("local")
    faces = _faces(faces_corpus, base, ComputeParams())
    return {"faces": faces, "masks": _masks(faces, base, ComputeParams())}


class Killer:
    """SIGKILLs the first process whose title starts with each of ``titles`` (Ray names a
    worker ``ray::<function>`` while it runs one), each once, from a thread."""

    def __init__(self, *titles: bytes):
        self.todo = list(titles)
        self.killed: dict[bytes, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Killer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while self.todo and not self._stop.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                for wanted in list(self.todo):
                    if title.startswith(wanted):
                        os.kill(int(pid), signal.SIGKILL)
                        self.killed[wanted] = int(pid)
                        self.todo.remove(wanted)
            time.sleep(0.02)


def test_faces_on_ray_with_an_actor_and_a_worker_killed_writes_the_local_bytes(
    ray_cluster: str,
    faces_corpus: Any,  # noqa: F811
    local: dict[str, Path],
    tmp_path: Path,
) -> None:
    with Killer(b"ray::_Holder.run", b"ray::_task") as killer:
        faces = _faces(faces_corpus, tmp_path, RAY)
    assert set(killer.killed) == {b"ray::_Holder.run", b"ray::_task"}, "a kill did not land mid-stage"
    assert os.getpid() not in killer.killed.values()
    assert _hashes(faces) == _hashes(local["faces"])
    # a bad file gets its status exactly as locally (the tables are equal; say it plainly)
    ray_status = read_table(faces / STATUS_PATH, FACE_VIDEOS).to_pandas().set_index("video_id")
    local_status = read_table(local["faces"] / STATUS_PATH, FACE_VIDEOS).to_pandas().set_index("video_id")
    assert ray_status.loc["ahorigbrok", "status"] == local_status.loc["ahorigbrok", "status"] == "ingest_failed"
    assert ray_status.loc["zzfakeorph", "status"] == "original_missing"


def test_masks_on_ray_write_the_local_bytes(ray_cluster: str, local: dict[str, Path], tmp_path: Path) -> None:
    masks = _masks(local["faces"], tmp_path, RAY)
    assert _hashes(masks) and _hashes(masks) == _hashes(local["masks"])


def test_a_kill_beyond_max_retries_fails_in_one_line_naming_the_video(
    ray_cluster: str,
    faces_corpus: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    with Killer(b"ray::_Holder.run"), pytest.raises(DfmaskError) as err:
        _faces(faces_corpus, tmp_path, dataclasses.replace(RAY, max_retries=0))
    message = str(err.value)
    assert "\n" not in message
    named = message.split(":")[1].strip()
    assert named in {v.removesuffix(".mp4") for v in faces_corpus.metadata} and named.startswith("a")  # an original
    assert "compute.max_retries: 0" in message


def _workspace(base: Path, corpus: Any, address: str) -> Path:
    base.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["corpus"] = {"root": str(corpus.root), "parts": [0]}
    params["faces"].update(dataclasses.asdict(FACES))
    params["compute"].update(executor="ray", address=address)
    (base / "params.yaml").write_text(yaml.safe_dump(params))
    (base / "data/interim/videos").mkdir(parents=True)
    shutil.copy(corpus.videos, base / "data/interim/videos/part=0.parquet")
    return base


def test_a_killed_driver_resumes_from_its_work_items(
    ray_cluster: str,
    faces_corpus: Any,  # noqa: F811
    local: dict[str, Path],
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path / "ws", faces_corpus, ray_cluster)
    items = ws / "data/.work/faces/part=0"

    def finished() -> int:
        return len(list(items.glob("*/*.parquet")))

    proc = subprocess.Popen(stage_argv("faces", 0), cwd=ws, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while finished() < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    at_kill = finished()
    assert proc.returncode == -signal.SIGKILL and 1 <= at_kill < VIDEOS, f"kill landed at {at_kill} videos"
    rerun = subprocess.run(stage_argv("faces", 0), cwd=ws, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{at_kill:,} reused" in rerun.stdout
    assert _hashes(ws / "data/interim/faces/part=0") == _hashes(local["faces"])
