"""export: trained U-YNet → fp32 ONNX + state_dict + config, DPU op check and ORT parity (dfmask.deploy.export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.export import ExportPaths, run
from dfmask.params import ExportParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--checkpoint", type=Path, required=True, help="trained checkpoint (uynet.ckpt)")
    parser.add_argument("--parity-crops", type=Path, required=True, help="deploy_crops table of the parity crops")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    params = load_section(ExportParams, "export", args.params)
    return run(params, ExportPaths(args.checkpoint, args.parity_crops, args.out)).summary()


if __name__ == "__main__":
    run_stage("export", main)
