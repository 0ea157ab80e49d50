"""Benchmark of scoring one video: ``python -m tools.bench.predict`` → reports/bench_predict.json.

What it measures, in one run (method: docs/predict.md, "Benchmark"):

* **warm, per backend** (torch, ORT fp32, ORT int8: each whose model exists): the
  seconds to score one video end to end with the face detector and the model already
  loaded (as in the server; the detector in its default float32 mode, and once more,
  for the fastest backend, as the faces stage runs it: ``backends_exact_faces``),
  median of ``--repeats`` runs, split by phase:
  ``hash`` (sha256 of the file), ``probe`` (container header), ``decode`` (the sampled
  frames only), ``faces`` (the faces stage's per-video function: decode + MTCNN +
  tracking + crops, so ``detect_track_crop`` = faces - decode), ``model`` (the crops
  through the model), and ``end_to_end`` (`Detector.predict`, timed on its own).
* **cold start**: ``dfmask predict VIDEO`` as a fresh process (imports, loading, one
  video) and, from inside such a process, the import and load seconds.
* **server**: `dfmask.inference.server` on loopback (default limits: one scoring worker)
  answering ``--server-requests`` uploads of the same video at 1 and at 4 concurrent
  clients: p50 and p95 latency, seconds.

The video defaults to the first original of the sample generator's ``bench`` corpus
(1920x1080, 10 s, 30 fps), generated when absent (see ``tools.bench.faces``). Goal:
``end_to_end`` <= 4 s warm with ORT int8 on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.tables import write_json

REPO = Path(__file__).resolve().parents[2]
SCHEMA_VERSION = 1
GOAL_INT8_WARM_S = 4.0
PHASES = ("hash", "probe", "decode", "faces", "detect_track_crop", "model", "end_to_end")


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def phases(detector: Any, video: Path) -> dict[str, float]:
    """One run of every phase of scoring ``video`` (seconds)."""
    from dfmask.faces.extract import process_original
    from dfmask.tables import decode_png, file_sha256
    from dfmask.video import iter_frames_at, probe, sample_indices

    out: dict[str, float] = {}
    out["hash"], _ = _timed(lambda: file_sha256(video))
    out["probe"], info = _timed(lambda: probe(video, decode=False))
    indices = sample_indices(info.frames, detector.faces.frames)
    out["decode"], _ = _timed(lambda: sum(1 for _ in iter_frames_at(video, indices, detector.faces.decode_threads)))
    row = {"part": 0, "video_id": video.stem, "original_id": None, "is_fake": False, "status": "ok"}
    row |= {"frames": info.frames, "path": video.name}
    out["faces"], faces = _timed(lambda: process_original(row, video.parent, detector.face_detector, detector.faces))
    out["detect_track_crop"] = max(0.0, out["faces"] - out["decode"])
    crops = [decode_png(c["bytes"]) for c in faces.rows.column("crop").to_pylist()]
    out["model"], _ = _timed(lambda: detector.frame_probabilities(crops))
    out["end_to_end"], pred = _timed(lambda: detector.predict(video))
    if pred.failed:
        raise DfmaskError(f"{video}: status {pred.status} ({pred.detail}); benchmark a video that scores")
    out["crops"] = float(len(crops))
    return out


def bench_backend(
    models: Sequence[Path], backend: str, video: Path, frames: int, repeats: int, exact_faces: bool = False
) -> dict[str, Any]:
    """Warm phases of one backend: medians over ``repeats`` (after one warm-up run);
    ``exact_faces``: the face detector as the faces stage runs it (`Detector.load`)."""
    from dfmask.inference.detector import Detector

    load_s, detector = _timed(
        lambda: Detector.load(model=list(models), backend=backend, frames=frames, exact_faces=exact_faces)
    )
    phases(detector, video)  # warm-up: MTCNN nets built, ORT session primed
    runs = [phases(detector, video) for _ in range(repeats)]
    return {
        "model_ids": [i.sha256 for i in detector.ensemble.infos],
        "load_s": round(load_s, 4),
        "crops": int(runs[0]["crops"]),
        "phases_s": {p: round(statistics.median(r[p] for r in runs), 4) for p in PHASES},
        "runs_end_to_end_s": [round(r["end_to_end"], 4) for r in runs],
    }


_COLD = """
import json, sys, time
t0 = time.perf_counter()
from dfmask.inference.detector import Detector
t1 = time.perf_counter()
d = Detector.load(model=sys.argv[1:-2], backend=sys.argv[-2], frames=int(sys.argv[-1]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1}))
"""


def cold_start(models: Sequence[Path], backend: str, video: Path, frames: int) -> dict[str, Any]:
    """``dfmask predict`` in a fresh process, and import + load seconds of a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    argv = [sys.executable, "-m", "dfmask", "predict", str(video), "--backend", backend, "--frames", str(frames)]
    for m in models:
        argv += ["--model", str(m)]
    wall, proc = _timed(lambda: subprocess.run(argv, env=env, capture_output=True, text=True, check=False))
    if proc.returncode:
        raise DfmaskError(f"cold start: dfmask predict exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    inner = subprocess.run(
        [sys.executable, "-c", _COLD, *map(str, models), backend, str(frames)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(inner.stdout.strip().splitlines()[-1])
    return {
        "backend": backend,
        "predict_command_s": round(wall, 4),
        "import_s": round(doc["import_s"], 4),
        "load_s": round(doc["load_s"], 4),
    }


def server_latency(
    models: Sequence[Path], backend: str, video: Path, frames: int, requests_n: int, concurrency: Sequence[int]
) -> dict[str, Any]:
    """p50/p95 seconds of POST /v1/predict of ``video`` at each concurrency."""
    import requests
    import uvicorn

    from dfmask.inference.detector import Detector
    from dfmask.inference.server import ServeLimits, create_app

    detector = Detector.load(model=list(models), backend=backend, frames=frames)
    limits = ServeLimits(queue=max(concurrency))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(detector, limits), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    data = video.read_bytes()

    def one(_: int) -> float:
        seconds, r = _timed(lambda: requests.post(f"{url}/v1/predict", files={"file": (video.name, data)}, timeout=600))
        if r.status_code != 200:
            raise DfmaskError(f"server answered {r.status_code}: {r.text[:200]}")
        return seconds

    out: dict[str, Any] = {"backend": backend, "workers": limits.workers, "requests": requests_n, "concurrency": {}}
    try:
        end = time.monotonic() + 60
        while not server.started:
            if time.monotonic() > end:
                raise DfmaskError("bench server did not start in 60 s")
            time.sleep(0.1)
        one(0)  # warm-up
        for c in concurrency:
            with ThreadPoolExecutor(c) as pool:
                times = list(pool.map(one, range(requests_n)))
            out["concurrency"][str(c)] = {
                "p50_s": round(float(np.percentile(times, 50)), 4),
                "p95_s": round(float(np.percentile(times, 95)), 4),
                "n": len(times),
            }
    finally:
        server.should_exit = True
        thread.join(10)
    return out


def bench(
    video: Path,
    models_dir: Path,
    backends: Sequence[str],
    frames: int = 32,
    repeats: int = 3,
    server_requests: int = 8,
    concurrency: Sequence[int] = (1, 4),
    cold: bool = True,
) -> dict[str, Any]:
    """The whole report (see the module docstring)."""
    from dfmask.inference.backends import DEFAULT_FILES
    from dfmask.video import probe

    info = probe(video, decode=False)
    present = [b for b in backends if models_dir.is_file() or (models_dir / DEFAULT_FILES[b]).is_file()]
    if not present:
        raise DfmaskError(f"{models_dir}: no model for backends {list(backends)} (run dvc repro)")
    results = {b: bench_backend([models_dir], b, video, frames, repeats) for b in present}
    fastest = "onnx-int8" if "onnx-int8" in present else present[-1]
    # the same backend with the detector exactly as the faces stage runs it (float64): what
    # the default's float32 detection saves
    exact = {fastest: bench_backend([models_dir], fastest, video, frames, repeats, exact_faces=True)}
    int8 = results.get("onnx-int8")
    return {
        "schema_version": SCHEMA_VERSION,
        "video": {
            "file": video.name,
            "width": info.width,
            "height": info.height,
            "duration_s": round(info.duration, 3),
            "fps": round(info.fps, 3),
        },
        "frames": frames,
        "repeats": repeats,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "faces_exact": False,
        "backends": results,
        "backends_exact_faces": exact,
        "cold_start": cold_start([models_dir], fastest, video, frames) if cold else None,
        "server": server_latency([models_dir], fastest, video, frames, server_requests, concurrency),
        "goal": {
            "int8_warm_end_to_end_s": GOAL_INT8_WARM_S,
            "met": None if int8 is None else int8["phases_s"]["end_to_end"] <= GOAL_INT8_WARM_S,
        },
    }


def validate_report(doc: dict[str, Any]) -> None:
    """Raise AssertionError when ``doc`` is not a well-formed report (used by the tests)."""
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["video"]["width"] > 0 and doc["frames"] >= 1 and doc["backends"]
    assert doc["faces_exact"] is False and len(doc["backends_exact_faces"]) == 1
    for name, b in [*doc["backends"].items(), *doc["backends_exact_faces"].items()]:
        assert name in ("torch", "onnx", "onnx-int8"), name
        assert set(b["phases_s"]) == set(PHASES) and all(v >= 0 for v in b["phases_s"].values())
        assert b["phases_s"]["faces"] >= b["phases_s"]["detect_track_crop"]
        assert len(b["runs_end_to_end_s"]) == doc["repeats"] and b["crops"] >= 0
    cold = doc["cold_start"]
    assert cold is None or cold["predict_command_s"] >= cold["import_s"] >= 0
    for c in doc["server"]["concurrency"].values():
        assert 0 < c["p50_s"] <= c["p95_s"] and c["n"] == doc["server"]["requests"]
    assert doc["goal"]["met"] in (True, False, None)


def default_video(params: Path, corpus: Path) -> Path:
    """The first original of the bench corpus (generated when absent)."""
    from tools.bench.faces import ensure_bench_corpus

    ensure_bench_corpus(params, corpus, corpus.parent / "ground_truth.parquet", "bench predict")
    meta = json.loads((corpus / "dfdc_train_part_0" / "metadata.json").read_text())
    reals = sorted(name for name, m in meta.items() if m.get("label") == "REAL")
    if not reals:
        raise DfmaskError(f"{corpus}: no REAL video in part 0")
    return corpus / "dfdc_train_part_0" / reals[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--video", type=Path, default=None, help="video to score (default: the bench corpus's first)")
    parser.add_argument("--corpus", type=Path, default=Path("data/bench/corpus"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--server-requests", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("reports/bench_predict.json"))
    args = parser.parse_args(argv)
    try:
        video = args.video or default_video(args.params, args.corpus)
        doc = bench(video, args.models, args.backends.split(","), args.frames, args.repeats, args.server_requests)
    except DfmaskError as err:
        print(f"bench predict: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, doc)
    warm = ", ".join(f"{b} {r['phases_s']['end_to_end']:.2f} s" for b, r in doc["backends"].items())
    server = ", ".join(
        f"{c}: p50 {v['p50_s']:.2f} s p95 {v['p95_s']:.2f} s" for c, v in doc["server"]["concurrency"].items()
    )
    print(f"bench predict: warm {warm}; server ({server}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
