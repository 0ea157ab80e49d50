"""Per-video phase costs of faces + masks: ``python -m tools.bench.phases`` → reports/bench_phases.json.

On the generator's ``bench`` corpus (1920x1080, 10 s, 30 fps, ~1 original : 5 fakes;
generated into ``data/bench/`` when missing, as ``make bench-faces`` does), every video
is run through the library's own per-video steps, one video at a time in this one
process, with ``faces.threads`` torch threads, and each phase is timed:

* **original**: ``decode`` (its ``faces.frames`` sampled frames, `dfmask.video.iter_frames_at`),
  ``detect`` (rescale + MTCNN, `dfmask.faces.detect`, + tracking), ``crop_png`` (crop
  windows cut, resized and PNG-encoded);
* **fake**: ``decode`` (the frames its original has crops at), ``crop_png`` (cut at the
  original's windows), ``ssim`` (the masks stage's work for its crop pairs: both PNGs
  decoded, the SSIM map, the temporal mean, the cleaned mask and its PNG,
  `dfmask.masks.compute.mask_video`).

In float64 on the CPU every original is also detected by the dense float64 P-Net
(``FaceDetector(screen=False)``, the reference `dfmask.faces.pnet.ScreenedPNet` must
equal), in alternating order, and ``per_video.reference`` reports both times, their
ratio and whether the detections were byte-identical; the projection reads only the
stage's own ``detect``.

Each phase is timed as CPU seconds of this process (``time.process_time``: all its
threads, so a multi-threaded decoder counts every core it used) and as wall seconds.
The means per video are the ``measured_inputs`` of the DFDC projection
(`dfmask.compute.projection`, docs/projection.md), which is written into the same
report: the projection is arithmetic on those numbers and on the assumptions the report
names (a GPU's detection speed-up unless measured; how well the cores are packed).

This benchmark does not run the stages: the stage's own throughput, with its workers and
start-up, is ``make bench-faces`` / ``make bench-masks``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.compute.projection import (
    FAKE_PHASES,
    ORIGINAL_PHASES,
    CorpusShape,
    PhaseCosts,
    project_all,
    standard_profiles,
)
from dfmask.errors import DfmaskError
from dfmask.params import FacesParams, MasksParams, load_section, to_dict
from dfmask.tables import write_json

#: One GPU's MTCNN detection throughput in multiples of one CPU core's, until measured.
ASSUMED_GPU_SPEEDUP = 20.0
ASSUMED_GPU_SOURCE = (
    "ASSUMED, not measured: batched MTCNN on one data-centre GPU taken as 20 CPU cores' worth "
    "(order of magnitude only); replace with a measured figure (--gpu-speedup, --gpu-speedup-source)"
)


class PhaseClock:
    """CPU and wall seconds per (kind, phase), one list entry per video."""

    def __init__(self) -> None:
        self.cpu: dict[tuple[str, str], list[float]] = {}
        self.wall: dict[tuple[str, str], list[float]] = {}

    @contextmanager
    def time(self, kind: str, phase: str) -> Iterator[None]:
        c, w = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu.setdefault((kind, phase), []).append(time.process_time() - c)
            self.wall.setdefault((kind, phase), []).append(time.perf_counter() - w)


def summarise(clock: PhaseClock) -> dict[str, Any]:
    """Per kind and phase: videos timed, mean and median CPU seconds, mean wall seconds."""
    out: dict[str, Any] = {}
    for kind, phases in (("original", ORIGINAL_PHASES), ("fake", FAKE_PHASES)):
        out[kind] = {}
        for phase in phases:
            cpu = clock.cpu.get((kind, phase), [])
            wall = clock.wall.get((kind, phase), [])
            out[kind][phase] = {
                "videos": len(cpu),
                "cpu_s_mean": round(float(np.mean(cpu)), 4) if cpu else None,
                "cpu_s_median": round(float(np.median(cpu)), 4) if cpu else None,
                "wall_s_mean": round(float(np.mean(wall)), 4) if wall else None,
            }
    return out


def measured_inputs(per_video: dict[str, Any], source: str) -> PhaseCosts:
    """The projection's inputs: mean CPU seconds per video of each phase."""
    missing = [f"{k}.{p}" for k in ("original", "fake") for p, v in per_video[k].items() if v["cpu_s_mean"] is None]
    if missing:
        raise DfmaskError(f"bench phases: no video timed for {', '.join(missing)}; is the corpus empty?")
    mean = {k: {p: float(v["cpu_s_mean"]) for p, v in per_video[k].items()} for k in ("original", "fake")}
    return PhaseCosts(mean["original"], mean["fake"], source)


def build_report(
    per_video: dict[str, Any],
    crops: dict[str, float],
    corpus: dict[str, Any],
    machine: dict[str, Any],
    params: dict[str, Any],
    gpu_speedup: float = ASSUMED_GPU_SPEEDUP,
    gpu_source: str = ASSUMED_GPU_SOURCE,
) -> dict[str, Any]:
    """The report: what was measured, on what, and the projection computed from it."""
    costs = measured_inputs(per_video, f"reports/bench_phases.json: mean CPU s per video on {corpus['root']}")
    return {
        "corpus": corpus,
        "machine": machine,
        "params": params,
        "per_video": per_video,
        "crops_per_video": crops,
        "measured_inputs": {"original": costs.original, "fake": costs.fake, "source": costs.source},
        "assumed": {
            "gpu_detect_speedup": gpu_speedup,
            "gpu_detect_speedup_source": gpu_source,
            "efficiency": "1.0 on every profile: ideal packing (see docs/projection.md)",
        },
        "projection": project_all(costs, standard_profiles(gpu_speedup, gpu_source), CorpusShape()),
    }


def measure(
    corpus: Path, part: int, faces: FacesParams, masks: MasksParams, originals: int = 0
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Time every phase of part ``part``'s ok videos (the first ``originals`` originals and
    their fakes when > 0): (per-video summary, mean crops per video, corpus description)."""
    import torch

    from dfmask.corpus.ingest import ingest_part
    from dfmask.faces.crops import crop_face, crop_window
    from dfmask.faces.detect import FaceDetector
    from dfmask.faces.tracks import track_faces
    from dfmask.masks.compute import mask_video
    from dfmask.masks.pairing import FakeVideoJob
    from dfmask.tables import encode_png
    from dfmask.video import iter_frames_at, sample_indices

    if faces.threads:
        torch.set_num_threads(faces.threads)
    rows = [r for r in ingest_part(corpus, part).table.to_pylist() if r["status"] == "ok"]
    origs = [r for r in rows if not r["is_fake"]]
    origs = origs[:originals] if originals else origs
    detector = FaceDetector(faces)
    # the dense float64 P-Net that `ScreenedPNet` replaces on the CPU, timed beside it
    reference = FaceDetector(faces, screen=False) if faces.precision == "float64" and detector.device == "cpu" else None
    # FaceDetector imports facenet-pytorch (and torchvision) on a thread to overlap the
    # stage's first decode; here that CPU time would be charged to the first original's
    # decode phase, so the import is finished before anything is timed
    importlib.import_module("facenet_pytorch")
    clock = PhaseClock()
    identical: list[bool] = []
    crops_of: dict[str, int] = {}
    done: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes]]] = {}  # id → frame_idx, track, windows, PNGs
    for row in origs:
        path = corpus / str(row["path"])
        with clock.time("original", "decode"):
            got = list(iter_frames_at(path, sample_indices(int(row["frames"]), faces.frames), faces.decode_threads))
        if not got:
            continue
        frames = [f for _, f in got]

        def detect(det: FaceDetector, phase: str, frames: list[np.ndarray] = frames) -> tuple[list[Any], Any]:
            with clock.time("original", phase):
                run = det.start(frames[0].shape[1], frames[0].shape[0])
                for frame in frames:
                    run.add(frame)
                found = run.finish()
                return found, track_faces(found, faces.track_iou, faces.track_max_gap, faces.smooth_window)

        if reference is not None and len(identical) % 2:  # alternate which of the two runs first
            dense, _ = detect(reference, DENSE_PHASE)
        found, tracked = detect(detector, "detect")
        if reference is not None:
            if not len(identical) % 2:
                dense, _ = detect(reference, DENSE_PHASE)
            identical.append(same_detections(found, dense))
        with clock.time("original", "crop_png"):
            windows = [crop_window(b, faces.margin) for b in tracked.box]
            pngs = [encode_png(crop_face(frames[p], w, faces.size)) for p, w in zip(tracked.pos, windows, strict=True)]
        frame_idx = np.asarray([got[p][0] for p in tracked.pos], np.int64)
        done[str(row["video_id"])] = (frame_idx, np.asarray(tracked.track_id), np.asarray(windows), pngs)
        crops_of[str(row["video_id"])] = len(pngs)
    fakes = [r for r in rows if r["is_fake"] and str(r.get("original_id")) in done]
    for row in fakes:
        frame_idx, track_id, orig_windows, real_pngs = done[str(row["original_id"])]
        if not len(frame_idx):
            continue
        path = corpus / str(row["path"])
        with clock.time("fake", "decode"):
            frames_at = dict(iter_frames_at(path, np.unique(frame_idx), faces.decode_threads))
        with clock.time("fake", "crop_png"):
            pairs = tuple(
                (int(f), int(t), real, encode_png(crop_face(frames_at[int(f)], w, faces.size)))
                for f, t, w, real in zip(frame_idx, track_id, orig_windows, real_pngs, strict=True)
                if int(f) in frames_at
            )
        job = FakeVideoJob(part, str(row["video_id"]), str(row["original_id"]), pairs)
        with clock.time("fake", "ssim"):
            mask_video(job, masks)
        crops_of[str(row["video_id"])] = len(pairs)
    timed_origs = [crops_of[str(r["video_id"])] for r in origs if str(r["video_id"]) in crops_of]
    timed_fakes = [crops_of[str(r["video_id"])] for r in fakes if str(r["video_id"]) in crops_of]
    crops = {
        "original": round(float(np.mean(timed_origs)), 2) if timed_origs else 0.0,
        "fake": round(float(np.mean(timed_fakes)), 2) if timed_fakes else 0.0,
    }
    described = {
        "root": str(corpus),
        "part": part,
        "originals": len(timed_origs),
        "fakes": len(timed_fakes),
        "sizes": sorted({f"{r['width']}x{r['height']}" for r in rows}),
        "frames_per_video": sorted({int(r["frames"]) for r in rows}),
    }
    summary = summarise(clock)
    if reference is not None:
        summary["reference"] = dense_reference(clock, identical)
    return summary, crops, described


#: The clock's phase for the dense float64 reference detection (not a projection input).
DENSE_PHASE = "detect_dense_float64"


def same_detections(a: list[Any], b: list[Any]) -> bool:
    """True when two detections of the same frames store the same bytes."""
    return len(a) == len(b) and all(
        x.boxes.tobytes() == y.boxes.tobytes()
        and x.probs.tobytes() == y.probs.tobytes()
        and x.landmarks.tobytes() == y.landmarks.tobytes()
        for x, y in zip(a, b, strict=True)
    )


def dense_reference(clock: PhaseClock, identical: list[bool]) -> dict[str, Any]:
    """The screened detection (the ``detect`` phase) against the dense float64 P-Net on
    the same frames, in the same run, order alternated per original."""
    dense, screened = clock.cpu.get(("original", DENSE_PHASE), []), clock.cpu.get(("original", "detect"), [])
    return {
        "what": "original detect + tracking with dense float64 P-Net (FaceDetector(screen=False)) against "
        "the stage's screened P-Net (dfmask.faces.pnet.ScreenedPNet), same frames, same run",
        "videos": len(dense),
        "dense_cpu_s_mean": round(float(np.mean(dense)), 4) if dense else None,
        "screened_cpu_s_mean": round(float(np.mean(screened)), 4) if screened else None,
        "dense_over_screened": round(float(np.sum(dense) / np.sum(screened)), 3) if dense and screened else None,
        "detections_identical": f"{sum(identical)}/{len(identical)}",
    }


def reproject(report_path: Path, out: Path, gpu_speedup: float, gpu_source: str) -> int:
    """A committed report with its projection rebuilt for another GPU factor: the measured
    per-video costs, corpus, machine and params are kept as they were."""
    import json

    try:
        old = json.loads(report_path.read_text())
        report = build_report(
            old["per_video"],
            old["crops_per_video"],
            old["corpus"],
            old["machine"],
            old["params"],
            gpu_speedup,
            gpu_source,
        )
    except (OSError, ValueError, KeyError, DfmaskError) as err:
        print(f"bench phases: error: --reproject {report_path}: {err}", file=sys.stderr)
        return 2
    write_json(out, report)
    walls = ", ".join(f"{name}: {p['wall_hours']:.1f} h" for name, p in report["projection"]["profiles"].items())
    print(f"bench phases: reprojected with GPU factor {gpu_speedup}: DFDC {walls} -> {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/bench/corpus", help="corpus root (holds dfdc_train_part_<part>)")
    parser.add_argument("--ground-truth", default="data/bench/ground_truth.parquet", help="for generating only")
    parser.add_argument("--part", type=int, default=0)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/bench_phases.json")
    parser.add_argument("--originals", type=int, default=0, help="time the first N originals and their fakes (0 = all)")
    parser.add_argument("--gpu-speedup", type=float, default=ASSUMED_GPU_SPEEDUP)
    parser.add_argument("--gpu-speedup-source", default=ASSUMED_GPU_SOURCE)
    parser.add_argument(
        "--reproject",
        metavar="REPORT",
        help="measure nothing: rebuild REPORT's projection from its measured inputs with --gpu-speedup "
        "(e.g. the figure `make bench-gpu` measured) and write it to --out",
    )
    args = parser.parse_args(argv)
    if args.reproject:
        return reproject(Path(args.reproject), Path(args.out), args.gpu_speedup, args.gpu_speedup_source)
    from tools.bench.faces import ensure_bench_corpus, machine_info

    try:
        corpus = Path(args.corpus)
        ensure_bench_corpus(Path(args.params), corpus, Path(args.ground_truth), "bench phases")
        faces = load_section(FacesParams, "faces", args.params)
        masks = load_section(MasksParams, "masks", args.params)
        per_video, crops, described = measure(corpus, args.part, faces, masks, args.originals)
        report = build_report(
            per_video,
            crops,
            described,
            machine_info(faces),
            {"faces": to_dict(faces), "masks": to_dict(masks)},
            args.gpu_speedup,
            args.gpu_speedup_source,
        )
    except DfmaskError as err:
        print(f"bench phases: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, report)
    m = report["measured_inputs"]
    walls = ", ".join(f"{name}: {p['wall_hours']:.1f} h" for name, p in report["projection"]["profiles"].items())
    print(f"bench phases: original {m['original']}, fake {m['fake']} (CPU s per video); DFDC {walls} -> {args.out}")
    ref = report["per_video"].get("reference")
    if ref:
        print(
            f"bench phases: dense float64 P-Net {ref['dense_cpu_s_mean']} s per original against screened "
            f"{ref['screened_cpu_s_mean']} s ({ref['dense_over_screened']}x), "
            f"detections identical {ref['detections_identical']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
