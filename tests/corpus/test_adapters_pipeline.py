"""A FaceForensics++-layout tree through ingest → faces → masks: after ingest nothing knows
the layout, so the stages must run on it as on DFDC and give the same crops and masks as
the same videos give in the sample's own DFDC layout."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from layout_trees import write_ffpp

from dfmask.corpus import sources
from dfmask.corpus.ingest import IngestPaths
from dfmask.corpus.ingest import run as run_ingest
from dfmask.faces.stage import FacesPaths
from dfmask.faces.stage import run as run_faces
from dfmask.masks.stage import MasksPaths
from dfmask.masks.stage import run as run_masks
from dfmask.params import CorpusParams, FacesParams, IngestParams, MasksParams, load_section
from dfmask.schemas.faces import read_face_videos
from dfmask.schemas.masks import read_masks

REPO = Path(__file__).parents[2]
FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", REPO / ".cache" / "faces"))


def _pipeline(corpus: CorpusParams, out: Path, part: int) -> tuple[list[dict], list[dict]]:
    params = REPO / "params.yaml"
    run_ingest(
        load_section(IngestParams, "ingest", params),
        corpus,
        IngestPaths(out / "videos" / f"part={part}.parquet", out / "r" / "ingest.json"),
        part,
    )
    faces = FacesParams(**{**load_section(FacesParams, "faces", params).__dict__, "device": "cpu"})
    run_faces(
        faces,
        corpus,
        FacesPaths(
            out / "videos" / f"part={part}.parquet",
            out / "faces" / f"part={part}",
            out / "r" / "faces.json",
            out / "work",
        ),
        part,
    )
    masks = load_section(MasksParams, "masks", params)
    run_masks(
        masks,
        MasksPaths(
            out / "faces" / f"part={part}", out / "masks" / f"part={part}", out / "r" / "masks.json", out / "work"
        ),
        part,
    )
    status = read_face_videos(out / "faces", [part], ["video_id", "status", "crops"]).to_pylist()
    rows = read_masks(out / "masks", [part], ["video_id", "frame_idx", "track_id", "manipulated_frac"]).to_pylist()
    return status, rows


@pytest.mark.slow
def test_ffpp_tree_runs_ingest_faces_masks_like_the_dfdc_sample(tmp_path: Path) -> None:
    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    from test_sample import generate, tiny_params

    sample = tmp_path / "sample"
    generate(tiny_params(), sample, str(sample / "corpus"), 7, tmp_path / "preview.png")
    tree = write_ffpp(sample, tmp_path / "FaceForensics++", qualities=("c23",))
    ffpp = CorpusParams(root=str(tree.root), parts=(0,), kind="ffpp", qualities=("c23",))
    status, masks = _pipeline(ffpp, tmp_path / "ffpp", 0)
    # the same videos in the sample's own DFDC layout, part 0 and 1 (FF++ puts them all in part 0)
    dfdc = CorpusParams(root=str(sample / "corpus"), parts=(0, 1))
    dfdc_status, dfdc_masks = [], []
    for part in (0, 1):
        s, m = _pipeline(dfdc, tmp_path / "dfdc", part)
        dfdc_status += s
        dfdc_masks += m
    # map FF++ ids back to the sample's ids through what the tree wrote
    ffpp_to_sample = {}
    ingest = pq.read_table(tmp_path / "ffpp" / "videos" / "part=0.parquet", columns=["video_id", "path"]).to_pylist()
    for row in ingest:
        ffpp_to_sample[row["video_id"]] = tree.files[row["path"]].sample_id
    assert len(ffpp_to_sample) == len(tree.files)
    got = sorted((ffpp_to_sample[s["video_id"]], s["status"], s["crops"]) for s in status)
    want = sorted((s["video_id"], s["status"], s["crops"]) for s in dfdc_status)
    assert got == want and sum(s[2] for s in got) > 0
    got_masks = sorted(
        (ffpp_to_sample[m["video_id"]], m["frame_idx"], m["track_id"], m["manipulated_frac"]) for m in masks
    )
    want_masks = sorted((m["video_id"], m["frame_idx"], m["track_id"], m["manipulated_frac"]) for m in dfdc_masks)
    assert got_masks == want_masks and any(m[3] > 0 for m in got_masks)
