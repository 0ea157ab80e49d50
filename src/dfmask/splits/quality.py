"""How good are the identities and the split? Measured against the sample's ground truth.

The pipeline never reads ``data/sample/ground_truth.parquet``; this module does, for
tests and ``reports/split_quality.json``. It measures

* identity leaks against TRUE actor ids: an actor whose face appears (as target or as
  donor) in two splits is a leak; target-only leaks are counted separately;
* cluster quality of the original videos' identities against their true actor:
  purity (each cluster's majority actor), inverse purity, homogeneity, completeness,
  V-measure, pairwise precision/recall, and cluster vs actor counts; one giant cluster
  scores purity ~1/actors, so merging everyone cannot pass;
* achieved split shares, and per split its classes, groups and identities;
* whether every original of a named actor (default ``obama``, who arrives from two
  packages) carries one identity.

Run: ``dfmask quality splits`` (writes ``reports/split_quality.json``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dfmask.splits.assign import SPLIT_NAMES
from dfmask.tables import write_json


def cluster_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Purity-style and information-theoretic scores of a clustering vs true labels."""
    from sklearn.metrics import (
        completeness_score,
        homogeneity_score,
        pair_confusion_matrix,
        v_measure_score,
    )

    n = len(truth)
    if n == 0:
        return {"items": 0}
    by_cluster: dict[str, Counter[str]] = defaultdict(Counter)
    by_actor: dict[str, Counter[str]] = defaultdict(Counter)
    for t, p in zip(truth, predicted, strict=True):
        by_cluster[p][t] += 1
        by_actor[t][p] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_cluster.values()) / n
    inverse_purity = sum(c.most_common(1)[0][1] for c in by_actor.values()) / n
    (_tn, fp), (fn, tp) = pair_confusion_matrix(list(truth), list(predicted))
    return {
        "items": n,
        "actors": len(by_actor),
        "clusters": len(by_cluster),
        "purity": round(purity, 4),
        "inverse_purity": round(inverse_purity, 4),
        "homogeneity": round(float(homogeneity_score(truth, predicted)), 4),
        "completeness": round(float(completeness_score(truth, predicted)), 4),
        "v_measure": round(float(v_measure_score(truth, predicted)), 4),
        "pair_precision": round(float(tp / (tp + fp)) if tp + fp else 1.0, 4),
        "pair_recall": round(float(tp / (tp + fn)) if tp + fn else 1.0, 4),
        "split_actors": sorted(a for a, c in by_actor.items() if len(c) > 1),
        "mixed_clusters": sorted(p for p, c in by_cluster.items() if len(c) > 1),
    }


def split_quality(splits: pd.DataFrame, truth: pd.DataFrame, actor: str = "obama") -> dict[str, Any]:
    """Quality of a splits table (one row per video) against per-video truth.

    Args:
        splits: the splits table (video_id, is_fake, group_id, identity_id, split).
        truth: one row per video with ``actor_ids`` and ``donor_actor_ids`` tuples and
            ``source`` (`dfmask.corpus.groundtruth.videos`).
        actor: an actor whose originals must share one identity.
    """
    actors: dict[str, tuple[str, ...]] = {
        str(v): tuple(a) for v, a in zip(truth["video_id"], truth["actor_ids"], strict=True)
    }
    donors: dict[str, tuple[str, ...]] = {
        str(v): tuple(a) for v, a in zip(truth["video_id"], truth["donor_actor_ids"], strict=True)
    }
    source = {str(v): str(s) for v, s in zip(truth["video_id"], truth["source"], strict=True)}
    rows = splits[splits.video_id.isin(list(actors))]
    split_of = dict(zip(rows.video_id, rows.split, strict=True))
    target_splits: dict[str, set[str]] = defaultdict(set)
    any_splits: dict[str, set[str]] = defaultdict(set)
    for vid, s in split_of.items():
        for a in actors[vid]:
            target_splits[a].add(s)
            any_splits[a].add(s)
        for a in donors[vid]:
            any_splits[a].add(s)
    target_leaks = sorted(a for a, s in target_splits.items() if len(s) > 1)
    all_leaks = sorted(a for a, s in any_splits.items() if len(s) > 1)

    originals = rows[~rows.is_fake.astype(bool) & rows.identity_id.notna()]
    single = [v for v in originals.video_id if len(actors[v]) == 1]
    ident = dict(zip(originals.video_id, originals.identity_id, strict=True))
    scores = cluster_scores([actors[v][0] for v in single], [ident[v] for v in single])

    per_split = {}
    for s in SPLIT_NAMES:
        part = rows[rows.split == s]
        per_split[s] = {
            "videos": len(part),
            "share": round(len(part) / max(len(rows), 1), 4),
            "real": int((~part.is_fake.astype(bool)).sum()),
            "fake": int(part.is_fake.astype(bool).sum()),
            "groups": int(part.group_id.nunique()),
            "identities": int(part.identity_id.dropna().nunique()),
            "true_actors": len({a for v in part.video_id for a in actors[v]}),
        }
    named = [v for v in single if actors[v][0] == actor]
    named_ids = sorted({ident[v] for v in named})
    sources = sorted({source[v].split("/")[0] for v in named})
    return {
        "videos": len(rows),
        "videos_without_truth": int((~splits.video_id.isin(list(actors))).sum()),
        "leaks": {
            "actors_in_two_splits": len(all_leaks),
            "actors_in_two_splits_as_target": len(target_leaks),
            "leaking_actors": all_leaks,
        },
        "clusters": scores,
        "splits": per_split,
        "every_split_has_both_classes": all(p["real"] > 0 and p["fake"] > 0 for p in per_split.values()),
        "min_groups_in_a_split": min(p["groups"] for p in per_split.values()),
        "min_identities_in_a_split": min(p["identities"] for p in per_split.values()),
        "named_actor": {
            "actor": actor,
            "originals": len(named),
            "source_packages": sources,
            "identities": named_ids,
            "one_identity": len(named_ids) == 1,
        },
    }


def run_quality(
    splits_path: str | Path, truth_path: str | Path, out: str | Path, actor: str = "obama"
) -> dict[str, Any]:
    """Read the splits table and the sample's ground truth; write the quality report."""
    from dfmask.corpus.groundtruth import load_ground_truth, videos
    from dfmask.schemas.splits import read_splits

    splits = read_splits(splits_path).to_pandas()
    doc = split_quality(splits, videos(load_ground_truth(truth_path)), actor)
    write_json(out, doc)
    return doc


def describe(doc: dict[str, Any], out: str | Path) -> str:
    """One line of the quality report ``doc`` (written to ``out``): leaks, identities, the named actor."""
    c = doc["clusters"]
    ids = doc["named_actor"]["identities"]
    return (
        f"{doc['leaks']['actors_in_two_splits']} actor leaks (target or donor); "
        f"{c.get('clusters')} identities for {c.get('actors')} actors, purity {c.get('purity')}, "
        f"inverse purity {c.get('inverse_purity')}; {doc['named_actor']['actor']} in "
        f"{len(ids)} identit{'y' if len(ids) == 1 else 'ies'} (see {out})"
    )
