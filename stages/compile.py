"""compile: ORT-optimised CPU models (target cpu) or vai_c_xir xmodel (target vck5000) (dfmask.deploy.compile)."""

from __future__ import annotations

import argparse

from dfmask.deploy.compile import compile_model
from dfmask.params import DeployParams, load_section
from dfmask.stage import run_stage
from dfmask.tables import write_json


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", default="models/onnx", help="export folder")
    parser.add_argument("--int8", default="models/int8", help="quantize folder")
    parser.add_argument("--vai-quant", default="models/vai/quant", help="quantize_vai folder")
    parser.add_argument("--out", default="models/compiled", help="output folder")
    args = parser.parse_args()
    params = load_section(DeployParams, "deploy", args.params)
    report = compile_model(params, args.onnx, args.int8, args.vai_quant, args.out)
    write_json(f"{args.out}/compile.json", report)
    if params.target == "cpu":
        return f"target cpu: {len(report['models'])} ORT-optimised models in {args.out}"
    arch = report["arch"]
    return f"target vck5000: {report['xmodel']} for {arch['target']} (arch.json sha256 {arch['sha256'][:12]})"


if __name__ == "__main__":
    run_stage("compile", main)
