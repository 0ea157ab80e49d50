"""The CUDA paths, run and timed: ``python -m tools.bench.gpu`` → reports/bench_gpu.json (``make bench-gpu``).

Needs a CUDA GPU (without one it stops with one line). The machines this project is
developed and tested on have none; a GPU is lent now and then for a few minutes, and
this is the one script run there. Everything in one run, on the machine it runs on:

* **detect**: MTCNN as the faces stage runs it (`dfmask.faces.detect.FaceDetector`, the
  faces params), on the ``faces.frames`` sampled frames of each original of part 0,
  decoded once beforehand. Wall seconds per original on one CPU thread (at
  ``faces.precision``, and in float32) and on the GPU (``faces.precision`` as set, then
  float32, then float32 with a larger batch), each after one untimed warm-up video. Each
  GPU variant is compared with the CPU run of its own precision: its speed-up and its
  boxes, frame by frame. The speed-up at ``faces.precision`` is the projection's
  ``gpu_detect_speedup`` (docs/projection.md), measured against a core of this machine
  (the projection's costs are in core-seconds of the machine that measured them).
* **faces stage**: ``stages/faces.py`` as DVC runs it (`tools.bench.faces.run_stage`) on
  part 0 read ``--replicate`` times under new ids (`tools.bench.scale.replicated`), with
  ``faces.device: cuda`` twice (do two GPU runs write the same bytes?) and with
  ``faces.device: cpu`` on every core; videos/min of each, and how the GPU's crops
  compare with the CPU's (same rows? boxes within how many px? PNGs byte-equal?).
* **train**: the train stage's `dfmask.model.train.fit` (Lightning, DVCLive logger) at the
  default model size on a synthetic crop corpus (tests/model/model_synthetic.py: the
  model tests' tables, at ``--train-crop-size`` px): the GPU at ``train.precision: auto``
  (16-mixed), at 32-true twice (same weights?), with ``train.strategy: ddp`` on one GPU
  (NCCL), and the CPU; crops/s of each.

A section that fails is recorded with its error and the next one runs; the report is
written after every section, so a run cut short still leaves what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.params import FacesParams, TrainParams, load_section, read_params_file, to_dict
from dfmask.tables import write_json, write_table

REPO = Path(__file__).resolve().parents[2]


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def gpu_info(params: FacesParams) -> dict[str, Any]:
    """The host as `tools.bench.faces.machine_info` records it (CPU, threads, library
    versions), plus the GPU, CUDA, cuDNN, the driver, and Lightning's and DVCLive's versions."""
    import torch

    from tools.bench.faces import _dist_version, machine_info

    gpu: dict[str, Any] = {
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu.update(
            name=props.name,
            count=torch.cuda.device_count(),
            capability=f"{props.major}.{props.minor}",
            memory_gb=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
        )
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        gpu["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.SubprocessError) as err:
        gpu["nvidia_smi"] = f"not run: {err}"
    info = machine_info(params)
    info["versions"].update(lightning=_dist_version("lightning"), dvclive=_dist_version("dvclive"))
    return {**info, "gpu": gpu}


def box_agreement(reference: list[Any], other: list[Any]) -> dict[str, Any]:
    """How two detectors' `FrameFaces` lists (same frames) agree: frames with the same
    number of faces, and over those the largest and mean absolute box coordinate
    difference (px), the boxes of a frame paired in order of their x0."""
    if len(reference) != len(other):
        raise DfmaskError(f"box_agreement: {len(reference)} frames against {len(other)}")
    same = 0
    diffs: list[float] = []
    for a, b in zip(reference, other, strict=True):
        if len(a.boxes) != len(b.boxes):
            continue
        same += 1
        if len(a.boxes):
            pa_ = a.boxes[np.argsort(a.boxes[:, 0])]
            pb = b.boxes[np.argsort(b.boxes[:, 0])]
            diffs.extend(np.abs(pa_.astype(np.float64) - pb.astype(np.float64)).ravel().tolist())
    return {
        "frames": len(reference),
        "frames_same_face_count": same,
        "max_abs_box_diff_px": round(max(diffs), 4) if diffs else 0.0,
        "mean_abs_box_diff_px": round(float(np.mean(diffs)), 5) if diffs else 0.0,
    }


def _originals(corpus: Path, params: FacesParams) -> list[tuple[str, list[np.ndarray]]]:
    """(video_id, sampled frames) of each ok original of part 0, decoded once."""
    from dfmask.corpus.ingest import ingest_part
    from dfmask.video import iter_frames_at, sample_indices

    rows = [r for r in ingest_part(corpus, 0).table.to_pylist() if r["status"] == "ok" and not r["is_fake"]]
    out = []
    for row in sorted(rows, key=lambda r: r["video_id"]):
        got = iter_frames_at(
            corpus / row["path"], sample_indices(int(row["frames"]), params.frames), params.decode_threads
        )
        out.append((str(row["video_id"]), [frame for _, frame in got]))
    if not out:
        raise DfmaskError(f"{corpus}: no usable original in dfdc_train_part_0")
    return out


def detect_section(corpus: Path, params: FacesParams, gpu: Literal["cpu", "cuda"]) -> dict[str, Any]:
    """Detection alone, per original: the CPU on one thread (at ``faces.precision``, and in
    float32 too when that is float64) against the GPU variants; each GPU variant's speed-up
    and boxes are against the CPU run of its own precision (``cpu_reference``)."""
    from dfmask.faces.detect import FaceDetector

    videos = _originals(corpus, params)
    cpu_ref = {params.precision: "cpu_1_thread", "float32": "cpu_1_thread_float32"}
    if params.precision == "float32":
        cpu_ref["float32"] = "cpu_1_thread"
    variants = {
        "cpu_1_thread": dataclasses.replace(params, device="cpu", threads=1),
        **(
            {"cpu_1_thread_float32": dataclasses.replace(params, device="cpu", threads=1, precision="float32")}
            if params.precision != "float32"
            else {}
        ),
        f"{gpu}_{params.precision}": dataclasses.replace(params, device=gpu),
        f"{gpu}_float32": dataclasses.replace(params, device=gpu, precision="float32"),
        f"{gpu}_float32_batch32": dataclasses.replace(params, device=gpu, precision="float32", batch_size=32),
    }
    out: dict[str, Any] = {
        "originals": len(videos),
        "frames_per_original": [len(f) for _, f in videos],
        "frame_size": list(videos[0][1][0].shape[:2][::-1]),
        "variants": {},
    }
    import torch

    references: dict[str, dict[str, list[Any]]] = {}
    for name, p in variants.items():
        detector = FaceDetector(p)  # sets torch's threads to faces.threads, as the stage does
        detector.detect(videos[0][1])  # warm-up: nets loaded, kernels chosen (untimed)
        _sync(p.device)
        seconds, faces = [], {}
        for vid, frames in videos:
            t = time.perf_counter()
            faces[vid] = detector.detect(frames)
            _sync(p.device)
            seconds.append(time.perf_counter() - t)
        row: dict[str, Any] = {
            "device": p.device,
            "precision": p.precision,
            "batch_size": p.batch_size,
            "torch_threads": torch.get_num_threads(),
            "detect_s_per_original": round(float(np.mean(seconds)), 4),
            "detect_s_runs": [round(s, 4) for s in seconds],
            "faces_found": sum(len(f) for v in faces.values() for f in v),
        }
        if name.startswith("cpu_1_thread"):
            references[name] = faces
        else:
            ref = cpu_ref[p.precision]
            row["cpu_reference"] = ref
            row["speedup_over_one_cpu_thread"] = round(
                out["variants"][ref]["detect_s_per_original"] / row["detect_s_per_original"], 2
            )
            pooled = (
                [f for vid, _ in videos for f in references[ref][vid]],
                [f for vid, _ in videos for f in faces[vid]],
            )
            row["boxes_against_cpu"] = box_agreement(*pooled)
        out["variants"][name] = row
    best = max(
        (
            v
            for n, v in out["variants"].items()
            if not n.startswith("cpu_1_thread") and v["precision"] == params.precision
        ),
        key=lambda v: v["speedup_over_one_cpu_thread"],
    )
    out["gpu_detect_speedup"] = best["speedup_over_one_cpu_thread"]
    out["gpu_detect_speedup_note"] = (
        f"one CPU thread's detect seconds per original over the GPU's, at faces.precision {params.precision} "
        "(the stage's default), on this machine's CPU; the value for "
        "`python -m tools.bench.phases --gpu-speedup`"
    )
    return out


def _faces_rows(work: Path) -> Any:
    from dfmask.faces.quality import load_faces

    return load_faces([work / "data/interim/faces/part=0"], with_crops=True).sort_values(
        ["video_id", "frame_idx", "track_id"], ignore_index=True
    )


def crop_agreement(reference: Any, other: Any) -> dict[str, Any]:
    """Two faces-stage outputs of the same videos (DataFrames from `load_faces`, sorted):
    same rows (video, frame, track)? boxes within how many px? crop PNGs byte-equal?"""
    keys = ["video_id", "frame_idx", "track_id"]
    same_rows = len(reference) == len(other) and bool((reference[keys].values == other[keys].values).all())
    out: dict[str, Any] = {"rows": [len(reference), len(other)], "same_rows": same_rows}
    if same_rows and len(reference):
        a = np.stack(reference["box"].to_numpy()).astype(np.float64)
        b = np.stack(other["box"].to_numpy()).astype(np.float64)
        ca = np.stack(reference["crop_box"].to_numpy())
        cb = np.stack(other["crop_box"].to_numpy())
        out.update(
            max_abs_box_diff_px=round(float(np.abs(a - b).max()), 4),
            crop_windows_equal=round(float((ca == cb).all(axis=1).mean()), 4),
            crop_png_equal=round(float((reference["crop"].to_numpy() == other["crop"].to_numpy()).mean()), 4),
        )
    return out


def faces_section(
    corpus: Path, params_doc: dict[str, Any], gpu: str, replicate: int, gpu_workers: int
) -> dict[str, Any]:
    """The faces stage on part 0 x ``replicate``: GPU twice, then the CPU on every core."""
    from dfmask.corpus.ingest import ingest_part
    from dfmask.schemas.videos import VIDEOS
    from tools.bench.faces import _outputs, run_stage
    from tools.bench.scale import replicated

    cores = os.cpu_count() or 1
    table = replicated(ingest_part(corpus, 0).table, replicate)
    videos = table.num_rows
    runs = {
        f"{gpu}_1": {"device": gpu, "workers": gpu_workers, "threads": 1},
        f"{gpu}_2": {"device": gpu, "workers": gpu_workers, "threads": 1},
        "cpu": {"device": "cpu", "workers": cores, "threads": 1},
    }
    out: dict[str, Any] = {"videos": videos, "replicate": replicate, "runs": {}}
    frames: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_faces_") as tmp:
        videos_table = write_table(table, Path(tmp) / "videos" / "part=0.parquet", VIDEOS, "ingest")
        for name, faces in runs.items():
            doc = {**params_doc, "faces": {**params_doc["faces"], **faces}}
            work = Path(tmp) / name
            run = run_stage(work, corpus, videos_table, doc)
            out["runs"][name] = {
                **faces,
                "wall_s": run["wall_s"],
                "videos_per_min": round(60 * videos / run["wall_s"], 1),
                "cpu_s": run["cpu_s"],
                "peak_rss_mb": run["peak_rss_mb"],
                "summary": run["summary"],
                "outputs": _outputs(work),
            }
            frames[name] = _faces_rows(work)
    g1, g2 = out["runs"][f"{gpu}_1"], out["runs"][f"{gpu}_2"]
    out["gpu_runs_write_same_bytes"] = g1["outputs"] == g2["outputs"]
    out["gpu_against_cpu"] = crop_agreement(frames["cpu"], frames[f"{gpu}_1"])
    out["gpu_over_cpu_videos_per_min"] = round(g1["videos_per_min"] / out["runs"]["cpu"]["videos_per_min"], 2)
    for run in out["runs"].values():
        run["outputs"] = len(run["outputs"])  # the hashes were compared above; the count stays
    return out


def _synthetic(root: Path, videos_per_split: int, frames: int, size: int) -> None:
    sys.path.insert(0, str(REPO / "tests" / "model"))
    from model_synthetic import write_synthetic_corpus  # the model tests' tables

    write_synthetic_corpus(root, videos_per_split=videos_per_split, frames=frames, size=size)


def _weights(path: Path) -> dict[str, Any]:
    """The model's weights and buffers in a checkpoint, as float (`load_checkpoint`)."""
    from dfmask.model.uynet import load_checkpoint

    return {k: v.float() for k, v in load_checkpoint(path)[0].state_dict().items()}


def train_section(
    params: TrainParams, gpu: str, crop_size: int, videos: int, frames: int, epochs: int
) -> dict[str, Any]:
    """`fit` on a synthetic corpus, after one untimed short fit: GPU (auto precision, 32-true
    twice, DDP on one GPU) and CPU, every run on all cores' torch threads."""
    from dfmask.model.crop_index import read_crop_tables
    from dfmask.model.train import TrainPaths, fit

    accel = "gpu" if gpu == "cuda" else "cpu"
    base = dataclasses.replace(
        params,
        max_epochs=epochs,
        limit_train_batches=None,
        samples_per_epoch=None,
        threads=os.cpu_count() or 1,  # every core for the CPU run (torch's threads are set per fit, not inherited)
        init_checkpoint=None,
    )
    variants = {
        "gpu_auto": dataclasses.replace(base, accelerator=accel, precision="auto"),
        "gpu_32_1": dataclasses.replace(base, accelerator=accel, precision="32-true"),
        "gpu_32_2": dataclasses.replace(base, accelerator=accel, precision="32-true"),
        "gpu_ddp_1_device": dataclasses.replace(base, accelerator=accel, strategy="ddp", devices=1),
        "cpu": dataclasses.replace(base, accelerator="cpu", precision="32-true"),
    }
    out: dict[str, Any] = {"crop_size": crop_size, "videos_per_split": videos, "frames": frames, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench_gpu_train_") as tmp:
        root = Path(tmp)
        _synthetic(root, videos, frames, crop_size)
        index = read_crop_tables(root / "faces", root / "masks", root / "splits.parquet", (0, 1))
        # untimed: CUDA context, cuDNN and AMP start-up would otherwise land on the first variant
        warm = dataclasses.replace(variants["gpu_auto"], max_epochs=1, limit_train_batches=2, limit_val_batches=1)
        fit(warm, index, TrainPaths(*(root / n for n in ("faces", "masks", "splits.parquet", "w/models", "w/rep"))))
        for name, p in variants.items():
            paths = TrainPaths(
                root / "faces", root / "masks", root / "splits.parquet", root / name / "models", root / name / "reports"
            )
            t = time.perf_counter()
            report = fit(p, index, paths)
            keep = (
                "device",
                "precision",
                "threads",
                "epochs",
                "train_crops",
                "val_crops",
                "fit_seconds",
                "last_val_loss",
            )
            out["runs"][name] = {
                "strategy": p.strategy,
                **{k: report.get(k) for k in keep},
                "wall_s": round(time.perf_counter() - t, 2),
                **{k: v for k, v in report.items() if k.endswith("_per_s") or k.endswith("_seconds")},
            }
        a, b = (_weights(root / n / "models" / "uynet.ckpt") for n in ("gpu_32_1", "gpu_32_2"))
        diff = max(float((a[k] - b[k]).abs().max()) for k in a)
        out["gpu_32_true_runs_same_weights"] = diff == 0.0
        out["gpu_32_true_runs_max_abs_weight_diff"] = diff
        c = _weights(root / "cpu" / "models" / "uynet.ckpt")
        out["gpu_32_true_against_cpu_max_abs_weight_diff"] = max(float((a[k] - c[k]).abs().max()) for k in a)
    g, c_ = out["runs"]["gpu_auto"], out["runs"]["cpu"]
    if g.get("epoch_crops_per_s") and c_.get("epoch_crops_per_s"):
        out["gpu_auto_over_cpu_crops_per_s"] = round(g["epoch_crops_per_s"] / c_["epoch_crops_per_s"], 2)
    return out


def _where(filename: str) -> str:
    """A source file named without the machine's folders: relative to the repository, or
    to the import path entry it was found under (site-packages, a ``--target`` folder),
    else by its name."""
    path = Path(filename)
    roots = [REPO, *sorted((Path(p) for p in sys.path if p and Path(p).is_absolute()), key=lambda p: -len(p.parts))]
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name


def short_traceback(err: BaseException, frames: int = 8) -> list[str]:
    """The last ``frames`` frames of ``err``'s traceback as ``file:line in function``,
    files named by `_where` (a report holds no machine path)."""
    return [f"{_where(f.filename)}:{f.lineno} in {f.name}" for f in traceback.extract_tb(err.__traceback__)[-frames:]]


def _section(report: dict[str, Any], name: str, out: Path, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one section into ``report[name]``; a failure is recorded and the next runs."""
    t = time.perf_counter()
    print(f"bench gpu: {name} ...", flush=True)
    try:
        report[name] = fn()
    except Exception as err:  # noqa: BLE001 - recorded in the report, the other sections still run
        traceback.print_exc()  # the whole of it to the log; the report names frames by where they are
        report[name] = {"error": f"{type(err).__name__}: {err}", "traceback": short_traceback(err)}
        print(f"bench gpu: {name}: error: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
    report[name]["section_s"] = round(time.perf_counter() - t, 1)
    write_json(out, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/bench/corpus", help="bench corpus root (holds dfdc_train_part_0)")
    parser.add_argument("--ground-truth", default="data/bench/ground_truth.parquet", help="for generating only")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/bench_gpu.json")
    parser.add_argument(
        "--sections", default="detect,faces,train", help="comma-separated, run in this order: detect, faces, train"
    )
    parser.add_argument("--replicate", type=int, default=16, help="faces stage: part 0 read this many times")
    parser.add_argument("--gpu-workers", type=int, default=12, help="faces stage on the GPU: faces.workers")
    parser.add_argument("--train-crop-size", type=int, default=128)
    parser.add_argument("--train-videos", type=int, default=64, help="synthetic videos per split (and as many fakes)")
    parser.add_argument("--train-frames", type=int, default=8, help="synthetic crops per video")
    parser.add_argument("--train-epochs", type=int, default=2)
    parser.add_argument(
        "--cpu-only-smoke",
        action="store_true",
        help="run every section with the CPU standing in for the GPU (checks the script, measures nothing)",
    )
    args = parser.parse_args(argv)
    import torch

    gpu: Literal["cpu", "cuda"] = "cpu" if args.cpu_only_smoke else "cuda"
    if gpu == "cuda" and not torch.cuda.is_available():
        print("bench gpu: error: torch sees no CUDA GPU; this benchmark measures the GPU paths", file=sys.stderr)
        return 2
    try:
        from tools.bench.faces import ensure_bench_corpus

        corpus = Path(args.corpus)
        ensure_bench_corpus(Path(args.params), corpus, Path(args.ground_truth), "bench gpu")
        doc = read_params_file(Path(args.params))
        faces = load_section(FacesParams, "faces", Path(args.params))
        train = load_section(TrainParams, "train", Path(args.params))
    except DfmaskError as err:
        print(f"bench gpu: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    report: dict[str, Any] = {
        "smoke_on_cpu": args.cpu_only_smoke,
        "machine": gpu_info(faces),
        "faces_params": to_dict(faces),
        "train_params": to_dict(train),
    }
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "detect": lambda: detect_section(corpus, faces, gpu),
        "faces": lambda: faces_section(corpus, doc, gpu, args.replicate, args.gpu_workers),
        "train": lambda: train_section(
            train, gpu, args.train_crop_size, args.train_videos, args.train_frames, args.train_epochs
        ),
    }
    wanted = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in sections]
    if unknown:
        print(f"bench gpu: error: --sections: unknown {', '.join(unknown)} (detect, faces, train)", file=sys.stderr)
        return 2
    for name in wanted:  # in the order given: the one that matters most first
        _section(report, name, out, sections[name])
    write_json(out, report)
    errors = [name for name in ("detect", "faces", "train") if "error" in report.get(name, {})]
    print(f"bench gpu: done -> {out}" + (f"; failed: {', '.join(errors)}" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
