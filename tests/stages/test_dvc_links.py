"""What `dvc repro` does with symlinks in a part folder (policy: docs/corpus.md).

DVC hashes every dep folder itself, following each link (dvc_data stats every entry
with ``follow_symlinks``) and has no option to skip a dangling one: `dvc status` and
`dvc repro` stop (at the inventory stage, whose dep is corpus.root whole) with DVC's
one-line error naming the link. These
tests pin that, and that the documented way out (remove the link, or name it in
.dvcignore) leaves exactly one status behind, not a lost part.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_utils import init_repo, run

from dfmask.schemas.videos import VIDEOS
from dfmask.tables import read_table
from dfmask.video import encode_video


@pytest.mark.slow
def test_dangling_link_stops_dvc_naming_it_and_costs_one_status_once_ignored(tmp_path: Path) -> None:
    import numpy as np

    repo = init_repo(tmp_path / "repo", {"corpus.root": "corpus", "corpus.parts": [0]})
    part = repo / "corpus" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    frames = [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(4)]
    encode_video(frames, part / "real.mp4", fps=10)
    (part / "gone.mp4").symlink_to(tmp_path / "elsewhere" / "gone.mp4")
    (part / "metadata.json").write_text(json.dumps({"real.mp4": {"label": "REAL"}, "gone.mp4": {"label": "REAL"}}))

    proc = run(["dvc", "repro", "ingest@0"], repo, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and f"No such file or directory: '{part / 'gone.mp4'}'" in errors[0], proc.stderr

    (repo / ".dvcignore").write_text((repo / ".dvcignore").read_text() + "corpus/dfdc_train_part_0/gone.mp4\n")
    run(["dvc", "repro", "ingest@0"], repo)
    rows = read_table(repo / "data/interim/videos/part=0.parquet", VIDEOS).to_pylist()
    assert {r["filename"]: r["status"] for r in rows} == {"real.mp4": "ok", "gone.mp4": "dangling_link"}
    assert "(1 real" in run(["dvc", "repro", "ingest@0", "--force"], repo).stdout
