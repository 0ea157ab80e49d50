"""A stand-in for Vitis AI's ``vart`` module: a "DPU" computing a fixed int8 function.

`dpu_function` is what the fake card computes on the int8 NHWC input; the tests apply
it to the same images to check everything around the card: fix-point conversion,
batching, padding, output order and the pipe to the scorer process.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def dpu_function(feed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 N×S×S×3 → (seg int8 N×S×S×1: the channel mean, shifted; cls int8 N×1: a per-image sum)."""
    wide = feed.astype(np.int32)
    seg = np.clip(wide.mean(axis=3, keepdims=True).round() - 20, -128, 127).astype(np.int8)
    cls = np.clip(wide[:, ::4, ::4, 0].sum(axis=(1, 2)) // 64 - 7, -128, 127).astype(np.int8).reshape(-1, 1)
    return seg, cls


class Tensor:
    def __init__(self, dims: tuple[int, ...], fix_point: int) -> None:
        self.dims = dims
        self.fix_point = fix_point

    def get_attr(self, name: str) -> Any:
        assert name == "fix_point", name
        return self.fix_point


class _Runner:
    def __init__(self, subgraph: Any) -> None:
        spec = subgraph.spec
        n, s = int(spec["batch"]), int(spec["size"])
        self.inputs = [Tensor((n, s, s, 3), int(spec["in_fix"]))]
        # the class output first: the quantizer's order is not the model's; split_outputs goes by shape
        self.outputs = [Tensor((n, 1), int(spec["cls_fix"])), Tensor((n, s, s, 1), int(spec["seg_fix"]))]

    def get_input_tensors(self) -> list[Tensor]:
        return self.inputs

    def get_output_tensors(self) -> list[Tensor]:
        return self.outputs

    def execute_async(self, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> int:
        seg, cls = dpu_function(inputs[0])
        outputs[0][...] = cls
        outputs[1][...] = seg
        return 1

    def wait(self, job: int) -> int:
        return 0


class Runner:
    @staticmethod
    def create_runner(subgraph: Any, mode: str) -> _Runner:
        assert mode == "run"
        return _Runner(subgraph)
