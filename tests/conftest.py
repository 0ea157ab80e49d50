"""Shared fixtures.

`pipeline_repo` builds ONE real git + DVC repository per test session in a temp dir,
with the repo's dvc.yaml, params.yaml (switched to the tiny ``ci`` sample profile),
stages/ and src/, and runs the real `dvc repro` in it. Tests that need a pipeline copy
it with `repo_utils.copy_repo` instead of rebuilding it, which keeps the suite fast as
stages are added.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_utils import init_repo, run


@pytest.fixture(scope="session")
def pipeline_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git+DVC repo on which the full `dvc repro` already ran (ci corpus). Read-only:
    tests that change it must `copy_repo` it first."""
    repo = init_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "repro"], repo)
    return repo
