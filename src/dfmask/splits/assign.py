"""Stable train/val/test assignment of groups, stratified by class.

A group sits at ``u = sha256(seed:key)`` in [0, 1) and goes to the split whose
``split.ratios`` interval holds ``u``: its split depends only on its own key, so adding
parts never moves a group whose key did not change. When the hash alone leaves a split
without REAL videos, without FAKE videos or with fewer than the required groups, a
deterministic repair moves the fewest groups, preferring groups from the split most
over its target share and nearest the deficient split's interval. Repairs are
returned (and reported), because they are the one way an unchanged group can move
when the corpus grows: once the hash alone satisfies every split, they disappear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dfmask.errors import DfmaskError

SPLIT_NAMES = ("train", "val", "test")


def group_position(key: str, seed: int) -> float:
    """The group's stable place in [0, 1): sha256 of ``seed:key``."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


def _bounds(ratios: Sequence[float]) -> list[tuple[float, float]]:
    edges = np.concatenate([[0.0], np.cumsum(ratios)])
    edges[-1] = 1.0
    return [(float(edges[i]), float(edges[i + 1])) for i in range(len(ratios))]


@dataclass(frozen=True)
class Group:
    group_id: str
    videos: int
    reals: int
    fakes: int
    position: float


@dataclass(frozen=True)
class Assignment:
    split: dict[str, str]  # group_id → split
    repairs: list[dict[str, Any]]  # groups moved off their hash split, and why
    min_groups: int  # groups per split actually required


def assign_groups(groups: Sequence[Group], ratios: Sequence[float], min_groups: int) -> Assignment:
    """Hash-interval assignment, then the smallest deterministic repair of constraints.

    Every split must hold a group with REAL videos, a group with FAKE videos and
    ``min(min_groups, n_groups // 3)`` (at least 1) groups. Raises `DfmaskError` if the
    groups cannot satisfy that. ``ratios``: three positive shares summing to 1
    (``split.ratios``, checked at load).
    """
    bounds = dict(zip(SPLIT_NAMES, _bounds(ratios), strict=True))
    target = dict(zip(SPLIT_NAMES, ratios, strict=True))
    need_groups = max(1, min(min_groups, len(groups) // 3))
    with_real = sum(g.reals > 0 for g in groups)
    with_fake = sum(g.fakes > 0 for g in groups)
    if with_real < 3 or with_fake < 3:
        raise DfmaskError(
            f"split: cannot give train, val and test both REAL and FAKE videos: the "
            f"{len(groups)} identity groups include only {with_real} with real and {with_fake} "
            "with fake videos. Add parts (corpus.parts), or split finer (lower "
            "split.distance_threshold; split.donor_aware: false), at the cost of leaks"
        )
    by_id = {g.group_id: g for g in groups}
    split = {g.group_id: next(s for s, (lo, hi) in bounds.items() if lo <= g.position < hi) for g in groups}
    total = sum(g.videos for g in groups) or 1

    def needs(s: str, without: str | None = None) -> set[str]:
        members = [by_id[k] for k, v in split.items() if v == s and k != without]
        out = set()
        if not any(m.reals for m in members):
            out.add("real")
        if not any(m.fakes for m in members):
            out.add("fake")
        if len(members) < need_groups:
            out.add("groups")
        return out

    def gives(g: Group) -> set[str]:
        return {"groups"} | ({"real"} if g.reals else set()) | ({"fake"} if g.fakes else set())

    def surplus(s: str) -> float:
        return sum(by_id[k].videos for k, v in split.items() if v == s) / total - target[s]

    def distance(g: Group, s: str) -> float:
        lo, hi = bounds[s]
        d = 0.0 if lo <= g.position < hi else min(abs(g.position - lo), abs(g.position - hi))
        return min(d, 1.0 - d)  # circular

    repairs: list[dict[str, Any]] = []
    order = sorted(SPLIT_NAMES, key=lambda s: (target[s], SPLIT_NAMES.index(s)))
    for _ in range(3 * len(groups) + 3):
        pending = [(s, needs(s)) for s in order if needs(s)]
        if not pending:
            break
        s, missing = pending[0]
        candidates = [
            g
            for g in groups
            if split[g.group_id] != s
            and gives(g) & missing
            and needs(split[g.group_id], without=g.group_id) <= needs(split[g.group_id])
        ]
        if not candidates:
            raise DfmaskError(
                f"split: cannot give the {s} split {', '.join(sorted(missing))} without "
                f"breaking another split ({len(groups)} groups); add parts or split finer"
            )
        best = min(
            candidates,
            key=lambda g: (
                -len(gives(g) & missing),
                -surplus(split[g.group_id]),
                distance(g, s),
                g.group_id,
            ),
        )
        repairs.append({"group_id": best.group_id, "from": split[best.group_id], "to": s, "for": sorted(missing)})
        split[best.group_id] = s
    return Assignment(split, repairs, need_groups)
