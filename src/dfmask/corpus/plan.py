"""The seeded plan of a sample corpus: which originals, which fakes, names and parts.

Everything random about the corpus's LAYOUT is drawn here, from one stream seeded by
``base.seed``; rendering draws from per-video streams keyed by the video's position in
the plan. Same seed and params ⇒ same plan ⇒ same frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dfmask.corpus.catalogue import ACTORS, Composite, Item, Still, group_of, select_groups
from dfmask.errors import DfmaskError
from dfmask.params import SampleSizeParams

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


@dataclass(frozen=True)
class FakePlan:
    """One fake of an original.

    Attributes:
        video_id: its 10-letter name.
        kind: ``full`` | ``mouth`` | ``failed`` (face region left untouched).
        donor: actor swapped in (for a failed fake: the donor that was attempted).
        index: position among all fakes (seeds its random stream).
    """

    video_id: str
    kind: str
    donor: str
    index: int


@dataclass(frozen=True)
class OriginalPlan:
    """One original (REAL) video and its fakes.

    Attributes:
        video_id: its 10-letter name.
        part: N of dfdc_train_part_N.
        actors: actor ids of its faces, face 0 first (face 0 is the one swapped).
        item: its source material.
        portrait: rendered height > width.
        index: position among all originals (seeds its random stream).
        fakes: its fakes.
        repeat: how many times the actor's source list wrapped round before this item
            (0 = first use); a fixed-start clip used again is shifted by it.
    """

    video_id: str
    part: int
    actors: tuple[str, ...]
    item: Item
    portrait: bool
    index: int
    fakes: tuple[FakePlan, ...]
    repeat: int = 0


def _names(rng: np.random.Generator, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = "".join(rng.choice(_LETTERS, 10))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _pick(rng: np.random.Generator, pool: list[int], count: int) -> list[int]:
    if count <= 0 or not pool:
        return []
    return sorted(int(i) for i in rng.permutation(pool)[: min(count, len(pool))])


def make_plan(size: SampleSizeParams, seed: int) -> list[OriginalPlan]:
    """The corpus layout for ``size`` and ``seed`` (see module docstring); its ranges are
    checked when params.yaml is loaded."""
    lo, hi = size.fakes_per_original
    groups = select_groups(size.actors)
    if not groups:
        raise DfmaskError(f"params: sample.actors = {size.actors}: the smallest donor group has 2 actors")
    rng = np.random.default_rng([seed, 0x5A4D])
    originals: list[tuple[tuple[str, ...], Item]] = []
    repeats: list[int] = []
    for group in groups:
        for actor in group:
            items = ACTORS[actor]
            for k in range(size.originals_per_actor):
                item = items[k % len(items)]
                actors: tuple[str, ...] = (item.left, item.right) if isinstance(item, Composite) else (actor,)
                originals.append((actors, item))
                repeats.append(k // len(items))
    n_orig = len(originals)
    stills = [i for i, (_, item) in enumerate(originals) if isinstance(item, Still)]
    n_portrait = round(size.portrait_frac * len(stills))
    if size.portrait_frac > 0 and stills:
        n_portrait = max(1, n_portrait)
    portrait = set(_pick(rng, stills, n_portrait))
    order = rng.permutation(n_orig)
    part_of = {int(i): pos % size.parts for pos, i in enumerate(order)}
    n_fakes = [int(rng.integers(lo, hi + 1)) for _ in range(n_orig)]
    donors: list[list[str]] = []
    for (actors, _), n in zip(originals, n_fakes, strict=True):
        pool = [a for a in group_of(actors[0]) if a not in actors]
        donors.append([str(rng.choice(pool)) for _ in range(n)])
    # Kinds: `failed_swap_count` failed fakes (single-face originals), then a share of
    # mouth-only swaps (at least one when the share is > 0); the rest full swaps.
    fake_owner = [o for o, n in enumerate(n_fakes) for _ in range(n)]
    single = [f for f, o in enumerate(fake_owner) if len(originals[o][0]) == 1]
    failed = set(_pick(rng, single, size.failed_swap_count))
    n_mouth = round(size.mouth_only_frac * len(fake_owner))
    if size.mouth_only_frac > 0:
        n_mouth = max(1, n_mouth)
    mouth = set(_pick(rng, [f for f in range(len(fake_owner)) if f not in failed], n_mouth))
    names = _names(rng, n_orig + len(fake_owner))
    plans = []
    f = 0
    for o, (actors, item) in enumerate(originals):
        fakes = []
        for donor in donors[o]:
            kind = "failed" if f in failed else "mouth" if f in mouth else "full"
            fakes.append(FakePlan(names[n_orig + f], kind, donor, f))
            f += 1
        plans.append(OriginalPlan(names[o], part_of[o], actors, item, o in portrait, o, tuple(fakes), repeats[o]))
    return plans
