"""quantize_vai: nndct calib → test → export_xmodel in the Vitis AI 3.0 env (target vck5000) (dfmask.deploy.vck5000)."""

from __future__ import annotations

import argparse

from dfmask.deploy.vck5000 import run_quantize_vai
from dfmask.params import BaseParams, DeployParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", default="models/onnx", help="export folder (state_dict + config)")
    parser.add_argument("--int8", default="models/int8", help="quantize folder (calib.npz)")
    parser.add_argument("--out", default="models/vai/quant", help="output folder")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    params = load_section(DeployParams, "deploy", args.params)
    report = run_quantize_vai(params, args.onnx, args.int8, args.out, base.seed)
    check = report["bundle_check"]
    if params.target != "vck5000":
        return (
            f"target cpu: nndct not run; py3.8 bundle reproduces ONNX to "
            f"{max(check['seg_max_abs_diff'], check['cls_max_abs_diff']):.1e} (see {args.out}/quantize_vai.json)"
        )
    return f"wrote {report['nndct']['xmodel']} (see {args.out}/quantize_vai.json)"


if __name__ == "__main__":
    run_stage("quantize_vai", main)
