"""DVC stage masks@N: SSIM(real crop, fake crop) → binary manipulation masks of one part.

Reads the part's faces folder (the faces table only; never the split), writes the part's
masks-*.parquet shards and report (paths from dvc.yaml, see dfmask.masks.stage).
"""

import argparse
from pathlib import Path

from dfmask.masks.stage import MasksPaths, run
from dfmask.params import ComputeParams, MasksParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", type=int, required=True, help="corpus part N")
    ap.add_argument("--params", default="params.yaml", help="params file")
    ap.add_argument("--faces", type=Path, required=True, help="the part's faces folder (part=N)")
    ap.add_argument("--out", type=Path, required=True, help="the part's output folder (part=N)")
    ap.add_argument("--report", type=Path, required=True, help="the part's report JSON")
    ap.add_argument("--work", type=Path, required=True, help="resume folder (paths.work)")
    args = ap.parse_args()
    params = load_section(MasksParams, "masks", args.params)
    compute = load_section(ComputeParams, "compute", args.params)
    paths = MasksPaths(faces=args.faces, out=args.out, report=args.report, work=args.work)
    return run(params, paths, args.part, compute).summary()


if __name__ == "__main__":
    run_stage("masks", main)
