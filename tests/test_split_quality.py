"""Split quality against ground truth: the metrics themselves (fast), and the real
pipeline on the ci sample corpus (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from repo_utils import run

from dfmask.splits.quality import cluster_scores, split_quality


def test_cluster_scores_do_not_reward_one_giant_cluster() -> None:
    truth = ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    perfect = cluster_scores(truth, [t.upper() for t in truth])
    assert perfect["purity"] == perfect["inverse_purity"] == perfect["v_measure"] == 1.0
    merged = cluster_scores(truth, ["x"] * 12)
    assert merged["purity"] == pytest.approx(1 / 3, abs=1e-3) and merged["clusters"] == 1
    assert merged["homogeneity"] == 0.0 and merged["pair_recall"] == 1.0
    shattered = cluster_scores(truth, [str(i) for i in range(12)])
    assert shattered["purity"] == 1.0 and shattered["inverse_purity"] == pytest.approx(0.25)
    assert shattered["split_actors"] == ["a", "b", "c"]


def _truth(rows: list[tuple[str, bool, tuple[str, ...], tuple[str, ...], str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["video_id", "is_fake", "actor_ids", "donor_actor_ids", "source"])


def test_split_quality_counts_donor_leaks() -> None:
    truth = _truth(
        [
            ("o1", False, ("ann",), (), "pkg1/ann.jpg"),
            ("o2", False, ("bob",), (), "pkg2/bob.jpg"),
            ("f1", True, ("ann",), ("bob",), "pkg1/ann.jpg"),
            ("o3", False, ("ann",), (), "pkg3/ann2.jpg"),
        ]
    )
    splits = pd.DataFrame(
        {
            "video_id": ["o1", "o2", "f1", "o3"],
            "is_fake": [False, False, True, False],
            "group_id": ["g1", "g2", "g1", "g1"],
            "identity_id": ["i1", "i2", "i1", "i1"],
            "split": ["train", "test", "train", "train"],
        }
    )
    doc = split_quality(splits, truth, actor="ann")
    # bob is target in test and donor (in f1) in train: a donor leak, not a target leak
    assert doc["leaks"]["actors_in_two_splits"] == 1
    assert doc["leaks"]["actors_in_two_splits_as_target"] == 0
    assert doc["leaks"]["leaking_actors"] == ["bob"]
    assert doc["named_actor"] == {
        "actor": "ann",
        "originals": 2,
        "source_packages": ["pkg1", "pkg3"],
        "identities": ["i1"],
        "one_identity": True,
    }
    assert doc["clusters"]["purity"] == 1.0 and doc["clusters"]["clusters"] == 2
    assert not doc["every_split_has_both_classes"]


@pytest.mark.slow
def test_split_quality_on_ci_corpus(pipeline_repo: Path) -> None:
    """The real pipeline (MTCNN → dlib embeddings → clusters → split) on the ci sample:
    no TRUE actor (target or donor) in two splits, near-pure identities about as many
    as actors, Obama from two packages in one identity, both classes in every split."""
    out = pipeline_repo / "reports" / "split_quality_test.json"
    run(
        [
            "python",
            "-m",
            "dfmask",
            "quality",
            "splits",
            "--splits",
            "data/interim/splits.parquet",
            "--ground-truth",
            "data/sample/ground_truth.parquet",
            "--out",
            str(out),
        ],
        pipeline_repo,
    )
    doc = json.loads(out.read_text())
    assert doc["leaks"]["actors_in_two_splits"] == 0, doc["leaks"]
    c = doc["clusters"]
    assert c["purity"] >= 0.9, c
    assert abs(c["clusters"] - c["actors"]) <= max(1, c["actors"] // 4), c
    assert doc["named_actor"]["one_identity"], doc["named_actor"]
    assert len(doc["named_actor"]["source_packages"]) == 2, doc["named_actor"]
    assert doc["every_split_has_both_classes"]
    assert doc["min_identities_in_a_split"] >= 2
    report = json.loads((pipeline_repo / "reports" / "split.json").read_text())
    assert report["audit"]["ok"] and report["audit"]["leaks"] == 0
