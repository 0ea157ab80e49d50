"""Validation under several processes (Lightning DDP, ``train.devices`` × ``train.num_nodes``).

With one process, `dfmask.model.lightning.LitUYNet` accumulates the val predictions of
the epoch in numpy and computes AUC, log loss, Dice and the loss over all of them. Under
DDP each process sees only its share of the val set, so the same code would log one
rank's figures. Two pieces make the logged values those of one process over the whole
val set:

* `ValBatchSampler` gives each rank **whole batches of the one-process order** (batch
  r, r + W, r + 2W, … of rank r among W), so each val batch, and hence its loss (whose
  Dice term is a ratio over the batch), is the one a single process computes. Lightning's
  default `DistributedSampler` would deal crops out one by one instead, and pad with
  repeated crops.
* `gather_records` collects every rank's per-batch records on every rank; duplicates
  (the batches a rank repeats to keep the step counts equal, which DDP needs) are
  dropped, and the rest is put back in the one-process order, so the metrics are
  computed from the same numbers in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler


def rank_batches(n_items: int, batch_size: int, world_size: int, rank: int) -> list[range]:
    """The batches (ranges of positions in the val order) rank ``rank`` of ``world_size`` runs.

    Batch b holds positions [b·batch_size, (b+1)·batch_size); rank r takes b = r, r + W, …
    and pads with batch 0 up to ⌈B / W⌉ batches, so every rank runs as many steps (the
    one short batch, the last, always lands on a rank that needs no padding).
    """
    if world_size < 1 or not 0 <= rank < world_size or batch_size < 1:
        raise ValueError(f"rank_batches: rank {rank} of {world_size}, batch size {batch_size}")
    n_batches = math.ceil(n_items / batch_size)
    batches = [range(b * batch_size, min((b + 1) * batch_size, n_items)) for b in range(n_batches)]
    own = batches[rank::world_size]
    steps = math.ceil(n_batches / world_size)
    return own + [batches[0]] * (steps - len(own)) if batches else []


class ValBatchSampler(DistributedSampler[int]):
    """This rank's share of the val set, as whole batches of the one-process order.

    A `DistributedSampler`, so Lightning keeps it instead of injecting its own; used
    with a DataLoader of the same ``batch_size`` (and ``drop_last=False``), which cuts
    the positions back into the same batches (see `rank_batches`).
    """

    def __init__(self, dataset: Sized, batch_size: int, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)  # type: ignore[arg-type]
        self.batches = rank_batches(len(dataset), batch_size, num_replicas, rank)

    def __iter__(self) -> Iterator[int]:
        return (i for batch in self.batches for i in batch)

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches)


def gather_records(records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Every rank's ``records`` (one dict of numpy arrays per val batch), on every rank.

    Records are told apart by ``int(record[key][0])`` (the first crop index of the
    batch: batches are disjoint); repeats are dropped and the rest sorted by it, which is
    the one-process order when the val crops run in increasing index order. Without an
    initialised process group (one process), ``records`` is returned unchanged.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return records
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, [r for r in records if len(r[key])])
    unique: dict[int, dict[str, Any]] = {}
    for part in parts:
        for record in part:
            unique.setdefault(int(record[key][0]), record)
    return [unique[k] for k in sorted(unique)]


def weighted_mean(values: list[float], sizes: list[int]) -> float:
    """Σ v·n / Σ n in float32 tensors, accumulated in order: Lightning's epoch mean of a
    value logged with ``batch_size=n`` (``on_epoch=True``), to the last bit."""
    total = torch.tensor(0.0)
    count = torch.tensor(0)
    for v, n in zip(values, sizes, strict=True):
        total = total + torch.tensor(v, dtype=torch.float32) * n
        count = count + n
    return float(total / count)
