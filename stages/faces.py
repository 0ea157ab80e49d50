"""faces@part: face crops of one corpus part (see dfmask.faces.stage)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.faces.stage import FacesPaths, run
from dfmask.params import ComputeParams, CorpusParams, FacesParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", type=int, required=True, help="corpus part N")
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--videos", type=Path, required=True, help="the part's ingest table (part=N.parquet)")
    parser.add_argument("--out", type=Path, required=True, help="the part's output folder (part=N)")
    parser.add_argument("--report", type=Path, required=True, help="the part's report JSON")
    parser.add_argument("--work", type=Path, required=True, help="resume folder (paths.work)")
    args = parser.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(FacesParams, "faces", args.params)
    compute = load_section(ComputeParams, "compute", args.params)
    paths = FacesPaths(videos=args.videos, out=args.out, report=args.report, work=args.work)
    return run(params, corpus, paths, args.part, compute).summary()


if __name__ == "__main__":
    run_stage("faces", main)
