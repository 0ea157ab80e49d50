"""A bounded load test of the real ``dfmask serve`` on loopback: 50 uploads, 8 at a time,
good and bad files mixed. Every request gets an answer of the expected kind, the server
stays up, no temp folder is left behind, and its peak RSS stays within a stated bound."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from inference_fixtures import Models, Videos
from server_utils import serve_command

#: Peak RSS growth allowed over the idle (model-loaded) server, bytes: MTCNN on 320x180
#: frames plus two workers' crops and the uploads' chunks stay far below it.
RSS_GROWTH = 700 * 2**20


def _rss(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


@pytest.mark.slow
def test_fifty_uploads_eight_at_a_time(models: Models, videos: Videos, tmp_path: Path) -> None:
    cases = [
        (videos.face, "file", {200}),
        (videos.no_face, "file", {200}),
        (videos.text, "file", {415}),
        (videos.truncated, "file", {422}),
        (videos.corrupt, "file", {422}),
        (videos.empty, "file", {400}),
        (videos.face, "upload", {422}),
    ]
    jobs = list(itertools.islice(itertools.cycle(cases), 50))
    args = ("--model", str(models.ckpt), "--backend", "torch", "--frames", "4", "--workers", "2", "--queue", "4")
    with serve_command(*args, tmp=tmp_path) as (url, proc):
        idle = _rss(proc.pid, "VmRSS")

        busy: list[int] = []

        def send(job: tuple[Path, str, set[int]]) -> tuple[int, set[int], str]:
            """Post one upload; on 429 retry (sooner than Retry-After: a test's patience)."""
            path, field, _ = job
            for _ in range(400):
                r = requests.post(f"{url}/v1/predict", files={field: (path.name, path.read_bytes())}, timeout=300)
                if r.status_code != 429:
                    break
                assert int(r.headers["Retry-After"]) > 0 and '"busy"' in r.text
                busy.append(1)
                time.sleep(0.25)
            return r.status_code, job[2], r.text

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, jobs))
        assert requests.get(f"{url}/v1/health").json() == {"status": "ok", "in_flight": 0, "capacity": 6}
        peak = _rss(proc.pid, "VmHWM")
        assert proc.poll() is None
    assert len(answers) == 50
    for code, allowed, text in answers:
        assert code in allowed, text
        if code != 200:
            assert '"error"' in text
    assert sum(code == 200 for code, _, _ in answers) == 15  # every good file was scored in the end
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("dfmask-serve-")]
    assert peak - idle < RSS_GROWTH, f"peak RSS {peak / 2**20:.0f} MiB, idle {idle / 2**20:.0f} MiB"
