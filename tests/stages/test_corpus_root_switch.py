"""Switching ``corpus.root`` to a folder that is not there, and back, in a real git + DVC
repo (ci profile): the sample stage, the first to read the root, stops with its own one
line before DVC hashes the ingest stages' part folders, and setting the root back costs
no regeneration: the failed run updated no dvc.lock entry, so DVC finds the sample
stage unchanged and checks the generated corpus out of its cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_utils import FACES_CACHE, init_repo, run, set_params


@pytest.mark.slow
@pytest.mark.skipif(not FACES_CACHE.exists(), reason="needs the face sources (make setup)")
def test_a_wrong_corpus_root_stops_at_the_sample_stage_and_switching_back_keeps_the_sample(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    run(["dvc", "repro", "sample"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "sample"], repo)
    truth = (repo / "data/sample/ground_truth.parquet").read_bytes()

    nope = tmp_path / "nope"
    failed = run(["dvc", "exp", "run", "-S", f"corpus.root={nope}"], repo, check=False)
    said = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"sample: error: corpus.root: {nope}: no such folder" in said, said
    assert "Errno 2" not in said and "ingest" not in said, said  # DVC never reached the part folders

    set_params(repo, {"corpus.root": "data/sample/corpus"})
    back = run(["dvc", "repro", "sample"], repo)
    assert "Running stage 'sample'" not in back.stdout, back.stdout
    assert (repo / "data/sample/ground_truth.parquet").read_bytes() == truth
    assert not (repo / "data/sample/NOT_GENERATED.md").exists()
    assert run(["dvc", "status", "sample"], repo).stdout.strip().endswith("up to date.")
