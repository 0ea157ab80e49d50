"""Identity clustering of ORIGINAL face tracks from their mean embeddings.

The split stage (`dfmask.splits`) clusters originals into identities so that no person
appears in two splits; the embeddings come from `dfmask.identity.embed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Tracks:
    """Mean embeddings of face tracks, one row per (video, track), sorted by key.

    Attributes:
        keys: (part, video_id, track_id) per track.
        is_fake / original_id: the video's label and link.
        rows: face rows of the track in the faces table (its length).
        vectors: (n, dim) mean of the track's ``ok`` embeddings.
    """

    keys: list[tuple[int, str, int]]
    is_fake: list[bool]
    original_id: list[str | None]
    rows: list[int]
    vectors: np.ndarray

    def select(self, mask: Sequence[bool]) -> Tracks:
        idx = [i for i, m in enumerate(mask) if m]
        return Tracks(
            [self.keys[i] for i in idx],
            [self.is_fake[i] for i in idx],
            [self.original_id[i] for i in idx],
            [self.rows[i] for i in idx],
            self.vectors[idx] if idx else self.vectors[:0],
        )


def track_means(embeddings: pa.Table) -> Tracks:
    """Average the ``ok`` embeddings of each (video, track) of an embeddings table."""
    cols = embeddings.filter(pc.equal(embeddings["status"], "ok")).to_pydict()
    groups: dict[tuple[int, str, int], list[int]] = {}
    for i, key in enumerate(zip(cols["part"], cols["video_id"], cols["track_id"], strict=True)):
        groups.setdefault(key, []).append(i)
    keys = sorted(groups, key=lambda k: (k[1], k[2], k[0]))
    dim = len(cols["embedding"][0]) if cols["embedding"] else 0
    vectors = np.zeros((len(keys), dim), np.float64)
    for n, key in enumerate(keys):
        vectors[n] = np.mean([cols["embedding"][i] for i in groups[key]], axis=0)
    first = [groups[k][0] for k in keys]
    return Tracks(
        keys=keys,
        is_fake=[bool(cols["is_fake"][i]) for i in first],
        original_id=[cols["original_id"][i] for i in first],
        rows=[int(cols["track_rows"][i]) for i in first],
        vectors=vectors,
    )


def cluster_identities(vectors: np.ndarray, threshold: float, linkage: str = "average") -> np.ndarray:
    """Agglomerative clustering (euclidean) cut at ``threshold``; labels (n,) int.

    Labels are renumbered by first appearance, so the same input order gives the same
    labels whatever scikit-learn's internal numbering.
    """
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    raw = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, linkage=linkage, metric="euclidean"
    ).fit_predict(np.asarray(vectors, np.float64))
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(lab), len(order)) for lab in raw], np.int64)
