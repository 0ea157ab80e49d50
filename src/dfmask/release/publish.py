"""``make release VERSION=x.y.z`` (``dfmask release publish``): check, push the data, tag, push the tag.

Steps, each refusing with a `DfmaskError` that says what to do:

1. ``VERSION`` is ``X.Y.Z`` without leading zeros (a leading ``v`` is accepted); the tag
   ``<artifact>@vX.Y.Z`` (GTO's artifact-version format, which ``dvc artifacts get``
   understands) exists neither locally nor on the git remote: a released version is
   immutable; and HEAD carries no registered version of the artifact yet (GTO allows one
   per commit).
2. The git workspace is clean (no modified, staged or untracked files), so the tag names
   exactly what was built.
3. ``dvc status`` is clean and ``dvc.lock`` records the ``release`` stage, so the tagged
   commit's lock points at the data that is in the cache.
4. A default DVC remote is configured. A local-path remote is reachable only from this
   machine, so it is refused unless ``ALLOW_LOCAL_REMOTE=1`` (or
   ``--allow-local-remote``): the message explains how to set a shared remote.
5. ``dvc push release``: only the release stage's outputs (``data/release``), which is all
   that ``dvc get``/``import`` of the artifact needs. Pushing everything (``--all``, or
   ``PUSH_ALL=1`` in make) would also upload the intermediate face crops; that is wrong for
   a pixel-free release on a remote shared wider than the corpus terms allow.
6. GTO registers the version: ``gto register <artifact> <HEAD> --version vX.Y.Z`` creates
   the annotated tag ``<artifact>@vX.Y.Z`` that `dvc artifacts get` resolves (DVC finds
   artifact tags with GTO's own ``gto.tag.find``), then ``git push <remote> <tag>`` when
   the repo has a git remote (``origin``, or its only remote); otherwise it says the tag
   is local only.

The data goes first and the tag after: a failed push leaves no tag pointing at data that
nobody can pull. GTO does the tagging only: the checks above (a tag already on the git
remote, a clean workspace and ``dvc status``, a shared DVC remote) and ``dvc push`` are
not GTO's, and must all pass before a tag exists; GTO's own ``--push`` knows only
``origin``. docs/release.md, "Tags: GTO".
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

from dfmask.errors import DfmaskError
from dfmask.params import ReleaseParams, load_section

#: Semantic versioning's X.Y.Z: no leading zeros (GTO, which makes the tag, refuses them).
_VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")

SHARED_REMOTE_HELP = """\
Set a shared remote first (then commit .dvc/config), for example:
  dvc remote add -d storage s3://<bucket>/dfmask        # pip install 'dvc[s3]'
  dvc remote add -d storage ssh://<host>/srv/dfmask     # pip install 'dvc[ssh]'
  dvc remote add -d storage https://<host>/dfmask       # read-only HTTP mirror (dvc-http)
Keep credentials out of git with --local, e.g.
  dvc remote modify --local storage access_key_id <id>
  dvc remote modify --local storage secret_access_key <secret>
Or release to the local remote anyway (same-machine use, tests):
  make release VERSION=<x.y.z> ALLOW_LOCAL_REMOTE=1"""


@dataclass(frozen=True)
class PublishResult:
    tag: str  # e.g. masks@v1.2.0
    commit: str  # the tagged commit
    dvc_remote: str  # name of the DVC remote pushed to
    dvc_url: str  # its URL
    git_remote: str | None  # git remote the tag was pushed to, or None (local tag only)
    note: str | None = None  # a caveat to print (relative local remote)


def tag_name(artifact: str, version: str) -> str:
    """``masks`` + ``1.2.0`` (or ``v1.2.0``) → ``masks@v1.2.0``."""
    match = _VERSION.match(version.strip())
    if not match:
        raise DfmaskError(f"VERSION={version!r} is not X.Y.Z without leading zeros (e.g. make release VERSION=1.0.0)")
    return f"{artifact}@v{'.'.join(match.groups())}"


def is_local_url(url: str) -> bool:
    """True for a plain path or ``file://`` URL: a remote only this machine can reach."""
    scheme = urlparse(url).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))  # C:\...


def _run(args: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise DfmaskError(f"{what} failed ({' '.join(args[:4])}...): {' / '.join(detail[-3:])}")
    return proc.stdout


def _git(repo: Path, *args: str, what: str = "git") -> str:
    return _run(["git", *args], repo, what)


def _dvc(repo: Path, *args: str, what: str = "dvc") -> str:
    return _run([sys.executable, "-m", "dvc", *args], repo, what)


def check_git_clean(repo: Path) -> str:
    """HEAD's commit hash; raise if the workspace has any change or untracked file."""
    _git(repo, "rev-parse", "--show-toplevel", what=f"{repo}: not a git repository; git")
    head = _git(repo, "rev-parse", "--verify", "HEAD", what="the repo has no commit yet; git").strip()
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=normal").splitlines()
    if dirty:
        shown = "; ".join(line.strip() for line in dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise DfmaskError(
            f"git workspace is not clean ({len(dirty)} change(s): {shown}); commit (or remove) them "
            "so that the tag names exactly what was built"
        )
    return head


def _yaml_mapping(path: Path) -> dict[str, object]:
    """A YAML file that must hold a mapping ({} when absent); one line naming it otherwise."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DfmaskError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: expected a mapping at the top, got {type(doc).__name__}")
    return doc


def check_dvc_clean(repo: Path, stage: str = "release") -> None:
    """Raise unless ``dvc status`` is clean and dvc.lock records ``stage``."""
    lock = repo / "dvc.lock"
    stages = _yaml_mapping(lock).get("stages") or {}
    if not isinstance(stages, dict) or stage not in stages:
        raise DfmaskError(f"{lock}: no '{stage}' stage recorded; run `dvc repro {stage}` and commit dvc.lock")
    status = json.loads(_dvc(repo, "status", "--json", what="dvc status") or "{}")
    if status:
        names = ", ".join(sorted(status)[:5]) + (" ..." if len(status) > 5 else "")
        raise DfmaskError(
            f"dvc status is not clean ({len(status)} stage(s)/file(s) changed: {names}); run "
            "`dvc repro` (or `dvc checkout`) and commit dvc.lock before releasing"
        )


def default_remote(repo: Path) -> tuple[str, str]:
    """(name, url) of the default DVC remote, with --local overrides applied."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "default"], cwd=repo, capture_output=True, text=True, check=False
    )
    name = proc.stdout.strip()
    if proc.returncode != 0 or not name:
        raise DfmaskError("no default DVC remote is configured; nothing to push to.\n" + SHARED_REMOTE_HELP)
    url = _dvc(repo, "config", f"remote.{name}.url", what=f"reading the URL of DVC remote '{name}'").strip()
    return name, url


def check_remote(name: str, url: str, allow_local: bool) -> str | None:
    """Refuse a local-path remote unless allowed; return a caveat for a relative one.

    DVC resolves a relative remote path against the ``.dvc/`` folder of the repo it reads.
    `dvc get`/`import` from a *working copy* path (``dvc get /work/main ...``) fixes that
    up, but from a git URL (bare repo, GitHub, ...) DVC reads a fresh clone, where the
    relative path points nowhere. Verified in tests/release/test_release_e2e.py's setup.
    """
    if is_local_url(url) and not allow_local:
        raise DfmaskError(
            f"DVC remote '{name}' is a local path ({url}): only this machine can pull from it, so "
            "researchers' `dvc get`/`dvc import` from elsewhere would fail.\n" + SHARED_REMOTE_HELP
        )
    path = url[len("file://") :] if url.startswith("file://") else url
    if is_local_url(url) and not Path(path).is_absolute():
        return (
            f"note: DVC remote '{name}' has a relative path ({url}); `dvc get` through a git URL "
            f"cannot resolve it, only `dvc get <this working copy's path> ...` can. Use an absolute "
            f"path (dvc remote modify {name} url /abs/path) if others pull through git."
        )
    return None


def git_remote(repo: Path) -> str | None:
    """``origin`` if present, else the repo's only git remote, else None."""
    remotes = _git(repo, "remote").split()
    if "origin" in remotes:
        return "origin"
    return remotes[0] if len(remotes) == 1 else None


def check_artifact(repo: Path, artifact: str) -> None:
    """Raise unless dvc.yaml declares ``artifact`` (release.artifact) at ``data/release``."""
    artifacts = _yaml_mapping(repo / "dvc.yaml").get("artifacts") or {}
    entry = artifacts.get(artifact) if isinstance(artifacts, dict) else None
    if not isinstance(entry, dict) or str(entry.get("path", "")).rstrip("/") != "data/release":
        raise DfmaskError(
            f"{repo / 'dvc.yaml'}: no artifact '{artifact}' with path data/release (params: "
            "release.artifact); declare it under `artifacts:` so the tag resolves with dvc artifacts get"
        )


def check_commit_unreleased(repo: Path, artifact: str, commit: str) -> None:
    """Raise when GTO already has a registered version of ``artifact`` at ``commit``: it
    allows one per commit and would refuse the tag only after the data was pushed."""
    from gto.api import show
    from gto.exceptions import GTOException

    try:
        versions = show(repo, artifact, deprecated=True)  # a deregistered version still holds its commit
    except GTOException:  # no version of this artifact yet
        return
    taken = [str(v["version"]) for v in versions if str(v.get("commit_hexsha", "")) == commit]
    if taken:
        raise DfmaskError(
            f"{artifact} is already released at {commit[:12]} as {', '.join(taken)}: GTO allows one version "
            "per commit; release a new commit"
        )


def register_version(repo: Path, artifact: str, tag: str, commit: str) -> None:
    """Tag ``commit`` as ``tag`` (``<artifact>@vX.Y.Z``) with GTO's ``register``: the
    annotated tag, message and name checks GTO (and through it `dvc artifacts get`) use."""
    from gto.api import register
    from gto.exceptions import GTOException

    version = tag.split("@", 1)[1]
    try:
        register(repo, artifact, commit, version=version)
    except GTOException as err:
        raise DfmaskError(f"gto register {artifact} {commit[:12]} --version {version} failed: {err}") from err


def publish(
    repo: Path, version: str, allow_local_remote: bool = False, dry_run: bool = False, push_all: bool = False
) -> PublishResult:
    """Run the release checks, ``dvc push``, tag HEAD and push the tag (see module doc)."""
    repo = repo.resolve()
    params = load_section(ReleaseParams, "release", repo / "params.yaml")
    tag = tag_name(params.artifact, version)
    check_artifact(repo, params.artifact)
    commit = check_git_clean(repo)
    if _git(repo, "tag", "--list", tag).strip():
        raise DfmaskError(f"tag {tag} already exists: released versions are immutable; pick a new VERSION")
    remote = git_remote(repo)
    if remote and _git(repo, "ls-remote", "--tags", remote, f"refs/tags/{tag}", what=f"git ls-remote {remote}").strip():
        raise DfmaskError(f"tag {tag} already exists on git remote '{remote}'; pick a new VERSION")
    check_commit_unreleased(repo, params.artifact, commit)
    check_dvc_clean(repo)
    name, url = default_remote(repo)
    note = check_remote(name, url, allow_local_remote)
    if dry_run:
        return PublishResult(tag, commit, name, url, remote, note)
    targets = [] if push_all else ["release"]
    _dvc(repo, "push", "--remote", name, *targets, what=f"dvc push to '{name}' ({url})")
    register_version(repo, params.artifact, tag, commit)
    if remote:
        _git(repo, "push", remote, f"refs/tags/{tag}", what=f"git push {remote} {tag}")
    return PublishResult(tag, commit, name, url, remote, note)


def describe(res: PublishResult, dry_run: bool) -> str:
    """One line for the terminal: what was (or, for a dry run, would be) pushed and tagged."""
    if dry_run:
        return f"checks passed; would push to DVC remote '{res.dvc_remote}' ({res.dvc_url}) and tag {res.tag}"
    where = (
        f"tag pushed to git remote '{res.git_remote}'"
        if res.git_remote
        else f"no git remote: the tag is local only; push it with `git push <remote> {res.tag}`"
    )
    return (
        f"{res.tag} → {res.commit[:12]}; data pushed to DVC remote '{res.dvc_remote}' ({res.dvc_url}); {where}. "
        f"Researchers: dvc get <repo-url> data/release --rev {res.tag}"
    )
