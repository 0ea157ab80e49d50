"""The VCK5000 path: nndct quantization (``quantize_vai``) and ``vai_c_xir`` compilation.

Both steps run Vitis AI 3.0 tools in their own environment (`dfmask.deploy.vitis`).
Everything up to the vendor call is built and checked here: the calibration and
evaluation crops, the exact commands, the environment check, and a "bundle check"
that the self-contained Python 3.8 model (``vai/uynet_py38.py``) rebuilt from the
exported ``uynet.state_dict.pt`` + ``model_config.json`` reproduces the fp32 ONNX
model. Nothing pretends to be an xmodel: when a tool is missing the stage stops with
a `DfmaskError` saying what is missing and how to get it.

With ``deploy.target: cpu`` the ``quantize_vai`` stage writes only its report (the
commands it would run, and the bundle check) and the evaluation crops; see
docs/deploy.md, "DVC design".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfmask import metrics
from dfmask.deploy.calib import LabelledCrops, read_draw, save_calibration
from dfmask.deploy.runners import OrtRunner
from dfmask.deploy.vai.uynet_py38 import load_model
from dfmask.deploy.vitis import require_environment, run_vendor, vendor_command
from dfmask.errors import DfmaskError
from dfmask.params import DeployParams
from dfmask.tables import write_json

VAI_SCRIPT = Path("src/dfmask/deploy/vai/quantize_vai.py")  # relative: also valid in docker /workspace
XMODEL_QUANT = "UYNetVai_int.xmodel"
XMODEL_COMPILED = "uynet.xmodel"
EVAL_NAME = "eval.npz"


def quantize_vai_command(
    params: DeployParams, onnx_dir: Path, calib_npz: Path, out_dir: Path, batch: int = 8
) -> list[str]:
    """The command that runs the nndct entry point in the Vitis AI env."""
    argv = [
        "python",
        str(VAI_SCRIPT),
        "--state-dict",
        str(onnx_dir / "uynet.state_dict.pt"),
        "--config",
        str(onnx_dir / "model_config.json"),
        "--calib",
        str(calib_npz),
        "--eval",
        str(out_dir / EVAL_NAME),
        "--out",
        str(out_dir),
        "--batch",
        str(batch),
    ]
    if params.vai_fast_finetune:
        argv.append("--fast-finetune")
    return vendor_command(params, argv)


def bundle_check(onnx_dir: Path, images: np.ndarray) -> dict[str, float]:
    """The py3.8 model from the exported bundle vs the fp32 ONNX model (max |Δ| logits)."""
    config = json.loads((onnx_dir / "model_config.json").read_text())
    model = load_model(str(onnx_dir / "uynet.state_dict.pt"), config)
    with torch.no_grad():
        seg, cls = model(torch.from_numpy(images))
    ref_seg, ref_cls = OrtRunner(onnx_dir / "uynet.onnx", 1, "ORT fp32").run(images)
    return {
        "seg_max_abs_diff": float(np.max(np.abs(seg.numpy() - ref_seg))),
        "cls_max_abs_diff": float(np.max(np.abs(cls.numpy().reshape(-1) - ref_cls))),
        "cls_cosine": metrics.cosine_similarity(cls.numpy().reshape(-1), ref_cls),
    }


def quantize_vai(
    params: DeployParams, onnx_dir: str | Path, calib_npz: str | Path, test: LabelledCrops, out_dir: str | Path
) -> dict[str, Any]:
    """Run (target vck5000) or describe (target cpu) the nndct quantization; return the report."""
    onnx_dir, calib_npz, out_dir = Path(onnx_dir), Path(calib_npz), Path(out_dir)
    for needed in (onnx_dir / "uynet.state_dict.pt", onnx_dir / "model_config.json", calib_npz):
        if not needed.exists():
            raise DfmaskError(f"{needed}: not found; run the export and quantize stages first")
    check = bundle_check(onnx_dir, test.images[:8])
    if max(check["seg_max_abs_diff"], check["cls_max_abs_diff"]) > 1e-3:
        raise DfmaskError(
            f"{onnx_dir}: the Python 3.8 model (deploy/vai/uynet_py38.py) does not reproduce uynet.onnx "
            f"({check}); update it to match dfmask/model/uynet.py"
        )
    command = quantize_vai_command(params, onnx_dir, calib_npz, out_dir)
    report: dict[str, Any] = {"target": params.target, "command": command, "bundle_check": check}
    if params.target != "vck5000":
        out_dir.mkdir(parents=True, exist_ok=True)
        report["nndct"] = "not run: deploy.target=cpu (run `dvc exp run -S deploy.target=vck5000` on the lab server)"
        write_json(out_dir / "quantize_vai.json", report)
        return report
    require_environment(params)
    save_calibration(out_dir / EVAL_NAME, test.images[: params.vai_eval_crops])
    run_vendor(command, out_dir / "quantize_vai.log", "nndct quantization (quantize_vai)")
    xmodel = out_dir / XMODEL_QUANT
    if not xmodel.exists():
        raise DfmaskError(f"{xmodel}: nndct finished but wrote no xmodel; see {out_dir / 'quantize_vai.log'}")
    vendor_report = json.loads((out_dir / "quantize_vai.json").read_text())
    report.update(nndct=vendor_report)
    write_json(out_dir / "quantize_vai.json", report)
    return report


def vai_c_xir_command(params: DeployParams, xmodel: Path, out_dir: Path, name: str = "uynet") -> list[str]:
    """``vai_c_xir -x <xmodel> -a <arch.json> -o <out> -n <name>`` in the Vitis AI env."""
    argv = ["vai_c_xir", "-x", str(xmodel), "-a", params.arch_json, "-o", str(out_dir), "-n", name]
    return vendor_command(params, argv)


def arch_fingerprint(params: DeployParams, log_dir: Path) -> dict[str, str]:
    """sha256 and contents of the arch.json, read inside the Vitis AI env (it lives there)."""
    out = run_vendor(
        vendor_command(params, ["sh", "-c", f"sha256sum '{params.arch_json}' && cat '{params.arch_json}'"]),
        log_dir / "arch.log",
        f"reading deploy.arch_json {params.arch_json}",
    )
    return parse_arch_output(out, params.arch_json)


def parse_arch_output(output: str, arch_json: str) -> dict[str, str]:
    """``sha256sum`` line + arch.json body → ``{sha256, target}``."""
    lines = output.strip().splitlines()
    match = re.match(r"^([0-9a-f]{64})\s", lines[0]) if lines else None
    if match is None:
        raise DfmaskError(f"deploy.arch_json {arch_json}: could not read its checksum; does the file exist?")
    try:
        body = json.loads("\n".join(lines[1:]))
    except json.JSONDecodeError as err:
        raise DfmaskError(f"deploy.arch_json {arch_json}: not valid JSON: {err}") from err
    return {"sha256": match.group(1), "target": str(body.get("target", body.get("fingerprint", "")))}


def parse_compile_log(log: str) -> dict[str, Any]:
    """The DPU target and subgraph count that vai_c_xir reports in its log."""
    target = re.search(r"Target architecture:\s*(\S+)", log)
    dpu = re.search(r"DPU subgraph number\s*:?\s*(\d+)", log)
    total = re.search(r"Total device subgraph number\s*:?\s*(\d+)", log)
    return {
        "target": target.group(1) if target else None,
        "dpu_subgraphs": int(dpu.group(1)) if dpu else None,
        "device_subgraphs": int(total.group(1)) if total else None,
    }


def compile_vck5000(params: DeployParams, quant_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Compile the nndct xmodel for the card's DPU; report the arch checksum and subgraphs."""
    quant_dir, out_dir = Path(quant_dir), Path(out_dir)
    xmodel = quant_dir / XMODEL_QUANT
    if not xmodel.exists():
        raise DfmaskError(f"{xmodel}: quantized xmodel not found; run quantize_vai with deploy.target=vck5000 first")
    require_environment(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch = arch_fingerprint(params, out_dir)
    command = vai_c_xir_command(params, xmodel, out_dir)
    log = run_vendor(command, out_dir / "vai_c_xir.log", "vai_c_xir")
    compiled = out_dir / XMODEL_COMPILED
    if not compiled.exists():
        raise DfmaskError(f"{compiled}: vai_c_xir finished but wrote no xmodel; see {out_dir / 'vai_c_xir.log'}")
    summary = parse_compile_log(log)
    if summary["dpu_subgraphs"] not in (None, 1):
        raise DfmaskError(
            f"{compiled}: {summary['dpu_subgraphs']} DPU subgraphs (an op fell back to the CPU); "
            f"see {out_dir / 'vai_c_xir.log'}"
        )
    return {
        "target": "vck5000",
        "arch_json": params.arch_json,
        "arch": arch,
        "command": command,
        "xmodel": str(compiled),
        **summary,
    }


@dataclass(frozen=True)
class QuantizeVaiPaths:
    """Inputs and output folder of the quantize_vai stage."""

    onnx_dir: Path  # the export stage's folder (uynet.onnx, state_dict, model_config.json)
    calib_npz: Path  # the quantize stage's calib.npz (the calibration crops, uint8)
    test_crops: Path  # the deploy_crops stage's vai_eval table (test)
    out_dir: Path  # models/vai/quant


@dataclass(frozen=True)
class QuantizeVaiReport:
    """The ``quantize_vai.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    out_dir: Path

    def summary(self) -> str:
        where = self.out_dir / "quantize_vai.json"
        if self.doc["target"] != "vck5000":
            check = self.doc["bundle_check"]
            worst = max(check["seg_max_abs_diff"], check["cls_max_abs_diff"])
            return f"target cpu: nndct not run; py3.8 bundle reproduces ONNX to {worst:.1e} (see {where})"
        return f"wrote {self.doc['nndct']['xmodel']} (see {where})"


def run(params: DeployParams, paths: QuantizeVaiPaths) -> QuantizeVaiReport:
    """The quantize_vai stage: the evaluation crops of the vai_eval draw, then `quantize_vai`."""
    size = int(json.loads((paths.onnx_dir / "model_config.json").read_text())["input_size"])
    test = read_draw(paths.test_crops, size)
    return QuantizeVaiReport(quantize_vai(params, paths.onnx_dir, paths.calib_npz, test, paths.out_dir), paths.out_dir)
