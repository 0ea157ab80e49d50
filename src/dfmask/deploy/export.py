"""Export the trained U-YNet to fp32 ONNX (plus the plain state_dict the lab server needs).

Why the legacy TorchScript exporter (``dynamo=False``): in eval mode it folds every
Conv→BatchNorm pair into the convolution and maps ``AdaptiveAvgPool2d(1)`` to
``GlobalAveragePool``, which is exactly the DPU-friendly graph `dfmask.deploy.opcheck`
asks for. The dynamo exporter (torch 2.14) emits ``ReduceMean`` and keeps opset 18
only; switch when the legacy path is removed and the op check still passes.

Outputs (one folder, ``models/onnx/``):

* ``uynet.onnx``: fp32, input ``image`` N×3×S×S (dynamic batch, RGB in [0, 1]
  normalised the same way as training), outputs ``seg_logits`` N×1×S×S and
  ``cls_logit`` N×1 (both logits: apply sigmoid on the host).
* ``uynet.state_dict.pt``: the plain ``state_dict`` (tensors only, loadable by torch
  1.13 with ``weights_only``) for the Vitis AI 3.0 entry point.
* ``model_config.json``: the JSON config the model is built from.
* ``export.json``: op histogram, parity figures and checksums (the stage report).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from dfmask.deploy.calib import read_draw
from dfmask.deploy.opcheck import check_dpu_ops, op_histogram
from dfmask.errors import DfmaskError
from dfmask.params import ExportParams
from dfmask.tables import file_sha256, write_json

INPUT_NAME = "image"
OUTPUT_NAMES = ("seg_logits", "cls_logit")
ONNX_NAME = "uynet.onnx"
STATE_DICT_NAME = "uynet.state_dict.pt"
CONFIG_NAME = "model_config.json"


@dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote and how close ONNX Runtime is to torch (the stage's `Report`)."""

    onnx_path: Path
    max_abs_diff: dict[str, float]  # per output, over the parity inputs (logit units)
    ops: dict[str, int]

    def summary(self) -> str:
        worst = max(self.max_abs_diff.values())
        return (
            f"{self.onnx_path}: {sum(self.ops.values())} nodes, all DPU ops; "
            f"max |torch - ORT| {worst:.2e} (see {self.onnx_path.parent / 'export.json'})"
        )


@dataclass(frozen=True)
class ExportPaths:
    """Inputs and output folder of the export stage."""

    checkpoint: Path  # the train stage's uynet.ckpt
    parity_crops: Path  # the deploy_crops stage's export_parity table
    out_dir: Path  # models/onnx layout (module docstring)


def model_outputs(model: nn.Module, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(seg_logits, cls_logit)`` of ``model``, accepting a dict or a tuple output.

    The model contract: ``seg_logits`` N×1×H×W and ``cls_logit`` N×1 (or N). A dict
    output is read by name, a tuple/list positionally. ``cls_logit`` is reshaped to N×1.
    """
    out = model(image)
    if isinstance(out, dict):
        seg, cls = out["seg_logits"], out["cls_logit"]
    elif isinstance(out, tuple | list) and len(out) == 2:
        seg, cls = out
    else:
        raise DfmaskError(
            f"model {type(model).__name__}: expected outputs (seg_logits, cls_logit), got {type(out).__name__}"
        )
    return seg, cls.reshape(-1, 1)


class _OnnxWrapper(nn.Module):
    """Gives the exported graph exactly two tensor outputs in a fixed order."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return model_outputs(self.model, image)


def to_onnx(model: nn.Module, input_size: int, opset: int) -> onnx.ModelProto:
    """The fp32 ONNX graph of ``model`` (eval mode, BN folded, dynamic batch)."""
    model = model.eval()
    dummy = torch.zeros(1, 3, input_size, input_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is deprecated; see the module docstring.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _OnnxWrapper(model),
            (dummy,),
            buffer,  # type: ignore[arg-type]  # torch accepts a file object
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return proto


def ort_session(model: onnx.ModelProto | str | Path, threads: int = 1) -> ort.InferenceSession:
    """A CPU ONNX Runtime session with fixed threads and full graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def parity(model: nn.Module, proto: onnx.ModelProto, images: np.ndarray) -> dict[str, float]:
    """Max absolute difference (logit units) per output between torch and ORT on ``images``."""
    with torch.no_grad():
        seg, cls = model_outputs(model.eval(), torch.from_numpy(images))
    expected = {"seg_logits": seg.numpy(), "cls_logit": cls.numpy()}
    got = dict(zip(OUTPUT_NAMES, ort_session(proto).run(list(OUTPUT_NAMES), {INPUT_NAME: images}), strict=True))
    diffs = {}
    for name in OUTPUT_NAMES:
        if got[name].shape != expected[name].shape:
            raise DfmaskError(f"export: ONNX output {name} has shape {got[name].shape}, torch {expected[name].shape}")
        diffs[name] = float(np.max(np.abs(got[name] - expected[name])))
    return diffs


def export_model(
    model: nn.Module,
    model_config: dict[str, Any],
    out_dir: str | Path,
    input_size: int,
    opset: int = 17,
    atol: float = 1e-4,
    parity_images: np.ndarray | None = None,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` to ``out_dir`` (see module docstring), check DPU ops and ORT parity.

    ``parity_images`` (N×3×S×S float32) are real crops when available; otherwise 4
    seeded uniform-random images are used. Fails with `DfmaskError` if an op is not a
    DPU op or if any output differs from torch by more than ``atol`` logits.
    """
    out_dir = Path(out_dir)
    proto = to_onnx(model, input_size, opset)
    check_dpu_ops(proto, source=f"{out_dir / ONNX_NAME}")
    if parity_images is None:
        rng = np.random.default_rng(seed)
        parity_images = rng.random((4, 3, input_size, input_size), dtype=np.float32)
    diffs = parity(model, proto, parity_images.astype(np.float32))
    worst = max(diffs, key=lambda k: diffs[k])
    if diffs[worst] > atol:
        raise DfmaskError(
            f"export: ONNX Runtime output {worst} differs from torch by {diffs[worst]:.3g} > "
            f"export.parity_atol={atol:g}; check for non-deterministic or unsupported ops"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / ONNX_NAME
    onnx.save(proto, str(onnx_path))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, out_dir / STATE_DICT_NAME)
    (out_dir / CONFIG_NAME).write_text(json.dumps(model_config, indent=2, sort_keys=True) + "\n")
    ops = op_histogram(proto)
    write_json(
        out_dir / "export.json",
        {
            "opset": opset,
            "input": {"name": INPUT_NAME, "shape": ["batch", 3, input_size, input_size]},
            "outputs": list(OUTPUT_NAMES),
            "ops": ops,
            "parity_max_abs_diff": diffs,
            "parity_atol": atol,
            "parity_images": int(parity_images.shape[0]),
            "sha256": {p.name: file_sha256(p) for p in (onnx_path, out_dir / CONFIG_NAME)},
        },
    )
    return ExportResult(onnx_path=onnx_path, max_abs_diff=diffs, ops=ops)


def run(params: ExportParams, paths: ExportPaths) -> ExportResult:
    """The export stage: load the trained checkpoint, export, check ops and parity on the parity crops."""
    from dfmask.model.uynet import load_checkpoint

    model, config = load_checkpoint(paths.checkpoint)
    size = params.input_size or config.input_size
    crops = read_draw(paths.parity_crops, size)
    return export_model(model, config.to_dict(), paths.out_dir, size, params.opset, params.parity_atol, crops.images)
