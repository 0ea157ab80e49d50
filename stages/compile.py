"""compile: ORT-optimised CPU models (target cpu) or vai_c_xir xmodel (target vck5000) (dfmask.deploy.compile)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.compile import CompilePaths, run
from dfmask.params import DeployParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", type=Path, required=True, help="export folder")
    parser.add_argument("--int8", type=Path, required=True, help="quantize folder")
    parser.add_argument("--vai-quant", type=Path, required=True, help="quantize_vai folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args()
    params = load_section(DeployParams, "deploy", args.params)
    return run(params, CompilePaths(args.onnx, args.int8, args.vai_quant, args.out)).summary()


if __name__ == "__main__":
    run_stage("compile", main)
