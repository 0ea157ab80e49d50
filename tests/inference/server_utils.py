"""Run a `dfmask serve` app for a test: in a thread (uvicorn), or as the real command."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


@contextlib.contextmanager
def app_server(app: object) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 30)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def serve_command(*args: str, tmp: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The real ``python -m dfmask serve ARGS`` on a free port; yields (URL, process)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    # a working directory of its own: the repository's params.yaml and its committed
    # reports/eval/calibration.json are defaults of `dfmask serve`, and would silently
    # change the scores the tests compare against the library's uncalibrated call
    cwd = tempfile.mkdtemp(prefix="dfmask-serve-cwd-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dfmask", "serve", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 180, proc)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(cwd, ignore_errors=True)
