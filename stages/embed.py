"""embed@part: face-recognition embeddings of a few crops per track (see dfmask.identity)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.identity.embed import EmbedPaths, run
from dfmask.params import ComputeParams, EmbedParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", type=int, required=True, help="corpus part N")
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--faces", type=Path, required=True, help="the part's faces folder (part=N)")
    parser.add_argument("--out", type=Path, required=True, help="the part's embeddings table (part=N.parquet)")
    parser.add_argument("--report", type=Path, required=True, help="the part's report JSON")
    args = parser.parse_args()
    params = load_section(EmbedParams, "embed", args.params)
    compute = load_section(ComputeParams, "compute", args.params)
    paths = EmbedPaths(faces=args.faces, out=args.out, report=args.report)
    return run(params, paths, args.part, compute).summary()


if __name__ == "__main__":
    run_stage("embed", main)
