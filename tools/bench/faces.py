"""Benchmark of the faces stage: ``python -m tools.bench.faces`` → reports/bench_faces.json.

All measured in one run on the generator's ``bench`` corpus (1920x1080, 10 s, 30 fps,
about 1 original : 5 fakes). Method and targets: docs/benchmarks.md, "faces".

* **(a) stage**: ``stages/faces.py`` run as a subprocess on a fresh work folder
  (cold: no reused videos), wall time → videos/min; the peak RSS of each of its
  processes (driver and any workers) and of all together (see `run_with_peak_rss`:
  why not ``wait4``'s ru_maxrss of a direct child).
  Run ``--repeats`` times (default 3), alternated with (c)'s sequential pass; the
  medians count, and the runs' outputs must hash alike.
* **(b) naive baseline**: what one would write first: facenet-pytorch MTCNN with its
  default ``min_face_size`` (20 px) at full resolution on the 32 linspace frames of
  EVERY video, fakes included; same decoder (`dfmask.video.read_frames`), same batch
  size and threads as (a).
* **(c) decode floor**: only decoding the frames (a) needs (the 32 sampled frames of
  every video), the faster of one pass from the start (`read_frames`, which leaves the
  unwanted H.264 non-reference frames out of the decode) and per-frame seeking
  (`read_frames_seek`); both are timed and reported. (a), (b) and (c) all decode with
  `read_frames`, so a faster decoder speeds up all three alike.
* **recall** of (a)'s boxes against the corpus's ground truth (`dfmask.faces.quality`).

Targets: (a) >= 10x (b) in videos/min; (a) >= 50 % of (c); (a)'s peak RSS < 2 GB.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import yaml

from dfmask.errors import DfmaskError
from dfmask.params import FacesParams, load_section, read_params_file, to_dict
from dfmask.tables import file_sha256, write_json, write_table
from dfmask.video import displayed_rgb, read_frames, sample_indices
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]


def read_frames_seek(
    path: str | os.PathLike[str], indices: Sequence[int], threads: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Decode the frames at ``indices`` by seeking to each one (keyframe + decode forward).

    The alternative to `dfmask.video.read_frames` (sequential) for the decode floor; same
    return value. Frame ``i`` is found by its timestamp ``start + i / fps`` (constant
    frame rate, as in DFDC and the sample corpus).
    """
    frames: list[np.ndarray] = []
    got: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        rate, base = stream.average_rate, stream.time_base
        if rate is None or base is None:
            raise DfmaskError(f"{path}: no frame rate/time base; cannot seek by frame")
        start = stream.start_time or 0
        for i in sorted({int(i) for i in indices}):
            target = start + round(i / float(rate) / float(base))
            container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target:
                    frames.append(displayed_rgb(frame))
                    got.append(i)
                    break
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8), []
    return np.stack(frames), got


#: CPU flags that decide which kernels torch/oneDNN, OpenCV and FFmpeg pick.
_ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
)  # fmt: skip
#: Environment variables that change threads, kernels or the allocator.
_ENV = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
    "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD",
)  # fmt: skip


def _cpu() -> dict[str, Any]:
    """CPU model and ISA flags from /proc/cpuinfo (Linux; empty elsewhere)."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    return {
        "model": info.get("model name"),
        "vendor": info.get("vendor_id"),
        "family_model_stepping": [info.get("cpu family"), info.get("model"), info.get("stepping")],
        "isa_flags": [f for f in _ISA_FLAGS if f in flags],
    }


def machine_info(params: FacesParams) -> dict[str, Any]:
    """What makes two runs comparable: CPU, load, thread settings, allocator, versions.

    torch's settings are read here after applying ``faces.threads`` as the stage does
    (same interpreter, same libraries); the stage's workers are threads of one process.
    """
    import cv2
    import facenet_pytorch
    import torch
    import torchvision

    if params.threads:
        torch.set_num_threads(params.threads)
    config = torch.__config__.show()
    onednn = next((ln.strip() for ln in config.splitlines() if "oneDNN" in ln or "MKL-DNN" in ln), None)
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "processor": platform.machine(),
        "torch_threads": {
            "intra_op": torch.get_num_threads(),
            "inter_op": torch.get_num_interop_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
            "onednn": onednn,
            # ATen/OpenMP/MKL thread counts and the thread-related environment, as torch sees them
            "parallel_info": [ln.strip() for ln in torch.__config__.parallel_info().splitlines() if ln.strip()],
        },
        "faces": {
            "workers": params.workers,
            "threads": params.threads,
            "decode_threads": params.decode_threads,
            "batch_size": params.batch_size,
            "precision": params.precision,
            "device": params.device,
        },
        "env": {k: os.environ[k] for k in _ENV if k in os.environ},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "facenet_pytorch": getattr(facenet_pytorch, "__version__", None) or _dist_version("facenet-pytorch"),
            "av": av.__version__,
            "ffmpeg_libavcodec": ".".join(str(x) for x in av.library_versions.get("libavcodec", ())),
            "opencv": cv2.__version__,
            "numpy": np.__version__,
            "glibc": "-".join(platform.libc_ver()),
        },
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _videos(table_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in table_rows if v["status"] == "ok"]


def _decode_s(root: Path, videos: list[dict[str, Any]], params: FacesParams, seek: bool) -> float:
    """Seconds to decode the sampled frames of every video, sequentially or by seeking."""
    total = 0.0
    for v in videos:
        idx = sample_indices(int(v["frames"]), params.frames)
        t = time.perf_counter()
        if seek:
            read_frames_seek(root / v["path"], idx.tolist(), params.decode_threads)
        else:
            read_frames(root / v["path"], idx, params.decode_threads)
        total += time.perf_counter() - t
    return total


def decode_floor(
    root: Path, videos: list[dict[str, Any]], params: FacesParams, sequential: list[float]
) -> dict[str, Any]:
    """(c): the sequential decode times already taken (one per repeat, their median
    counts) against one seeking pass (far slower on H.264 with one keyframe per clip)."""
    seq = float(np.median(sequential))
    seek = _decode_s(root, videos, params, seek=True)
    n = len(videos)
    best = min(seq, seek)
    return {
        "sequential_s": round(seq, 2),
        "sequential_s_runs": [round(x, 2) for x in sequential],
        "seek_s": round(seek, 2),
        "winner": "sequential" if seq <= seek else "seek",
        "videos_per_min": round(60 * n / best, 2) if best else None,
        "sequential_videos_per_min": round(60 * n / seq, 2) if seq else None,
        "seek_videos_per_min": round(60 * n / seek, 2) if seek else None,
    }


def naive_baseline(root: Path, videos: list[dict[str, Any]], params: FacesParams) -> dict[str, Any]:
    """(b): default-size MTCNN at full resolution on 32 frames of every video."""
    import torch
    from facenet_pytorch import MTCNN

    from dfmask.faces.detect import resolve_device

    if params.threads:
        torch.set_num_threads(params.threads)
    mtcnn = MTCNN(keep_all=True, thresholds=list(params.thresholds), device=resolve_device(params.device))
    decode_s = detect_s = 0.0
    faces = 0
    t0 = time.perf_counter()
    for v in videos:
        t = time.perf_counter()
        frames, _ = read_frames(
            root / v["path"], sample_indices(int(v["frames"]), params.frames), params.decode_threads
        )
        decode_s += time.perf_counter() - t
        t = time.perf_counter()
        for s in range(0, len(frames), params.batch_size):
            with torch.inference_mode():
                boxes, _ = mtcnn.detect(frames[s : s + params.batch_size])
            faces += sum(0 if b is None else len(b) for b in boxes)
        detect_s += time.perf_counter() - t
    total = time.perf_counter() - t0
    return {
        "wall_s": round(total, 2),
        "decode_s": round(decode_s, 2),
        "detect_s": round(detect_s, 2),
        "videos_per_min": round(60 * len(videos) / total, 2),
        "videos_timed": len(videos),
        "faces_found": faces,
        "min_face_size": 20,
        "scale": 1.0,
    }


#: A small launcher: runs argv[2:] as its child and writes the child's ``ru_maxrss`` (kB)
#: and CPU seconds to argv[1]. See `run_with_peak_rss`.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, output, times and peak RSS.

    ``peak_rss_mb`` is the largest peak of any one process of the child's tree (the
    child's own ``ru_maxrss``, which covers the processes it waited for); ``processes``
    has each process's own peak and the tree's total (`tools.bench.rss.TreeSampler`).
    """

    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    ru_maxrss_mb: float
    processes: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def total_peak_rss_mb(self) -> float:
        """The tree's peak total RSS (sampled), never below the largest single process's."""
        return max(self.peak_rss_mb, float(self.processes.get("total_peak_rss_mb") or 0.0))


def run_with_peak_rss(
    script: Path, args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, interval: float = 0.02
) -> ChildRun:
    """Run ``python script args`` in ``cwd``; its wall/CPU time and peak RSS, per process
    and in total.

    A child's ``ru_maxrss`` from ``wait4`` is not its own on Linux: at ``exec`` the
    kernel records the old address space's high-water mark, and with ``vfork`` (which
    subprocess uses) that address space is the parent's, so the child starts at the
    parent's peak RSS. The bench process peaks at GBs when it generates the bench corpus
    first (a fresh clone), and that was reported as the stage's. So the script is started
    by a small launcher process (``python -c``, ~10 MB, `_LAUNCHER`) that waits for it and
    writes its ``ru_maxrss``: that one starts at the launcher's peak, not ours. The
    launcher's own ``ru_maxrss`` (which does include ours) is kept as ``ru_maxrss_mb``.
    Meanwhile the tree under the launcher (the script and any worker processes it
    starts) is polled every ``interval`` s for each process's peak and the total.
    """
    from tools.bench.rss import TreeSampler

    cwd.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peak_rss_") as tmp:
        peak_file, out_file, err_file = Path(tmp) / "peak", Path(tmp) / "out", Path(tmp) / "err"
        cmd = [sys.executable, "-c", _LAUNCHER, str(peak_file), sys.executable, str(script), *args]
        t = time.perf_counter()
        with out_file.open("w") as so, err_file.open("w") as se:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=so, stderr=se, text=True, env=env)
            sampler = TreeSampler(proc.pid, interval=interval, skip_root=True).start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                sampler.stop()
        wall = time.perf_counter() - t
        maxrss = usage.ru_maxrss / 1024
        own, cpu = maxrss, usage.ru_utime + usage.ru_stime
        if peak_file.exists():
            kb, cpu_s = peak_file.read_text().split()
            own, cpu = int(kb) / 1024, float(cpu_s)
        processes = sampler.report()
        if processes["driver"] is not None and not processes["children"]:
            # one process: its ru_maxrss is exact (the last poll may precede its shutdown)
            processes["driver"]["peak_rss_mb"] = max(processes["driver"]["peak_rss_mb"], round(own, 1))
        return ChildRun(
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out_file.read_text(),
            stderr=err_file.read_text(),
            wall_s=wall,
            cpu_s=cpu,
            peak_rss_mb=round(own, 1),
            ru_maxrss_mb=round(maxrss, 1),
            processes=processes,
        )


def run_stage(work: Path, root: Path, videos_table: Path, params_doc: dict[str, Any]) -> dict[str, Any]:
    """(a): ``stages/faces.py`` as a subprocess in a fresh folder; wall time and peak RSS."""
    work.mkdir(parents=True, exist_ok=True)
    doc = dict(params_doc)
    doc["corpus"] = {"root": str(root.resolve()), "parts": [0]}
    (work / "params.yaml").write_text(yaml.safe_dump(doc))
    # dvc.yaml's arguments for faces@0 (paths from params.yaml), the ingest table replaced
    # by the bench's own (argparse keeps the last --videos)
    _, script, *args = stage_argv("faces", 0, doc)
    run = run_with_peak_rss(Path(script), [*args, "--videos", str(videos_table.resolve())], work)
    if run.returncode != 0:
        raise DfmaskError(f"faces stage failed in the benchmark: {run.stderr.strip()[-500:]}")
    return {
        "wall_s": round(run.wall_s, 2),
        "peak_rss_mb": run.total_peak_rss_mb,
        "max_process_peak_rss_mb": run.peak_rss_mb,
        "ru_maxrss_mb": run.ru_maxrss_mb,
        "cpu_s": round(run.cpu_s, 2),
        "processes": run.processes,
        "summary": run.stdout.strip(),
    }


def stage_processes(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The stage runs' processes: the driver's peak RSS, each worker process's (by name,
    the largest over the runs) and the tree's total, max over the runs, with every run's
    breakdown. With thread workers (the faces stage's own pool) the driver is the total."""
    driver = [r["processes"]["driver"]["peak_rss_mb"] for r in runs if r["processes"].get("driver")]
    workers: dict[str, list[float]] = {}
    for r in runs:
        for child in r["processes"].get("children", []):
            workers.setdefault(child["name"], []).append(child["peak_rss_mb"])
    return {
        "stage_driver_peak_rss_mb": max(driver) if driver else None,
        "stage_child_processes": max((len(r["processes"].get("children", [])) for r in runs), default=0),
        "stage_children_peak_rss_mb": {name: max(v) for name, v in sorted(workers.items())},
        "stage_total_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "stage_runs": [r["processes"] for r in runs],
    }


def _outputs(work: Path) -> dict[str, str]:
    """sha256 of each of the stage's shards, status table and report, by path."""
    files = [*sorted((work / "data/interim/faces/part=0").rglob("*.parquet")), work / "reports/faces/part=0.json"]
    return {path.relative_to(work).as_posix(): file_sha256(path) for path in files}


def bench(
    corpus: Path, ground_truth: Path, params_path: Path, scratch: Path, naive_videos: int = 0, repeats: int = 3
) -> dict[str, Any]:
    """All measurements; ``naive_videos`` > 0 times (b) on only the first N videos (its
    cost per video does not depend on which video: every one is detected alike).

    (a) and the sequential pass of (c) run ``repeats`` times, alternated, and their
    medians count: on a shared machine one run of either can be off by 20 %.
    """
    from dfmask.corpus.groundtruth import load_ground_truth
    from dfmask.corpus.ingest import ingest_part
    from dfmask.faces.quality import face_recall, load_faces
    from dfmask.schemas.videos import VIDEOS

    params = load_section(FacesParams, "faces", params_path)
    doc = read_params_file(params_path)
    machine = machine_info(params)
    ingest = ingest_part(corpus, 0)
    videos_table = write_table(ingest.table, scratch / "videos" / "part=0.parquet", VIDEOS, "ingest")
    rows = ingest.table.to_pylist()
    videos = _videos(rows)
    if not videos:
        raise DfmaskError(f"{corpus}: no usable video in dfdc_train_part_0")
    originals = sum(1 for v in videos if not v["is_fake"])
    repeats = max(1, repeats)
    runs, sequential, outputs = [], [], []
    for r in range(repeats):
        runs.append(run_stage(scratch / f"stage{r}", corpus, videos_table, doc))
        outputs.append(_outputs(scratch / f"stage{r}"))
        sequential.append(_decode_s(corpus, videos, params, seek=False))
    wall = float(np.median([x["wall_s"] for x in runs]))
    stage = {
        "wall_s": round(wall, 2),
        "wall_s_runs": [x["wall_s"] for x in runs],
        "videos_per_min": round(60 * len(rows) / wall, 2),
        # the stage's whole process tree (driver + any worker processes), max over the runs
        "peak_rss_mb": max(x["peak_rss_mb"] for x in runs),
        "peak_rss_mb_runs": [x["peak_rss_mb"] for x in runs],
        # wait4's figure, which includes the bench process's own peak (see run_with_peak_rss)
        "ru_maxrss_mb_runs": [x["ru_maxrss_mb"] for x in runs],
        "cpu_s_runs": [x["cpu_s"] for x in runs],
        "outputs_identical_across_runs": all(o == outputs[0] for o in outputs),
        "summary": runs[0]["summary"],
    }
    faces = load_faces([scratch / "stage0" / "data/interim/faces/part=0"])
    truth = load_ground_truth(ground_truth)
    truth = truth[truth["part"] == 0]
    recall = face_recall(faces, truth, params.frames)
    floor = decode_floor(corpus, videos, params, sequential)
    naive = naive_baseline(corpus, videos[:naive_videos] if naive_videos else videos, params)
    a, b, c = stage["videos_per_min"], naive["videos_per_min"], floor["videos_per_min"]
    sizes = sorted({f"{v['width']}x{v['height']}" for v in videos})
    return {
        "corpus": {
            "root": str(corpus),
            "videos": len(rows),
            "originals": originals,
            "fakes": len(videos) - originals,
            "sizes": sizes,
            "frames_per_video": sorted({int(v["frames"]) for v in videos}),
        },
        "params": to_dict(params),
        "repeats": repeats,
        "stage": stage,
        "naive": naive,
        "decode_floor": floor,
        "recall": {k: recall[k] for k in ("recall", "true_faces", "found", "extra_boxes", "min_iou")},
        "ratios": {
            "stage_over_naive": round(a / b, 2),
            "stage_over_decode_floor": round(a / c, 3) if c else None,
            # the best any detector-on-originals design could reach over (b): decode-bound
            "decode_floor_over_naive": round(c / b, 2) if c else None,
        },
        "targets": {
            "stage_over_naive>=10": a / b >= 10,
            "stage_over_decode_floor>=0.5": bool(c) and a / c >= 0.5,
            "peak_rss<2GB": stage["peak_rss_mb"] < 2048,
            "recall>=0.98": recall["recall"] >= 0.98,
        },
        "machine": {**machine, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "processes": {
            **stage_processes(runs),
            # this process: (b)'s MTCNN and (c)'s decoding, never at the same time as (a)
            "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    }


def ensure_bench_corpus(params_path: Path, corpus: Path, ground_truth: Path, bench: str = "bench") -> None:
    """Generate the bench corpus with the sample generator's ``bench`` profile, unless
    ``corpus`` already holds its part 0 and ``ground_truth`` exists (``bench`` names the
    caller in the line printed before generating).

    The generator writes ``<out>/corpus`` and ``<out>/ground_truth.parquet``, so
    ``corpus`` must be ``<out>/corpus`` and ``ground_truth`` ``<out>/ground_truth.parquet``.
    """
    from dfmask.corpus.sample import SamplePaths, run
    from dfmask.params import BaseParams, CorpusParams, SampleParams

    if (corpus / "dfdc_train_part_0").is_dir() and ground_truth.exists():
        return
    print(f"{bench}: generating the bench corpus in {corpus.parent} (sample profile 'bench')")
    out = corpus.parent
    if corpus.name != "corpus" or ground_truth != out / "ground_truth.parquet":
        raise DfmaskError(
            f"--corpus {corpus} / --ground-truth {ground_truth}: to generate, use <dir>/corpus "
            "and <dir>/ground_truth.parquet (the generator's layout)"
        )
    sample = load_section(SampleParams, "sample", params_path)
    base = load_section(BaseParams, "base", params_path)
    sample = dataclasses.replace(sample, profile="bench")
    run(sample, CorpusParams(root=str(corpus), parts=(0,)), base, SamplePaths(out, out / "preview.png"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/bench/corpus", help="bench corpus root (holds dfdc_train_part_0)")
    parser.add_argument("--ground-truth", default="data/bench/ground_truth.parquet")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/bench_faces.json")
    parser.add_argument("--naive-videos", type=int, default=0, help="time (b) on the first N videos only (0 = all)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of (a) and of (c)'s sequential pass (their medians count)"
    )
    args = parser.parse_args(argv)
    try:
        corpus = Path(args.corpus)
        ensure_bench_corpus(Path(args.params), corpus, Path(args.ground_truth), "bench faces")
        with tempfile.TemporaryDirectory(prefix="bench_faces_") as tmp:
            result = bench(
                corpus, Path(args.ground_truth), Path(args.params), Path(tmp), args.naive_videos, args.repeats
            )
    except DfmaskError as err:
        print(f"bench faces: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, result)
    r = result
    print(
        f"bench faces: stage {r['stage']['videos_per_min']} videos/min, naive {r['naive']['videos_per_min']}, "
        f"decode floor {r['decode_floor']['videos_per_min']} ({r['decode_floor']['winner']}); "
        f"x{r['ratios']['stage_over_naive']} naive, {r['ratios']['stage_over_decode_floor']:.0%} of floor; "
        f"peak RSS {r['stage']['peak_rss_mb']} MB; recall {r['recall']['recall']:.4f} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
