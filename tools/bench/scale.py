"""Executor scaling: ``python -m tools.bench.scale`` → reports/bench_scale.json (``make bench-scale``).

On the generator's ``bench`` corpus (1920x1080, 10 s, about 1 original : 5 fakes; the
one `tools.bench.faces` uses), the faces stage and then the masks stage run with
``compute.executor: local`` and ``ray`` at 1 and 2 workers:

* local, W workers: ``faces.workers`` / ``masks.workers`` = W (threads / processes);
* ray, W workers: a fresh local Ray cluster of W CPUs (``ray.init(num_cpus=W)``),
  the stage joins it (``compute.address``); its start is timed apart
  (``cluster_start_s``): a cluster is started once and serves many stages. The Ray
  workers' cold start (each imports the stage's libraries) is inside the stage's time,
  as the local stage's own start is: each run is the stage script in a subprocess.

Every configuration runs ``--repeats`` times (default 3), alternated (repeat by
repeat: local 1, ray 1, local 2, ray 2), each on a fresh work folder; the medians count.
Derived, per stage: Ray's overhead against the local pool at the same worker count
(goal <= 10 %), each executor's 1 → 2 worker speed-up and Ray's as a share of the
local one (goal >= 0.9), and whether every run's outputs (shards, status table,
report) hash alike (sha256).

``--replicate K`` (``make bench-scale-part``: K = 4, 2 repeats → reports/bench_scale_part.json)
runs the same on a part K times larger, each video read K times under new ids
(`replicated`): a stage's fixed costs (interpreter and library start, Ray's workers
importing torch and its detector actors loading MTCNN) weigh on 12 videos as they
never would on a DFDC part of ~2,400, and generating more 1080p bench video costs
~8 min per original and its fakes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from dfmask.errors import DfmaskError
from dfmask.params import read_params_file
from dfmask.tables import file_sha256, write_json, write_table
from tools.stagecmd import stage_argv

EXECUTORS = ("local", "ray")
STAGES = ("faces", "masks")
#: Goals of issue #20: Ray's wall time at most 10 % above the local pool's, and its
#: 1 → 2 worker speed-up at least 0.9 of the local pool's.
MAX_OVERHEAD = 0.10
MIN_SCALING_SHARE = 0.9


def outputs_sha256(folder: Path) -> dict[str, str]:
    """sha256 of every Parquet file and JSON report under ``folder``, by relative path."""
    files = sorted([*folder.rglob("*.parquet"), *folder.rglob("*.json")])
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in files}


def summarise(wall: dict[str, dict[str, dict[str, list[float]]]], identical: dict[str, bool]) -> dict[str, Any]:
    """The report's derived figures from the measured wall times.

    Args:
        wall: stage → executor → workers (``"1"``, ``"2"``) → wall seconds of each run.
        identical: stage → whether every run's outputs hashed alike.
    """
    out: dict[str, Any] = {}
    for stage, by_executor in wall.items():
        median = {
            ex: {w: round(statistics.median(ts), 3) for w, ts in by_w.items()} for ex, by_w in by_executor.items()
        }
        overhead = {
            w: round(median["ray"][w] / median["local"][w] - 1, 4)
            for w in sorted(median["local"])
            if w in median["ray"]
        }
        scaling = {ex: round(m["1"] / m["2"], 3) for ex, m in median.items() if "1" in m and "2" in m}
        share = round(scaling["ray"] / scaling["local"], 3) if {"ray", "local"} <= set(scaling) else None
        out[stage] = {
            "wall_s_runs": wall[stage],
            "wall_s_median": median,
            "ray_overhead": overhead,  # (ray − local) / local, by worker count
            "speedup_1_to_2": scaling,  # wall(1 worker) / wall(2 workers), per executor
            "ray_speedup_share_of_local": share,
            "outputs_identical": identical[stage],
            "targets": {
                f"ray_overhead<={MAX_OVERHEAD:g}": all(v <= MAX_OVERHEAD for v in overhead.values()),
                f"ray_speedup_share>={MIN_SCALING_SHARE:g}": share is not None and share >= MIN_SCALING_SHARE,
                "outputs_identical": identical[stage],
            },
        }
    return out


def replicated(table: Any, copies: int) -> Any:
    """The ingest table ``copies`` times over: copy ``k`` (from 1) of each video gets the id
    ``<id>_r<k>`` and, for a fake, its original's copy ``k`` as its original. Every copy
    reads the same file, so the stage does the same per-video work on a part ``copies``
    times larger (its fixed costs, Ray's worker and actor start among them, spread over
    more videos), without generating more 1080p video. Not a different corpus: the
    outputs repeat."""
    if copies <= 1:
        return table
    rows = table.to_pylist()
    out = list(rows)
    for k in range(1, copies):
        for row in rows:
            copy = dict(row, video_id=f"{row['video_id']}_r{k}")
            if row.get("original_id") is not None:
                copy["original_id"] = f"{row['original_id']}_r{k}"
            out.append(copy)
    return table.from_pylist(out, schema=table.schema)


def _stage_s(stage: str, workspace: Path, doc: dict[str, Any]) -> float:
    """Wall seconds of ``stages/<stage>.py`` (part 0) run as DVC runs it, in ``workspace``."""
    t0 = time.perf_counter()
    run = subprocess.run(stage_argv(stage, 0, doc), cwd=workspace, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise DfmaskError(f"{stage} stage failed in the benchmark: {run.stderr.strip()[-500:]}")
    return wall


class _Cluster:
    """A fresh local Ray cluster of ``cpus`` CPUs for one run (its start timed apart);
    its address, for the stage to join, or "" for the local executor."""

    def __init__(self, executor: str, cpus: int, starts: list[float]):
        self.executor, self.cpus, self.starts = executor, cpus, starts

    def __enter__(self) -> str:
        if self.executor != "ray":
            return ""
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=self.cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        self.starts.append(time.perf_counter() - t0)
        return str(ray.get_runtime_context().gcs_address)

    def __exit__(self, *exc: object) -> None:
        if self.executor == "ray":
            import ray

            ray.shutdown()


def bench(
    corpus: Path,
    params_path: Path,
    scratch: Path,
    repeats: int = 3,
    originals: int = 0,
    workers: Sequence[int] = (1, 2),
    replicate: int = 1,
) -> dict[str, Any]:
    """All runs; ``originals`` > 0 keeps only the first N originals and their fakes (smoke runs);
    ``replicate`` > 1 makes the part that many times larger (`replicated`).

    Each run is the stage script in a subprocess, in a fresh folder laid out like the
    repository (params.yaml, the ingest table): the local executor pays its interpreter
    and library start like the Ray workers do; a Ray run joins the cluster started for it.
    """
    from dfmask.corpus.ingest import ingest_part
    from dfmask.schemas.videos import VIDEOS

    doc = read_params_file(params_path)
    table = ingest_part(corpus, 0).table
    if originals:
        ids = zip(table["video_id"].to_pylist(), table["is_fake"].to_pylist(), strict=True)
        keep = set(sorted(v for v, fake in ids if not fake)[:originals])
        rows = [r for r in table.to_pylist() if r["video_id"] in keep or r.get("original_id") in keep]
        table = table.from_pylist(rows, schema=table.schema)
    table = replicated(table, replicate)
    wall: dict[str, dict[str, dict[str, list[float]]]] = {s: {e: {} for e in EXECUTORS} for s in STAGES}
    hashes: dict[str, list[dict[str, str]]] = {s: [] for s in STAGES}
    starts: list[float] = []
    for r in range(max(1, repeats)):
        for w in workers:
            for executor in EXECUTORS:
                ws = scratch / f"r{r}_{executor}_{w}"
                write_table(table, ws / doc["paths"]["videos"] / "part=0.parquet", VIDEOS, "ingest")
                with _Cluster(executor, w, starts) as address:
                    run_doc = {
                        **doc,
                        "corpus": {"root": str(corpus.resolve()), "parts": [0]},
                        "faces": {**doc["faces"], "workers": w},
                        "masks": {**doc["masks"], "workers": w},
                        "compute": {**doc.get("compute", {}), "executor": executor, "address": address},
                    }
                    (ws / "params.yaml").write_text(yaml.safe_dump(run_doc))
                    for stage in STAGES:
                        wall[stage][executor].setdefault(str(w), []).append(round(_stage_s(stage, ws, run_doc), 3))
                for stage in STAGES:
                    out = ws / doc["paths"][stage] / "part=0"
                    report = ws / doc["paths"]["reports"] / stage / "part=0.json"
                    hashes[stage].append(outputs_sha256(out) | {"report": file_sha256(report)})
                shutil.rmtree(ws, ignore_errors=True)
    identical = {s: all(h == hashes[s][0] for h in hashes[s]) for s in STAGES}
    import ray

    n_orig = sum(1 for f in table["is_fake"].to_pylist() if not f)
    return {
        "corpus": {
            "root": str(corpus),
            "videos": table.num_rows,
            "originals": n_orig,
            "fakes": table.num_rows - n_orig,
        },
        "replicate": max(1, replicate),
        "repeats": max(1, repeats),
        "workers": list(workers),
        "order": "each repeat: for each worker count, local then ray; faces then masks (stage scripts, subprocesses)",
        "stages": summarise(wall, identical),
        "output_sha256": {s: hashes[s][0] for s in STAGES},
        "cluster_start_s_median": round(statistics.median(starts), 2) if starts else None,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "ray": ray.__version__,
        },
    }


def main(argv: list[str] | None = None) -> int:
    from tools.bench.faces import ensure_bench_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/bench/corpus", help="bench corpus root (holds dfdc_train_part_0)")
    parser.add_argument("--ground-truth", default="data/bench/ground_truth.parquet")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="reports/bench_scale.json")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration (medians count)")
    parser.add_argument("--originals", type=int, default=0, help="only the first N originals and their fakes (0 = all)")
    parser.add_argument(
        "--replicate", type=int, default=1, help="each video K times under new ids: a K times larger part (default 1)"
    )
    args = parser.parse_args(argv)
    try:
        corpus = Path(args.corpus)
        ensure_bench_corpus(Path(args.params), corpus, Path(args.ground_truth), "bench scale")
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
            result = bench(corpus, Path(args.params), Path(tmp), args.repeats, args.originals, replicate=args.replicate)
    except DfmaskError as err:
        print(f"bench scale: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, result)
    for stage, s in result["stages"].items():
        print(
            f"bench scale: {stage}: ray overhead {s['ray_overhead']}, speed-up 1→2 {s['speedup_1_to_2']} "
            f"(ray {s['ray_speedup_share_of_local']} of local), outputs identical {s['outputs_identical']}"
        )
    print(f"bench scale: -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
