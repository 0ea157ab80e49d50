"""Vitis AI 3.0 (vai_q_pytorch / pytorch_nndct) quantization of U-YNet to an xmodel.

Runs INSIDE the ``vitis-ai-pytorch`` conda env of the Vitis AI 3.0 docker (Python 3.8,
torch 1.13); it imports only torch, numpy, pytorch_nndct and its sibling
``uynet_py38.py``, never dfmask. The dfmask ``quantize_vai`` stage calls it via
``conda run -n vitis-ai-pytorch python src/dfmask/deploy/vai/quantize_vai.py …``.

Steps (UG1414, "vai_q_pytorch"):

1. rebuild the model from ``model_config.json`` and load ``uynet.state_dict.pt``;
2. ``calib``: ``torch_quantizer("calib", …)``, forward the calibration crops
   (optionally ``fast_finetune``), ``export_quant_config()``;
3. ``test``: ``torch_quantizer("test", …)``, forward evaluation crops and report the
   quantized model's agreement with the float model, then forward ONE batch-1 input
   and ``export_xmodel(output_dir, deploy_check=False)`` → ``UYNetVai_int.xmodel``;
4. write ``quantize_vai.json`` (cosine similarity and max |Δ| per head vs float).

Inputs are uint8 crops (``images`` N×S×S×3 in an npz, written by dfmask's quantize
stage); the model input is ``images / 255`` in NCHW, as in training.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from uynet_py38 import load_model

XMODEL_NAME = "UYNetVai_int.xmodel"  # nndct names it <module class>_int.xmodel


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dict", required=True, help="uynet.state_dict.pt (plain tensors)")
    parser.add_argument("--config", required=True, help="model_config.json")
    parser.add_argument("--calib", required=True, help="npz with uint8 'images' N×S×S×3 (train crops)")
    parser.add_argument("--eval", required=True, help="npz with uint8 'images' N×S×S×3 (test crops)")
    parser.add_argument("--out", required=True, help="output folder (quant config, xmodel, report)")
    parser.add_argument("--batch", type=int, default=8, help="calibration/evaluation batch size")
    parser.add_argument("--fast-finetune", action="store_true", help="nndct fast finetune during calib")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    return parser.parse_args(argv)


def load_images(path: str) -> np.ndarray:
    """uint8 N×S×S×3 crops → float32 N×3×S×S in [0, 1]."""
    with np.load(path) as data:
        images = data["images"]
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 images N×S×S×3, got {images.dtype} {images.shape}")
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32) / 255.0


def batches(images: np.ndarray, size: int) -> list[torch.Tensor]:
    return [torch.from_numpy(images[i : i + size]) for i in range(0, len(images), size)]


def forward_all(
    model: torch.nn.Module, images: np.ndarray, size: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Seg logits N×1×S×S and cls logits N of ``model`` on ``images``."""
    segs, clss = [], []
    with torch.no_grad():
        for batch in batches(images, size):
            seg, cls = model(batch.to(device))
            segs.append(seg.cpu().numpy())
            clss.append(cls.cpu().numpy().reshape(-1))
    return np.concatenate(segs), np.concatenate(clss)


def agreement(reference: tuple[np.ndarray, np.ndarray], quantized: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    """Cosine similarity and max |Δ logit| per head, quantized vs float."""
    out: dict[str, float] = {}
    for head, ref, got in (("seg", reference[0], quantized[0]), ("cls", reference[1], quantized[1])):
        a, b = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        out[head + "_cosine"] = 1.0 if norm == 0 else float(a @ b / norm)
        out[head + "_max_abs_diff"] = float(np.max(np.abs(a - b)))
    return out


def quantize(args: argparse.Namespace) -> dict[str, Any]:
    from pytorch_nndct.apis import torch_quantizer  # only in the Vitis AI env

    device = torch.device(args.device)
    with open(args.config) as fh:
        config = json.load(fh)
    model = load_model(args.state_dict, config).to(device)
    calib = load_images(args.calib)
    evaluation = load_images(args.eval)
    size = int(config["input_size"])
    dummy = torch.zeros(1, 3, size, size, device=device)
    float_out = forward_all(model, evaluation, args.batch, device)

    quantizer = torch_quantizer("calib", model, (dummy,), output_dir=args.out, device=device)
    qmodel = quantizer.quant_model
    if args.fast_finetune:
        quantizer.fast_finetune(forward_all, (qmodel, calib, args.batch, device))
    forward_all(qmodel, calib, args.batch, device)
    quantizer.export_quant_config()

    quantizer = torch_quantizer("test", model, (dummy,), output_dir=args.out, device=device)
    qmodel = quantizer.quant_model
    if args.fast_finetune:
        quantizer.load_ft_param()
    quant_out = forward_all(qmodel, evaluation, args.batch, device)
    forward_all(qmodel, evaluation[:1], 1, device)  # export_xmodel needs a batch-1 forward last
    quantizer.export_xmodel(output_dir=args.out, deploy_check=False)

    xmodel = os.path.join(args.out, XMODEL_NAME)
    if not os.path.exists(xmodel):
        raise RuntimeError(f"export_xmodel wrote no {xmodel}; see the nndct log above")
    return {
        "xmodel": xmodel,
        "calib_crops": len(calib),
        "eval_crops": len(evaluation),
        "fast_finetune": bool(args.fast_finetune),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "agreement_vs_float": agreement(float_out, quant_out),
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    report = quantize(args)
    with open(os.path.join(args.out, "quantize_vai.json"), "w") as fh:
        json.dump(report, fh, indent=2, sort_keys=True)
    print(
        "quantize_vai: wrote {} (seg cosine {:.4f}, cls cosine {:.4f} vs float)".format(
            report["xmodel"], report["agreement_vs_float"]["seg_cosine"], report["agreement_vs_float"]["cls_cosine"]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
