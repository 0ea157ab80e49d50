"""The quantize stage: both INT8 models plus their per-head parity against fp32.

`quantize_models` writes ``models/int8/``:

* ``uynet.quark_xint8.onnx`` — DPU numerics (Quark XINT8, power-of-two scales);
* ``uynet.ort_int8.onnx`` — CPU speed (ORT static, u8/s8 per-channel; with
  ``cpu_fold_restore`` the restore block + seg head are first folded to half resolution,
  `dfmask.deploy.cpu_graph`; with ``cpu_fp32_first_conv`` the image-reading conv stays
  fp32); this is the model the benchmark times as "ORT int8", so
  its parity here is the parity of the model whose speed is reported;
* ``calib.npz`` — the calibration crops (uint8), shared with the Vitis AI entry point.

and returns the parity report (``reports/quant.json``, which `run` writes): for fp32
and each int8 model, AUC, log loss and Dice on the test draw; for each int8 model, the
drops against fp32,
the output cosine similarity per head, whether the targets (AUC drop <= 0.01, Dice
drop <= 0.02) are met, the file size, and for the Quark model the power-of-two audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import onnx

from dfmask.deploy.accuracy import Predictions, head_metrics, parity, predict
from dfmask.deploy.calib import LabelledCrops, read_draw, save_calibration
from dfmask.deploy.export import CONFIG_NAME, ONNX_NAME
from dfmask.deploy.quantize import (
    ORT_NAME,
    QUARK_NAME,
    dpu_numerics_audit,
    quantize_ort_static,
    quantize_quark_xint8,
)
from dfmask.deploy.runners import OrtRunner
from dfmask.errors import DfmaskError
from dfmask.params import QuantizeParams
from dfmask.tables import file_sha256, write_json

CALIB_NAME = "calib.npz"


@dataclass(frozen=True)
class QuantTargets:
    """Acceptance bounds for an int8 model against fp32 on the test split."""

    max_auc_drop: float = 0.01
    max_dice_drop: float = 0.02


def _metrics(path: Path, crops: LabelledCrops, threads: int, name: str) -> tuple[dict[str, Any], Any]:
    preds = predict(OrtRunner(path, threads, name), crops.images)
    ok = crops.seg_ok
    seg_preds = Predictions(preds.seg_logits[ok], preds.cls_logit[ok])
    metrics = head_metrics(preds, crops.masks, crops.is_fake)
    metrics["dice"] = head_metrics(seg_preds, crops.masks[ok], crops.is_fake[ok])["dice"]
    return metrics, preds


def _drop(ref: float | None, new: float | None) -> float | None:
    return None if ref is None or new is None else ref - new


def quantize_models(
    fp32_path: str | Path,
    out_dir: str | Path,
    calib: LabelledCrops,
    test: LabelledCrops,
    cpu_format: Literal["qdq", "qoperator"] = "qdq",
    reduce_range: bool = True,
    calib_batch: int = 8,
    threads: int = 1,
    targets: QuantTargets = QuantTargets(),
    fold_restore: bool = True,
    fp32_first_conv: bool = True,
) -> dict[str, Any]:
    """Quantize ``fp32_path`` both ways into ``out_dir`` and return the parity report."""
    fp32_path, out_dir = Path(fp32_path), Path(out_dir)
    if not fp32_path.exists():
        raise DfmaskError(f"{fp32_path}: fp32 ONNX model not found; run the export stage")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_calibration(out_dir / CALIB_NAME, calib.images)
    quark_path = quantize_quark_xint8(fp32_path, out_dir / QUARK_NAME, calib.images, calib_batch)
    ort = quantize_ort_static(
        fp32_path,
        out_dir / ORT_NAME,
        calib.images,
        cpu_format,
        reduce_range,
        calib_batch,
        fold_restore,
        fp32_first_conv,
    )
    ort_path = ort.path

    fp32_metrics, fp32_preds = _metrics(fp32_path, test, threads, "ORT fp32")
    report: dict[str, Any] = {
        "test_crops": len(test),
        "test_fakes": int(test.is_fake.sum()),
        "test_seg_crops": int(test.seg_ok.sum()),
        "calib_crops": len(calib),
        "targets": {"max_auc_drop": targets.max_auc_drop, "max_dice_drop": targets.max_dice_drop},
        "fp32": {**fp32_metrics, "path": str(fp32_path), "bytes": fp32_path.stat().st_size},
        "int8": {},
    }
    variants = {
        "quark_xint8": (quark_path, "Quark XINT8 QDQ: int8 sym, power-of-two per-tensor scales (DPU numerics)"),
        "ort_int8": (
            ort_path,
            f"ORT static {cpu_format}: u8 activations, s8 per-channel weights, reduce_range={reduce_range}, "
            f"restore+seg head folded to half resolution: {ort.restore_folds} chain(s), "
            f"fp32 nodes: {list(ort.fp32_nodes)} "
            "(timed as 'ORT int8' in the benchmark)",
        ),
    }
    for key, (path, description) in variants.items():
        metrics, preds = _metrics(path, test, threads, key)
        auc_drop = _drop(fp32_metrics["auc"], metrics["auc"])
        dice_drop = _drop(fp32_metrics["dice"], metrics["dice"])
        entry: dict[str, Any] = {
            "description": description,
            "path": str(path),
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            **metrics,
            "auc_drop": auc_drop,
            "dice_drop": dice_drop,
            "log_loss_increase": metrics["log_loss"] - fp32_metrics["log_loss"],
            **parity(fp32_preds, preds),
            "meets_targets": (auc_drop is None or auc_drop <= targets.max_auc_drop)
            and (dice_drop is None or dice_drop <= targets.max_dice_drop),
        }
        if key == "quark_xint8":
            entry["dpu_numerics"] = dpu_numerics_audit(onnx.load(str(path)))
        else:
            entry["restore_folds"] = ort.restore_folds
            entry["fp32_nodes"] = list(ort.fp32_nodes)
        report["int8"][key] = entry
    return report


@dataclass(frozen=True)
class QuantizePaths:
    """Inputs and outputs of the quantize stage."""

    onnx_dir: Path  # the export stage's folder (uynet.onnx, model_config.json)
    calib_crops: Path  # the deploy_crops stage's quantize_calib table (train)
    test_crops: Path  # the deploy_crops stage's quantize_eval table (test)
    out_dir: Path  # models/int8 layout (module docstring)
    report: Path  # the parity report (reports/quant.json)


@dataclass(frozen=True)
class QuantReport:
    """The ``reports/quant.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    path: Path

    def summary(self) -> str:
        """One line: per int8 model, AUC and Dice drop and whether the targets are met."""
        parts = []
        for key, entry in self.doc["int8"].items():
            auc = "n/a" if entry["auc_drop"] is None else f"{entry['auc_drop']:+.4f}"
            parts.append(
                f"{key} AUC drop {auc}, Dice drop {entry['dice_drop']:+.4f} "
                f"({'ok' if entry['meets_targets'] else 'MISSES TARGET'})"
            )
        return f"{self.doc['test_crops']} test crops; " + "; ".join(parts) + f" (see {self.path})"


def run(params: QuantizeParams, paths: QuantizePaths) -> QuantReport:
    """The quantize stage: calibration and parity crops, `quantize_models`, then the report."""
    fp32_path = paths.onnx_dir / ONNX_NAME
    if not fp32_path.exists():
        raise DfmaskError(f"{fp32_path}: fp32 ONNX model not found; run the export stage")
    size = int(json.loads((paths.onnx_dir / CONFIG_NAME).read_text())["input_size"])
    calib = read_draw(paths.calib_crops, size)
    test = read_draw(paths.test_crops, size)
    doc = quantize_models(
        fp32_path,
        paths.out_dir,
        calib,
        test,
        params.cpu_format,
        params.reduce_range,
        params.calib_batch,
        params.threads,
        QuantTargets(params.max_auc_drop, params.max_dice_drop),
        params.cpu_fold_restore,
        params.cpu_fp32_first_conv,
    )
    write_json(paths.report, doc)
    return QuantReport(doc, paths.report)
