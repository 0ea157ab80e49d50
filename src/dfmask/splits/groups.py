"""Identities, donor matches and groups: who may not be separated from whom.

Identities are agglomerative clusters of ORIGINAL face tracks (`dfmask.identity.cluster`). A
fake track's mean embedding is matched to the nearest identity centroid: that is the
donor whose face the fake shows. Groups are the connected components (union-find) of
fake → original links and video → identity links (target identities, plus donor
identities with ``split.donor_aware``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.identity.cluster import Tracks, cluster_identities

# ============================================================================ identities


@dataclass(frozen=True)
class Identities:
    """Identity clusters of ORIGINAL tracks.

    Attributes:
        track_identity: (video_id, track_id) → identity_id.
        centroids: identity_id → mean of its tracks' embeddings.
    """

    track_identity: dict[tuple[str, int], str]
    centroids: dict[str, np.ndarray]


def build_identities(originals: Tracks, threshold: float, linkage: str) -> Identities:
    """Cluster original tracks; an identity is named after its smallest (video, track)."""
    labels = cluster_identities(originals.vectors, threshold, linkage)
    members: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        members[int(label)].append(i)
    track_identity: dict[tuple[str, int], str] = {}
    centroids: dict[str, np.ndarray] = {}
    for idx in members.values():
        keys = sorted((originals.keys[i][1], originals.keys[i][2]) for i in idx)
        identity = f"id-{keys[0][0]}-t{keys[0][1]}"
        centroids[identity] = originals.vectors[idx].mean(axis=0)
        for key in keys:
            track_identity[key] = identity
    return Identities(track_identity, centroids)


@dataclass(frozen=True)
class DonorMatch:
    """Which identity a fake track's face moved towards: its donor.

    A swap moves the embedding from the target's face towards the donor's. Fakes are
    pixel-aligned with their original, so the shift ``fake - original`` of one track's
    mean embedding isolates the swap's effect; the donor is the identity whose
    direction from the original (``centroid - original``) best matches the shift
    (highest cosine, both taken orthogonal to the direction from the original to the
    centre of all identities, which every "away from the target" move shares).
    Distances to centroids alone do not work: a blended swap keeps the target's head
    and context and usually stays nearest to the target.

    ``status``: ``donor`` (shift >= ``split.donor_min_shift`` and best cosine >=
    ``split.donor_min_cosine``); ``unchanged`` (the face barely moved: a failed swap or
    an untouched face); ``unmatched`` (it moved, but towards no known identity: a
    mouth-only swap, or a donor without originals here); ``no_original_track`` (the
    original's track has no embedding to compare with); ``no_identities``.
    """

    video_id: str
    track_id: int
    identity_id: str | None  # best-matching identity (also kept when not accepted)
    shift: float | None  # |fake - original| of the track's mean embeddings
    cosine: float | None  # cosine(shift, centroid - original) of identity_id
    distance: float | None  # |fake - centroid of identity_id|, embedding units
    status: str


def match_donors(
    fakes: Tracks, originals: Tracks, ids: Identities, min_cosine: float, min_shift: float
) -> list[DonorMatch]:
    """Match each fake track to the identity its embedding moved towards (see `DonorMatch`)."""
    names = sorted(ids.centroids)
    if not names:
        return [DonorMatch(k[1], k[2], None, None, None, None, "no_identities") for k in fakes.keys]
    centroids = np.stack([ids.centroids[n] for n in names])
    original_vec = {(k[1], k[2]): v for k, v in zip(originals.keys, originals.vectors, strict=True)}
    out = []
    for (_, video_id, track_id), original, vec in zip(fakes.keys, fakes.original_id, fakes.vectors, strict=True):
        base = original_vec.get((original or "", track_id))
        target = ids.track_identity.get((original or "", track_id))
        if base is None:
            out.append(DonorMatch(video_id, track_id, None, None, None, None, "no_original_track"))
            continue
        shift = vec - base
        size = float(np.linalg.norm(shift))
        # Every direction away from the target shares the component towards the centre
        # of face space, so any face change looks a bit like every other identity;
        # compare only the components orthogonal to it.
        centre = centroids.mean(axis=0) - base
        u = centre / max(float(np.linalg.norm(centre)), 1e-12)
        shift_o = shift - (shift @ u) * u
        directions = centroids - base
        directions = directions - np.outer(directions @ u, u)
        norms = np.linalg.norm(directions, axis=1) * max(float(np.linalg.norm(shift_o)), 1e-12)
        cosines = (directions @ shift_o) / np.maximum(norms, 1e-12)
        cosines[[n == target for n in names]] = -np.inf  # the donor is someone else
        j = int(np.argmax(cosines))
        best, cos = (names[j], float(cosines[j])) if np.isfinite(cosines[j]) else (None, None)
        if size < min_shift:
            status = "unchanged"
        elif best is None or cos is None or cos < min_cosine:
            status = "unmatched"
        else:
            status = "donor"
        dist = float(np.linalg.norm(vec - centroids[j])) if best is not None else None
        out.append(DonorMatch(video_id, track_id, best, size, cos, dist, status))
    return out


# ============================================================================ groups


class UnionFind:
    """Disjoint sets of string nodes; a set's root is its smallest node (deterministic)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, node: str) -> None:
        self.parent.setdefault(node, node)

    def find(self, node: str) -> str:
        self.add(node)
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


@dataclass(frozen=True)
class Video:
    part: int
    video_id: str
    original_id: str | None
    is_fake: bool


def group_videos(videos: Sequence[Video], links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """video_id → group_id over fake→original and (video, identity) ``links``.

    ``links`` are (video_id, identity_id) pairs. A group is named ``g-<key>``, its key
    being the smallest video_id among its members present in ``videos``.
    """
    uf = UnionFind()
    present = {v.video_id for v in videos}
    for v in videos:
        uf.add("v:" + v.video_id)
        if v.is_fake and v.original_id:
            uf.union("v:" + v.video_id, "v:" + v.original_id)
    for video_id, identity in links:
        uf.union("v:" + video_id, "i:" + identity)
    key: dict[str, str] = {}
    for vid in sorted(present):
        key.setdefault(uf.find("v:" + vid), vid)
    return {vid: "g-" + key[uf.find("v:" + vid)] for vid in present}


def check_unique_names(videos: Sequence[Video], sources: dict[int, str] | None = None) -> None:
    """Video names must be unique across parts (DFDC's are); else a clear error."""
    first: dict[str, int] = {}
    for v in videos:
        if v.video_id in first and first[v.video_id] != v.part:
            a, b = sorted((first[v.video_id], v.part))
            where = ""
            if sources:
                where = f" ({sources.get(a, '?')} and {sources.get(b, '?')})"
            raise DfmaskError(
                f"video name '{v.video_id}' appears in part {a} and part {b}{where}; names "
                "must be unique across the corpus: rename or remove one copy, or drop a part "
                "from corpus.parts"
            )
        first.setdefault(v.video_id, v.part)
