"""The model behind `dfmask.Detector`: one or several U-YNets on one backend.

Backends:

* ``torch``: a checkpoint (``models/train/uynet.ckpt``, or a ``state_dict`` file with
  its ``model_config.json`` beside it), loaded with ``weights_only=True`` only
  (`dfmask.model.uynet.load_checkpoint`);
* ``onnx``: the fp32 graph (``models/onnx/uynet.onnx``) under ONNX Runtime;
* ``onnx-int8``: the ORT int8 graph (``models/int8/uynet.ort_int8.onnx``), the default
  when it exists;
* ``vart``: the VCK5000 DPU, the compiled ``models/compiled/uynet.xmodel``, scored by
  `dfmask.deploy.dpu_runner.VartRunner` (a process in the lab server's Vitis AI 3.0 env);
  anywhere else it is a one-line error saying what is missing.

Every backend is driven through `dfmask.deploy.runners` (the benchmark's runners), so
scores match the deploy reports. Crops are resized exactly as in training
(`dfmask.model.inputs.resize_crop`), scaled to [0, 1]; several models are an ensemble:
their logits (class and mask) are averaged, then the sigmoid is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.params import DeployParams
from dfmask.tables import file_sha256

BACKENDS = ("torch", "onnx", "onnx-int8", "vart")

#: Where each backend's model lies under a models folder (the pipeline's ``paths.models``).
DEFAULT_FILES = {
    "torch": "train/uynet.ckpt",
    "onnx": "onnx/uynet.onnx",
    "onnx-int8": "int8/uynet.ort_int8.onnx",
    "vart": "compiled/uynet.xmodel",
}


@dataclass(frozen=True)
class ModelInfo:
    """Which file a prediction came from: its name, backend, input size and sha256."""

    id: str
    backend: str
    path: str
    sha256: str
    input_size: int


def default_backend(models_dir: str | Path) -> str:
    """``onnx-int8`` when its file exists under ``models_dir``, else ``onnx``, else ``torch``."""
    for backend in ("onnx-int8", "onnx", "torch"):
        if (Path(models_dir) / DEFAULT_FILES[backend]).is_file():
            return backend
    return "torch"


def resolve_model(model: str | Path, backend: str) -> Path:
    """The model file for ``model``: the file itself, or a models folder's file for ``backend``."""
    path = Path(model)
    if backend not in BACKENDS:
        raise DfmaskError(f"backend {backend!r}: expected one of {' | '.join(BACKENDS)}")
    if path.is_dir():
        path = path / DEFAULT_FILES[backend]
    if not path.is_file():
        raise DfmaskError(f"{path}: model file not found (run `dvc repro` to build models/, or pass --model FILE)")
    want = {"torch": "a torch checkpoint (.ckpt/.pt)", "vart": "a compiled .xmodel"}.get(backend, "an .onnx file")
    wrong = path.suffix != ".xmodel" if backend == "vart" else (path.suffix == ".onnx") != (backend != "torch")
    if wrong:
        raise DfmaskError(f"{path}: backend {backend} needs {want}")
    return path


def _onnx_input_size(path: Path, session_input_shape: Sequence[object]) -> int:
    side = session_input_shape[-1]
    if isinstance(side, int) and side > 0:
        return side
    config = path.parent / "model_config.json"
    try:
        return int(json.loads(config.read_text())["input_size"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DfmaskError(f"{path}: input size not fixed in the graph and {config} unreadable") from err


class _Member:
    """One model of the ensemble: a deploy runner plus its input size."""

    def __init__(self, path: Path, backend: str, threads: int, deploy: DeployParams | None = None) -> None:
        from dfmask.deploy.dpu_runner import VartRunner
        from dfmask.deploy.runners import OrtRunner, TorchRunner

        self.runner: TorchRunner | OrtRunner | VartRunner
        if backend == "vart":
            self.runner = VartRunner(path, deploy)
            size = self.runner.input_size
        elif backend == "torch":
            from dfmask.model.uynet import load_checkpoint

            config_path = path.parent / "model_config.json"
            if not config_path.is_file():
                config_path = path.parent / "uynet_config.json"
            model, config = load_checkpoint(path, config_path if config_path.is_file() else None)
            self.runner = TorchRunner(model, threads, name="torch")
            size = config.input_size
        else:
            self.runner = OrtRunner(path, threads, name=backend)
            size = _onnx_input_size(path, self.runner.session.get_inputs()[0].shape)
        self.info = ModelInfo(path.name, backend, str(path), file_sha256(path), int(size))


class Ensemble:
    """Several models on one backend; `logits` averages their outputs."""

    def __init__(
        self, models: Sequence[str | Path], backend: str, threads: int = 1, deploy: DeployParams | None = None
    ) -> None:
        if not models:
            raise DfmaskError("no model given")
        self.backend = backend
        self.members = [_Member(resolve_model(m, backend), backend, threads, deploy) for m in models]
        sizes = {m.info.input_size for m in self.members}
        if len(sizes) != 1:
            raise DfmaskError(f"ensemble: the models take different input sizes {sorted(sizes)}")
        self.input_size = sizes.pop()

    @property
    def infos(self) -> list[ModelInfo]:
        return [m.info for m in self.members]

    @property
    def model_id(self) -> str:
        """One name for the ensemble: the single model's sha256, or a hash of all of them."""
        if len(self.members) == 1:
            return self.members[0].info.sha256
        return hashlib.sha256("+".join(m.info.sha256 for m in self.members).encode()).hexdigest()

    def inputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 RGB crops of any size → N×3×S×S float32 in [0, 1] (training's resize)."""
        from dfmask.model.inputs import resize_crop

        stack = np.stack([resize_crop(c, self.input_size) for c in crops]).astype(np.float32) / 255.0
        return np.ascontiguousarray(stack.transpose(0, 3, 1, 2))

    def logits(self, crops: Sequence[np.ndarray], batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """``(cls_logit (N,) float64, seg_logits (N, S, S) float32)``, averaged over the models."""
        n = len(crops)
        cls = np.zeros(n, np.float64)
        seg = np.zeros((n, self.input_size, self.input_size), np.float32)
        for start in range(0, n, batch):
            x = self.inputs(crops[start : start + batch])
            for member in self.members:
                s, c = member.runner.run(x)
                cls[start : start + len(x)] += np.asarray(c, np.float64).reshape(-1)
                seg[start : start + len(x)] += np.asarray(s, np.float32)[:, 0]
        k = len(self.members)
        return cls / k, seg / k
