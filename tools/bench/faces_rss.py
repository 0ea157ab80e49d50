"""Peak RSS of the faces stage alone: ``python -m tools.bench.faces_rss`` (``make bench-faces-rss``).

The memory half of ``make bench-faces`` without its timings: ``stages/faces.py`` run
as a subprocess on a fresh folder (`tools.bench.faces.run_stage`) with each process's
peak RSS (the stage's driver and any worker processes) and the tree's total
(`tools.bench.rss`), plus the machine and thread settings. Memory does not depend on
the machine's load, so unlike the speed ratios this can be measured on a shared box,
and on a few videos: the stage holds at most ``faces.workers`` videos at once, so its
peak is reached by the first originals (``--originals``: the first N originals by id
and their fakes). Also writes the sha256 of the stage's outputs, to compare code
versions on the same videos.

The corpus defaults to the bench corpus (generated like ``make bench-faces`` does if
missing). Method: docs/benchmarks.md, "faces", "Memory".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from dfmask.errors import DfmaskError
from dfmask.params import FacesParams, load_section, read_params_file, to_dict
from dfmask.tables import write_json, write_table
from tools.bench.faces import _outputs, ensure_bench_corpus, machine_info, run_stage, stage_processes


def subset(rows: list[dict[str, Any]], originals: int) -> list[dict[str, Any]]:
    """The first ``originals`` originals by id and their fakes (all rows when 0)."""
    if originals <= 0:
        return rows
    keep = sorted(r["video_id"] for r in rows if not r["is_fake"])[:originals]
    return [r for r in rows if r["video_id"] in keep or (r["is_fake"] and r.get("original_id") in keep)]


def _override(doc: dict[str, Any], settings: list[str]) -> dict[str, Any]:
    """``faces.workers=1``-style settings applied to the params document (YAML values)."""
    for item in settings:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or section not in doc or name not in doc[section]:
            raise DfmaskError(f"--set {item!r}: expected section.key=value with a key of the params file")
        doc[section][name] = yaml.safe_load(value)
    return doc


def measure(
    corpus: Path, params_path: Path, scratch: Path, originals: int, repeats: int, settings: list[str]
) -> dict[str, Any]:
    """Run the stage ``repeats`` times on the subset; the processes' peak RSS per run and overall."""
    import pyarrow as pa

    from dfmask.corpus.ingest import ingest_part
    from dfmask.schemas.videos import VIDEOS

    doc = _override(read_params_file(params_path), settings)
    (scratch / "params.yaml").write_text(yaml.safe_dump(doc))
    params = load_section(FacesParams, "faces", scratch / "params.yaml")
    machine = machine_info(params)
    ingest = ingest_part(corpus, 0)
    rows = subset(ingest.table.to_pylist(), originals)
    if not rows:
        raise DfmaskError(f"{corpus}: no video in dfdc_train_part_0")
    table = pa.Table.from_pylist(rows, schema=ingest.table.schema)
    videos_table = write_table(table, scratch / "videos" / "part=0.parquet", VIDEOS, "ingest")
    runs, outputs = [], []
    for r in range(max(1, repeats)):
        runs.append(run_stage(scratch / f"stage{r}", corpus, videos_table, doc))
        outputs.append(_outputs(scratch / f"stage{r}"))
    return {
        "corpus": {
            "root": str(corpus),
            "videos": len(rows),
            "originals": sum(1 for v in rows if not v["is_fake"]),
            "sizes": sorted({f"{v['width']}x{v['height']}" for v in rows}),
            "frames_per_video": sorted({int(v["frames"] or 0) for v in rows}),
        },
        "params": to_dict(params),
        "set": settings,
        "repeats": len(runs),
        **stage_processes(runs),
        "wall_s_runs": [x["wall_s"] for x in runs],
        "cpu_s_runs": [x["cpu_s"] for x in runs],
        "outputs": outputs[0],
        "outputs_identical_across_runs": all(o == outputs[0] for o in outputs),
        "summary": runs[0]["summary"],
        "machine": machine,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="data/bench/corpus", help="corpus root (holds dfdc_train_part_0)")
    parser.add_argument("--ground-truth", default="data/bench/ground_truth.parquet", help="(to generate the corpus)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--originals", type=int, default=2, help="first N originals and their fakes (0 = all)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a param")
    parser.add_argument("--out", default="reports/bench_faces_rss.json")
    args = parser.parse_args(argv)
    try:
        corpus = Path(args.corpus)
        ensure_bench_corpus(Path(args.params), corpus, Path(args.ground_truth), "bench faces rss")
        with tempfile.TemporaryDirectory(prefix="bench_faces_rss_") as tmp:
            result = measure(corpus, Path(args.params), Path(tmp), args.originals, args.repeats, args.set)
    except DfmaskError as err:
        print(f"bench faces rss: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, result)
    print(
        f"bench faces rss: {result['corpus']['videos']} videos {result['corpus']['sizes']}: driver "
        f"{result['stage_driver_peak_rss_mb']} MB, {result['stage_child_processes']} child processes "
        f"{result['stage_children_peak_rss_mb']}, total {result['stage_total_peak_rss_mb']} MB "
        f"(runs: {[r['total_peak_rss_mb'] for r in result['stage_runs']]}) -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
