"""The seeded plan of a sample corpus: which originals, which fakes (method, donor,
encoder settings), names and parts.

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
from dfmask.schemas.ground_truth import FAKE_METHODS, METHOD_CASE

_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


@dataclass(frozen=True)
class FakePlan:
    """One fake of an original.

    Attributes:
        video_id: its 10-letter name.
        method: one of `FAKE_METHODS`.
        donor: actor swapped in (for a ``no_change`` fake: the donor that was attempted).
        index: position among all fakes (seeds its random stream).
        crf, preset: its x264 settings (its original's unless ``encode_differs``).
        encode_differs: encoded with settings other than its original's.
        render_scale: ``autoencoder`` only: the donor face is rendered at this fraction
            of the target's face height before the warp upsamples it (None otherwise).
    """

    video_id: str
    method: str
    donor: str
    index: int
    crf: int = 18
    preset: str = "medium"
    encode_differs: bool = False
    render_scale: float | None = None

    @property
    def kind(self) -> str:
        """The case: ``full`` | ``mouth`` | ``failed`` (the ground truth's ``swap_kind``)."""
        return METHOD_CASE[self.method]


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
        crf, preset: its x264 settings.
        codec_pair: ``(crf, preset)`` of its re-encoding in the codec-noise fixture, or
            None when it has none.
    """

    video_id: str
    part: int
    actors: tuple[str, ...]
    item: Item
    portrait: bool
    index: int
    fakes: tuple[FakePlan, ...]
    repeat: int = 0
    crf: int = 18
    preset: str = "medium"
    codec_pair: tuple[int, str] | None = None


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


def apportion(shares: dict[str, float], total: int) -> dict[str, int]:
    """``total`` items split by ``shares`` (summing to 1) with the largest-remainder
    method (ties: the order of ``shares``); then every share > 0 that got nothing takes
    one item from the largest count, while ``total`` allows."""
    exact = {k: v * total for k, v in shares.items()}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    order = sorted(shares, key=lambda k: (-(exact[k] - counts[k]), list(shares).index(k)))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    for k in shares:
        if shares[k] > 0 and counts[k] == 0:
            donor = max(counts, key=lambda m: counts[m])
            if counts[donor] > 1:
                counts[donor] -= 1
                counts[k] = 1
    return counts


_GOLDEN = 0.6180339887498949  # golden-ratio step: consecutive multiples spread evenly over [0, 1)


def _group_order(rng: np.random.Generator, groups: list[tuple[str, ...]]) -> list[int]:
    """Indices of ``groups`` (one donor group per item) ordered by group, in catalogue
    order, and in a seeded order within a group. Whatever is dealt evenly along this
    order reaches every group in proportion: an identity-disjoint split (which keeps
    donor groups whole) then gets each method and quality in proportion too."""
    tiebreak = rng.permutation(len(groups))
    first: dict[tuple[str, ...], int] = {}
    for g in groups:
        first.setdefault(g, len(first))
    return sorted(range(len(groups)), key=lambda i: (first[groups[i]], int(tiebreak[i])))


def _evenly(items: list[int], count: int, offset: float) -> list[int]:
    """``count`` of ``items`` at evenly spaced positions (shifted by ``offset`` in [0, 1) of a step)."""
    count = min(count, len(items))
    return [items[int((i + offset) * len(items) / count)] for i in range(count)] if count else []


def _spread(rng: np.random.Generator, lo: int, hi: int, order: list[int]) -> dict[int, int]:
    """Integers spread evenly over ``[lo, hi]`` (quantile midpoints), one per index of
    ``order``; consecutive indices get values far apart (golden-ratio ranks), so every
    band of the range gets its share in every group, even on a small corpus."""
    count, width = len(order), hi - lo + 1
    offset = float(rng.uniform())
    keys = [(k * _GOLDEN + offset) % 1.0 for k in range(count)]
    out = {}
    for rank, k in enumerate(sorted(range(count), key=lambda k: keys[k])):
        out[order[k]] = lo + min(width - 1, int((rank + 0.5) * width / count))
    return out


def _interleaved(counts: dict[str, int]) -> list[str]:
    """Each key repeated by its count, interleaved so that any run of the list holds
    the keys in about their proportions."""
    tokens = [((j + 0.5) / c, i, m) for i, (m, c) in enumerate(counts.items()) for j in range(c)]
    return [m for _, _, m in sorted(tokens)]


def _other_setting(
    rng: np.random.Generator, crf: int, preset: str, crf_range: tuple[int, int], presets: tuple[str, ...]
) -> tuple[int, str]:
    """A (crf, preset) drawn uniformly from the range x presets, other than the given one."""
    options = [(c, p) for c in range(crf_range[0], crf_range[1] + 1) for p in presets if (c, p) != (crf, preset)]
    c, p = options[int(rng.integers(len(options)))]
    return c, p


def _pair_setting(rng: np.random.Generator, crf: int, size: SampleSizeParams) -> tuple[int, str]:
    """A codec pair's (crf, preset): a CRF of the range other than the original's, a
    preset drawn from the list."""
    crf_options = [c for c in range(size.crf_range[0], size.crf_range[1] + 1) if c != crf]
    return crf_options[int(rng.integers(len(crf_options)))], size.presets[int(rng.integers(len(size.presets)))]


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
    fake_owner = [o for o, n in enumerate(n_fakes) for _ in range(n)]
    # Methods and encoder settings are dealt evenly along the donor groups (see
    # `_group_order`), in seeded orders.
    group_of_orig = [group_of(actors[0]) for actors, _ in originals]
    fake_order = _group_order(rng, [group_of_orig[o] for o in fake_owner])
    method_of = _methods(rng, size, fake_order, fake_owner, [len(a) for a, _ in originals])
    names = _names(rng, n_orig + len(fake_owner))
    # Originals: CRFs spread over crf_range, presets in turn; a share of fakes gets
    # other settings than its original's.
    orig_order = _group_order(rng, group_of_orig)
    crf_of = _spread(rng, *size.crf_range, orig_order)
    crfs = [crf_of[o] for o in range(n_orig)]
    presets = [""] * n_orig
    for k, o in enumerate(orig_order):
        presets[o] = size.presets[k % len(size.presets)]
    n_differ = round(size.encode_differs_frac * len(fake_owner))
    if size.encode_differs_frac > 0:
        n_differ = max(1, n_differ)
    differs = set(_evenly(fake_order, n_differ, float(rng.uniform())))
    settings = [
        _other_setting(rng, crfs[o], presets[o], size.crf_range, size.presets)
        if f in differs
        else (crfs[o], presets[o])
        for f, o in enumerate(fake_owner)
    ]
    scales = [round(float(rng.uniform(*size.autoencoder_scale)), 3) if m == "autoencoder" else None for m in method_of]
    paired = _pick(rng, list(range(n_orig)), size.codec_pairs)
    # the codec-noise fixture: a few originals, each re-encoded at another CRF
    pair_of = {o: _pair_setting(rng, crfs[o], size) for o in paired}
    plans = []
    f = 0
    for o, (actors, item) in enumerate(originals):
        fakes = []
        for donor in donors[o]:
            crf, preset = settings[f]
            fakes.append(FakePlan(names[n_orig + f], method_of[f], donor, f, crf, preset, f in differs, scales[f]))
            f += 1
        plans.append(
            OriginalPlan(
                names[o],
                part_of[o],
                actors,
                item,
                o in portrait,
                o,
                tuple(fakes),
                repeats[o],
                crfs[o],
                presets[o],
                pair_of.get(o),
            )
        )
    return plans


def _methods(
    rng: np.random.Generator, size: SampleSizeParams, order: list[int], fake_owner: list[int], faces_of: list[int]
) -> list[str]:
    """The method of every fake: counts apportioned from ``size.methods``, dealt evenly
    along ``order`` (fakes by donor group); ``no_change`` only on fakes of single-face
    originals."""
    shares = {m: float(getattr(size.methods, m)) for m in FAKE_METHODS}
    counts = apportion(shares, len(fake_owner))
    single = [f for f in order if faces_of[fake_owner[f]] == 1]
    unchanged = set(_evenly(single, counts["no_change"], float(rng.uniform())))
    # when too few single-face fakes exist, the rest of no_change's count goes to classical
    counts["classical"] += counts["no_change"] - len(unchanged)
    deck = _interleaved({m: counts[m] for m in FAKE_METHODS if m != "no_change"})
    shift = int(rng.integers(len(deck))) if deck else 0
    deck = deck[shift:] + deck[:shift]
    method_of = ["no_change"] * len(fake_owner)
    for f, method in zip([f for f in order if f not in unchanged], deck, strict=True):
        method_of[f] = method
    return method_of
