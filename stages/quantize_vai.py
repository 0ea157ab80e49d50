"""quantize_vai: nndct calib → test → export_xmodel in the Vitis AI 3.0 env (target vck5000) (dfmask.deploy.vck5000)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.vck5000 import QuantizeVaiPaths, run
from dfmask.params import DeployParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", type=Path, required=True, help="export folder (state_dict + config)")
    parser.add_argument("--calib", type=Path, required=True, help="the quantize stage's calib.npz")
    parser.add_argument("--test-crops", type=Path, required=True, help="deploy_crops table of the evaluation crops")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    params = load_section(DeployParams, "deploy", args.params)
    return run(params, QuantizeVaiPaths(args.onnx, args.calib, args.test_crops, args.out)).summary()


if __name__ == "__main__":
    run_stage("quantize_vai", main)
