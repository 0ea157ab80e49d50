"""Display rotation: frames are detected and cropped as displayed, and a fake turned
otherwise than its original is not paired with it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from rotated_video import encode_rotated

from dfmask.corpus.ingest import ingest_part
from dfmask.faces.stage import FacesPaths
from dfmask.faces.stage import run as run_faces
from dfmask.params import CorpusParams, FacesParams
from dfmask.schemas.faces import FACE_VIDEOS, FACES, STATUS_PATH
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import decode_png, read_table, read_tables, shard_paths, write_table
from dfmask.video import encode_video, iter_frames

PARAMS = FacesParams(device="cpu", frames=6)


def _marked(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A 'fake' that differs from its original only in the top-left corner (no face there)."""
    out = []
    for f in frames:
        g = f.copy()
        g[:24, :24] = 255 - g[:24, :24]
        out.append(g)
    return out


@pytest.fixture(scope="module")
def run(faces_corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A part with one real face clip (320x180) written three ways: upright; coded
    sideways with a 90° display rotation (a phone clip); plus a fake of the sideways one
    at 90° and a fake of the upright one at 180°."""
    base = tmp_path_factory.mktemp("rotation")
    frames = list(iter_frames(faces_corpus.root / "dfdc_train_part_0" / "aborigsing.mp4"))
    part = base / "corpus" / "dfdc_train_part_0"
    encode_video(frames, part / "upright.mp4", 10)
    encode_rotated(frames, part / "sideways.mp4", 90)
    encode_rotated(_marked(frames), part / "sidefake.mp4", 90)
    encode_rotated(_marked(frames), part / "flipfake.mp4", 180)
    meta = {
        "upright.mp4": {"label": "REAL", "split": "train"},
        "sideways.mp4": {"label": "REAL", "split": "train"},
        "sidefake.mp4": {"label": "FAKE", "split": "train", "original": "sideways.mp4"},
        "flipfake.mp4": {"label": "FAKE", "split": "train", "original": "upright.mp4"},
    }
    (part / "metadata.json").write_text(json.dumps(meta))
    ingest = ingest_part(base / "corpus", 0)
    videos = write_table(ingest.table, base / "videos" / "part=0.parquet", VIDEOS, "ingest")
    corpus = CorpusParams(root=str(base / "corpus"), parts=(0,))
    run_faces(PARAMS, corpus, FacesPaths(videos, base / "out", base / "report.json", base / "work"), 0)
    faces = read_tables(shard_paths(base / "out"), FACES).to_pandas()
    status = read_table(base / "out" / STATUS_PATH, FACE_VIDEOS).to_pandas().set_index("video_id")
    return {"ingest": {r["video_id"]: r for r in ingest.table.to_pylist()}, "faces": faces, "status": status}


def _crops(faces: Any, video_id: str) -> dict[tuple[int, int], tuple[list[float], np.ndarray]]:
    rows = faces[faces["video_id"] == video_id]
    return {
        (int(r.frame_idx), int(r.track_id)): (list(r.crop_box), decode_png(r.crop["bytes"]).astype(np.int16))
        for r in rows.itertuples()
    }


def test_sideways_phone_clip_gives_the_upright_crops(run: dict[str, Any]) -> None:
    ing = run["ingest"]
    assert (ing["sideways"]["rotation"], ing["sideways"]["width"], ing["sideways"]["height"]) == (90, 180, 320)
    assert run["status"].loc["sideways", "status"] == "ok"
    upright, sideways = _crops(run["faces"], "upright"), _crops(run["faces"], "sideways")
    assert len(upright) >= 6 and sideways.keys() == upright.keys()
    for key, (box, crop) in upright.items():
        side_box, side_crop = sideways[key]
        # windows in the displayed (upright, 320x180) frame, within a pixel or two of coding noise
        assert np.abs(np.array(side_box) - box).max() <= 3, key
        # two separate encodes (coding noise) cut at windows up to 3 px apart: measured
        # 6.5 levels at worst; a crop of the unrotated frame differs by tens of levels
        assert side_crop.shape == crop.shape and np.abs(side_crop - crop).mean() < 10, key


def test_fake_at_the_same_rotation_pairs_and_aligns(run: dict[str, Any]) -> None:
    assert run["status"].loc["sidefake", "status"] == "ok"
    original, fake = _crops(run["faces"], "sideways"), _crops(run["faces"], "sidefake")
    assert fake.keys() == original.keys()
    for key, (box, crop) in original.items():
        assert fake[key][0] == box
        assert np.abs(fake[key][1] - crop).mean() < 3, key  # same face, aligned (only a far corner differs)


def test_fake_turned_otherwise_than_its_original_gets_a_status(run: dict[str, Any]) -> None:
    flip = run["ingest"]["flipfake"]
    assert flip["status"] == "rotation_mismatch" and "180" in flip["status_detail"]
    assert run["status"].loc["flipfake", "status"] == "ingest_failed"
    assert "rotation_mismatch" in run["status"].loc["flipfake", "detail"]
    assert not (run["faces"]["video_id"] == "flipfake").any()
