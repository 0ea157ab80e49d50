"""P-Net on the CPU: one frame at a time (`PerFramePNet`: same outputs, a batch's worth
less memory) and, in float64, screened by float32 (`ScreenedPNet`: the same detections
at about float32's cost).

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

import copy

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


#: How far below the P-Net threshold a float32 score still gets its float64 value
#: (`ScreenedPNet`). float32 and float64 P-Net scores differed by at most 1.7e-6 on
#: 1080p frames of the sample (every pyramid level; tests/faces/test_detect.py holds
#: them to 1e-5), so a window scored under threshold - 1e-3 in float32 is under the
#: threshold in float64 too, by ~600x that error.
SCREEN_MARGIN = 1e-3

#: Candidate windows per float64 call in `ScreenedPNet` (1.8 MB of float64 input, ~4 MB
#: for conv1's output, per call).
REFINE_CHUNK = 512


class ScreenedPNet(torch.nn.Module):
    """float64 P-Net outputs wherever they decide anything, at about float32's cost.

    P-Net's outputs feed MTCNN only where its face score reaches the first threshold
    (facenet-pytorch's ``generateBoundingBox`` keeps those windows, with their score
    and box regression; every other position is dropped). So each frame is run densely
    by a float32 copy of the net (oneDNN: ~5x faster than float64's ``slow_conv2d``,
    which is ~80 % of a dense float64 1080p detection), and only the windows scored at least
    ``threshold - margin`` are run again by the float64 net, each on its own 12 x 12
    input window (P-Net is fully convolutional: output (i, j) reads input rows
    2i..2i+11 and columns 2j..2j+11, 11 at a partial last pooling window); their float64
    score and regression replace the float32 ones. Every other position keeps its
    float32 values as float64, all under the threshold, so MTCNN keeps exactly the
    windows, scores and regressions of a dense float64 run (up to float64 summation
    order, ~1e-15, far below the float32 the boxes are stored in: the same bytes,
    checked against the plain float64 net by tests/faces/test_detect.py).

    Frames are run one at a time, as `PerFramePNet` does (memory), and the candidate
    windows in chunks of `REFINE_CHUNK` (a frame where most positions pass, which real
    video does not give, costs time but no unbounded memory). Autocast is switched off
    inside: a bfloat16 screen would break the margin's premise. CPU only.

    ``threshold`` must be the one the MTCNN it serves applies (``MTCNN.thresholds[0]``).
    """

    def __init__(self, net: torch.nn.Module, threshold: float, margin: float = SCREEN_MARGIN):
        super().__init__()
        self.net = net  # float64, registered first: facenet-pytorch casts frames to the first parameter's dtype
        self.fast = copy.deepcopy(net).float()
        self.threshold = float(threshold)
        self.margin = float(margin)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        regs, probs = [], []
        with torch.autocast("cpu", enabled=False):
            for i in range(len(x)):
                frame = x[i : i + 1]
                reg, prob = (t.to(x.dtype) for t in self.fast(frame.float()))
                self._refine(frame, reg, prob)
                regs.append(reg)
                probs.append(prob)
        return torch.cat(regs), torch.cat(probs)

    def _refine(self, frame: torch.Tensor, reg: torch.Tensor, prob: torch.Tensor) -> None:
        """Overwrite ``reg``/``prob`` (1, C, h, w) at the candidate windows with float64 values."""
        cand = (prob[0, 1] >= self.threshold - self.margin).nonzero()
        if len(cand) == 0:
            return
        height, width = frame.shape[2:]
        rows, cols = cand[:, 0] * 2, cand[:, 1] * 2
        win_h = (height - rows).clamp(max=12)
        win_w = (width - cols).clamp(max=12)
        sizes = torch.stack([win_h, win_w], 1)
        for wh, ww in sizes.unique(dim=0).tolist():  # the window sizes that occur
            group = (sizes == torch.tensor([wh, ww])).all(1).nonzero()[:, 0]
            for pick in group.split(REFINE_CHUNK):
                r = rows[pick, None, None] + torch.arange(wh)[None, :, None]
                c = cols[pick, None, None] + torch.arange(ww)[None, None, :]
                windows = frame[0][:, r, c].permute(1, 0, 2, 3)  # (K, 3, wh, ww)
                b, a = self.net(windows)  # (K, 4, 1, 1), (K, 2, 1, 1)
                ci, cj = cand[pick, 0], cand[pick, 1]
                reg[0, :, ci, cj] = b[:, :, 0, 0].T
                prob[0, :, ci, cj] = a[:, :, 0, 0].T
