"""A stand-in for Vitis AI's ``xir`` module, for testing `serve_vart.py` up to the vendor calls.

The "xmodel" is an ``.npz`` (size, batch, fix points, the number of DPU subgraphs); the
graph exposes the attributes `bench_vart.dpu_subgraphs` and `DpuModel` read.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Subgraph:
    def __init__(self, attrs: dict[str, Any], spec: dict[str, Any] | None = None) -> None:
        self.attrs = attrs
        self.spec = spec or {}
        self.is_leaf = False

    def has_attr(self, name: str) -> bool:
        return name in self.attrs

    def get_attr(self, name: str) -> Any:
        return self.attrs[name]

    def toposort_child_subgraph(self) -> list[Subgraph]:
        dpus = [Subgraph({"device": "DPU", "dpu_name": "FAKE"}, self.spec) for _ in range(int(self.spec["dpus"]))]
        return [Subgraph({"device": "CPU"}), *dpus, Subgraph({"device": "USER"})]


class Graph:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    @staticmethod
    def deserialize(path: str) -> Graph:
        with np.load(path) as data:
            return Graph({k: data[k].item() for k in data.files})

    def get_root_subgraph(self) -> Subgraph:
        return Subgraph({}, self.spec)
