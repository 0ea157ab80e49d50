"""The documents a newcomer reads stay true to the repository.

* No tracked file points outside the repository at the design notes' old folder beside
  it (the contracts the project relies on live in docs/design.md).
* docs/pipeline.md holds ``dvc dag --mermaid`` of the current dvc.yaml.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from repo_utils import REPO, VENV_BIN


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in out.decode().split("\0") if name]


def test_no_tracked_file_refers_outside_the_repository() -> None:
    needle = "../" + "shared"  # split so this file does not match itself
    offenders = []
    for path in _tracked_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if needle.encode() in data or b"/work/" + b"shared" in data:
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"files referring to {needle}: {offenders}"


def _mermaid_block(text: str) -> str:
    match = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert match, "docs/pipeline.md has no ```mermaid block"
    return match.group(1).strip()


def test_pipeline_doc_matches_dvc_dag() -> None:
    """docs/pipeline.md's graph is what `dvc dag --mermaid` draws from dvc.yaml today.

    Regenerate it with ``dvc dag --mermaid`` after changing stages or their deps/outs.
    """
    proc = subprocess.run(
        [str(VENV_BIN / "dvc"), "dag", "--mermaid"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    doc = (REPO / "docs" / "pipeline.md").read_text()
    assert _mermaid_block(doc) == proc.stdout.strip(), (
        "docs/pipeline.md is out of date: paste `dvc dag --mermaid` into its ```mermaid block"
    )


def test_readme_points_to_the_pipeline_graph_and_design() -> None:
    readme = (REPO / "README.md").read_text()
    assert "docs/pipeline.md" in readme
    assert "docs/design.md" in readme
