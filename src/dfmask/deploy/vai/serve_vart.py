"""A long-lived VART scorer for `dfmask predict --backend vart` (Vitis AI 3.0 env, Python 3.8).

`dfmask.deploy.dpu_runner.VartRunner` (Python 3.11) starts this script once, in the
``vitis-ai-pytorch`` conda env of the Vitis AI 3.0 docker on the host with the
VCK5000, and talks to it over its stdin/stdout in NumPy's ``.npy`` format (never
pickles): it loads the compiled xmodel, creates one VART runner on its DPU subgraph
(the benchmark's `bench_vart.DpuModel`: the same int8 fix-point conversion) and writes
a handshake array ``[input_size, runner_batch]`` (the side the xmodel was compiled for); then, for each float32 N×3×S×S
image array it reads, it writes the float32 ``seg_logits`` N×1×S×S and ``cls_logit``
N. End of input ends it with status 0; any error goes to stderr with status 1.

Only `main` touches ``xir``/``vart`` (through `bench_vart`); the framing helpers are
importable and tested anywhere.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import IO, Any

import numpy as np

try:  # imported as dfmask.deploy.vai.serve_vart (tests), or run as a file in the vendor env
    from .bench_vart import DpuModel, dpu_subgraphs
except ImportError:  # pragma: no cover - the vendor env runs this file as a script
    from bench_vart import DpuModel, dpu_subgraphs  # type: ignore[no-redef]


def write_array(stream: IO[bytes], array: np.ndarray) -> None:
    """One array in ``.npy`` format, flushed so the other side can read it at once.

    Built in memory first: NumPy writes a real file object with ``tofile``, which a pipe
    does not support.
    """
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    stream.write(buffer.getvalue())
    stream.flush()


def read_array(stream: IO[bytes]) -> np.ndarray | None:
    """The next ``.npy`` array, or None at a clean end of the stream."""
    head = stream.read(1)
    if not head:
        return None
    rest = _Prefixed(head, stream)
    return np.lib.format.read_array(rest, allow_pickle=False)


class _Prefixed:
    """A read-only stream that first returns ``head``, then ``stream``'s bytes."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream

    def read(self, n: int = -1) -> bytes:
        out = self.head[:n] if n >= 0 else self.head
        self.head = self.head[len(out) :]
        if n < 0:
            return out + self.stream.read()
        while len(out) < n:
            chunk = self.stream.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return out


def serve(model: Any, size: int, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Answer image arrays with ``(seg_logits, cls_logit)`` until the input ends; the count."""
    write_array(stdout, np.array([size, int(model.batch)], np.int64))
    served = 0
    while True:
        images = read_array(stdin)
        if images is None:
            return served
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise ValueError(f"images {images.shape}: expected N x 3 x {size} x {size}")
        seg, cls = model.run(images.astype(np.float32))
        write_array(stdout, seg.astype(np.float32))
        write_array(stdout, cls.astype(np.float32).reshape(-1))
        served += len(images)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--xmodel", required=True)
    args = parser.parse_args(argv)
    import xir

    try:
        graph = xir.Graph.deserialize(args.xmodel)
        subgraphs = dpu_subgraphs(graph)
        if len(subgraphs) != 1:
            raise RuntimeError(f"{args.xmodel}: {len(subgraphs)} DPU subgraphs, expected 1")
        model = DpuModel(subgraphs[0], 0)
        model.size = int(model.inputs[0].dims[1])  # NHWC: the input side the xmodel was compiled for
        served = serve(model, model.size, sys.stdin.buffer, sys.stdout.buffer)
    except Exception as err:  # noqa: BLE001 - one line for the parent, which raises it
        sys.stderr.write(f"serve_vart: {type(err).__name__}: {err}\n")
        return 1
    sys.stderr.write(f"serve_vart: {served} images scored\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
