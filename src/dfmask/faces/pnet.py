"""P-Net run one frame at a time: same outputs, a batch's worth less memory.

facenet-pytorch runs P-Net on the whole batch at every pyramid level. In float64
torch has no oneDNN kernel and convolves by im2col (``slow_conv2d``), whose column
buffer holds the whole batch: at 1080p (8 frames rescaled to 634x356, the first
level at 586x329) conv1's is 330 MB and its outputs 2 x 120 MB, so one MTCNN call
peaked at ~0.6 GB over its inputs, per worker (measured: +630 MB for batch 8 in
float64, +200 MB in float32). In float64 each frame's convolution is computed on
its own anyway (im2col and one GEMM per sample), so running P-Net per frame and
concatenating gives the same tensors bit for bit (checked by
tests/faces/test_detect.py, which finds oneDNN's float32 equal too on the build box;
float32 promises no bytes across machines anyway) with one frame's buffers (~80 MB)
alive at a time. R-Net and O-Net still see the whole batch's candidates at once, as
before, so the call is otherwise unchanged.
Only on the CPU: a GPU batch is fast and its memory is not the host's.

A module of its own so that torch is imported only where detection starts
(`dfmask.faces.detect` imports torch lazily) and the wrapped MTCNN stays picklable.
"""

from __future__ import annotations

import torch


class PerFramePNet(torch.nn.Module):
    """``net`` (facenet-pytorch's P-Net) applied to each frame of a batch in turn; its
    outputs concatenated along the batch, as the batched call returns them."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net  # its parameters are this module's: facenet-pytorch reads their dtype

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = [self.net(x[i : i + 1]) for i in range(len(x))]
        return tuple(torch.cat(parts) for parts in zip(*outs, strict=True))
