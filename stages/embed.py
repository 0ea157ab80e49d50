"""embed@part: face-recognition embeddings of a few crops per track (see dfmask.identity)."""

from __future__ import annotations

import argparse

from dfmask.identity.embed import run_embed
from dfmask.params import EmbedParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", type=int, required=True, help="corpus part N")
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--faces", help="faces folder (default data/interim/faces/part=N)")
    parser.add_argument("--out", help="embeddings table (default data/interim/embeddings/part=N.parquet)")
    parser.add_argument("--report", help="report JSON (default reports/embed/part=N.json)")
    args = parser.parse_args()
    n = args.part
    params = load_section(EmbedParams, "embed", args.params)
    report_path = args.report or f"reports/embed/part={n}.json"
    r = run_embed(
        n,
        args.faces or f"data/interim/faces/part={n}",
        args.out or f"data/interim/embeddings/part={n}.parquet",
        report_path,
        params,
    )
    failed = r["crops_selected"] - r["crops_embedded"]
    return (
        f"part={n}: {r['crops_embedded']:,} crops embedded ({r['original_crops']:,} original, "
        f"{r['fake_crops']:,} fake) from {r['tracks']:,} tracks of {r['videos']:,} videos, "
        f"{failed:,} failed (see {report_path})"
    )


if __name__ == "__main__":
    run_stage("embed", main)
