"""export: trained U-YNet → fp32 ONNX + state_dict + config, DPU op check and ORT parity (dfmask.deploy.export)."""

from __future__ import annotations

import argparse

from dfmask.deploy.export import run_export
from dfmask.params import BaseParams, ExportParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--checkpoint", default="models/train/uynet.ckpt", help="trained checkpoint")
    parser.add_argument("--out", default="models/onnx", help="output folder")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    params = load_section(ExportParams, "export", args.params)
    result = run_export(
        args.checkpoint,
        args.out,
        params.opset,
        params.input_size,
        params.parity_atol,
        params.parity_crops,
        seed=base.seed,
    )
    worst = max(result.max_abs_diff.values())
    return (
        f"{result.onnx_path}: {sum(result.ops.values())} nodes, all DPU ops; "
        f"max |torch - ORT| {worst:.2e} (see {args.out}/export.json)"
    )


if __name__ == "__main__":
    run_stage("export", main)
