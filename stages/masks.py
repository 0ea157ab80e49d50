"""DVC stage masks@N: SSIM(real crop, fake crop) → binary manipulation masks of one part.

Reads data/interim/faces/part=N/ (the faces table only; never the split), writes
data/processed/masks/part=N/masks-*.parquet and reports/masks/part=N.json.
"""

import argparse

from dfmask.masks.stage import masks_part, summary_line
from dfmask.params import MasksParams, load_section
from dfmask.stage import run_stage
from dfmask.tables import write_json


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", default="data/interim/faces")
    ap.add_argument("--out", default="data/processed/masks")
    ap.add_argument("--report", default="reports/masks")
    ap.add_argument("--work", default="data/.work")
    args = ap.parse_args()
    params = load_section(MasksParams, "masks", args.params)
    result = masks_part(f"{args.faces}/part={args.part}", args.part, params, f"{args.out}/part={args.part}", args.work)
    report = f"{args.report}/part={args.part}.json"
    write_json(report, result.report)
    return summary_line(result) + f" (see {report})"


if __name__ == "__main__":
    run_stage("masks", main)
