"""The release checks that need no DVC remote: version/tag names, remote kinds, git state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dfmask.errors import DfmaskError
from dfmask.release.publish import (
    check_artifact,
    check_commit_unreleased,
    check_dvc_clean,
    check_git_clean,
    check_remote,
    git_remote,
    is_local_url,
    register_version,
    tag_name,
)


def test_tag_name_is_gto_artifact_version() -> None:
    assert tag_name("masks", "1.2.0") == "masks@v1.2.0"
    assert tag_name("masks", "v0.1.10") == "masks@v0.1.10"
    for bad in ("1.2", "1.2.0-rc1", "", "latest", "v1..2", "01.2.3", "1.02.3", "v1.2.00"):
        with pytest.raises(DfmaskError, match="not X.Y.Z"):
            tag_name("masks", bad)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("/srv/dvc-remote", True),
        ("../dfmask-remote", True),
        (".dvc/remote", True),
        ("file:///srv/dvc", True),
        ("C:\\dvc\\remote", True),
        ("s3://bucket/dfmask", False),
        ("ssh://host/srv/dfmask", False),
        ("https://example.org/dfmask", False),
        ("gs://bucket/x", False),
        ("azure://container/x", False),
    ],
)
def test_local_remotes_are_recognised(url: str, local: bool) -> None:
    assert is_local_url(url) is local


def test_local_remote_is_refused_unless_allowed() -> None:
    with pytest.raises(DfmaskError, match=r"(?s)local path.*dvc remote add -d storage s3://.*ALLOW_LOCAL_REMOTE=1"):
        check_remote("store", "../dfmask-remote", allow_local=False)
    assert "relative path" in check_remote("store", "../dfmask-remote", allow_local=True)
    assert check_remote("store", "/srv/dvc-remote", allow_local=True) is None
    assert check_remote("store", "s3://bucket/x", allow_local=False) is None


def _git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_git_clean_check_sees_untracked_modified_and_no_commit(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(DfmaskError, match="no commit"):
        check_git_clean(tmp_path)
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "a")
    head = check_git_clean(tmp_path)
    assert len(head) == 40
    (tmp_path / "new.txt").write_text("n")
    with pytest.raises(DfmaskError, match=r"not clean \(1 change\(s\): \?\? new.txt\)"):
        check_git_clean(tmp_path)
    (tmp_path / "new.txt").unlink()
    (tmp_path / "a.txt").write_text("changed")
    with pytest.raises(DfmaskError, match="M a.txt"):
        check_git_clean(tmp_path)
    assert git_remote(tmp_path) is None
    _git(tmp_path, "remote", "add", "upstream", "/nowhere")
    assert git_remote(tmp_path) == "upstream"
    _git(tmp_path, "remote", "add", "origin", "/nowhere2")
    assert git_remote(tmp_path) == "origin"


def test_artifact_must_be_declared_at_data_release(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    with pytest.raises(DfmaskError, match="no artifact 'masks'"):
        check_artifact(tmp_path, "masks")
    (tmp_path / "dvc.yaml").write_text("artifacts:\n  masks:\n    path: data/other\n")
    with pytest.raises(DfmaskError, match="no artifact 'masks' with path data/release"):
        check_artifact(tmp_path, "masks")
    (tmp_path / "dvc.yaml").write_text("artifacts:\n  masks:\n    path: data/release\n    type: dataset\n")
    check_artifact(tmp_path, "masks")
    check_artifact(Path(__file__).resolve().parents[2], "masks")  # the project's own dvc.yaml
    for text in ("artifacts:\n", "artifacts: data/release\n", "artifacts:\n  - masks\n", "artifacts:\n  masks: x\n"):
        (tmp_path / "dvc.yaml").write_text(text)
        with pytest.raises(DfmaskError, match="no artifact 'masks'"):  # one line, not an AttributeError
            check_artifact(tmp_path, "masks")
    (tmp_path / "dvc.yaml").write_text("artifacts: [\n")
    with pytest.raises(DfmaskError, match=r"dvc\.yaml: not valid YAML"):
        check_artifact(tmp_path, "masks")


@pytest.mark.parametrize(("text", "match"), [("stages: [\n", "not valid YAML"), ("- a\n- b\n", "expected a mapping")])
def test_a_broken_dvc_lock_is_one_line(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "dvc.lock").write_text(text)
    with pytest.raises(DfmaskError, match=f"dvc.lock: {match}") as err:
        check_dvc_clean(tmp_path)
    assert "\n" not in str(err.value)


def test_gto_registers_the_tag_dvc_artifacts_get_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """publish tags through GTO: the annotated ``masks@vX.Y.Z`` that DVC's artifact lookup
    (GTO's ``gto.tag.find``, as ``dvc artifacts get`` calls it) finds; a second
    registration of the version is refused with one line."""
    from gto.tag import find
    from scmrepo.git import Git

    for key, value in {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@e")
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "dvc.yaml").write_text("artifacts:\n  masks:\n    path: data/release\n    type: dataset\n")
    _git(tmp_path, "add", "dvc.yaml")
    _git(tmp_path, "commit", "-qm", "a")
    head = check_git_clean(tmp_path)
    tag = tag_name("masks", "1.0.0")
    register_version(tmp_path, "masks", tag, head)
    shown = subprocess.run(
        ["git", "for-each-ref", "--format=%(objecttype) %(*objectname) %(contents:subject)", f"refs/tags/{tag}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == f"tag {head} Registering artifact masks version v1.0.0"  # annotated, on HEAD
    with Git(tmp_path) as scm:
        assert [t.name for t in find(name="masks", version="v1.0.0", scm=scm)] == [tag]
    with pytest.raises(DfmaskError, match=r"^gto register masks .* --version v1\.0\.0 failed: "):
        register_version(tmp_path, "masks", tag, head)
    # a second version of the same commit: refused by the checks, before anything is pushed
    with pytest.raises(DfmaskError, match=r"masks is already released at .* as v1\.0\.0: GTO allows one"):
        check_commit_unreleased(tmp_path, "masks", head)
    check_commit_unreleased(tmp_path, "other", head)  # another artifact, or none yet: fine
    from gto.api import deregister

    deregister(tmp_path, "masks", version="v1.0.0")  # GTO still holds the commit for v1.0.0
    with pytest.raises(DfmaskError, match=r"masks is already released at .* as v1\.0\.0"):
        check_commit_unreleased(tmp_path, "masks", head)
