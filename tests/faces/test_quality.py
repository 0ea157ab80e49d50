"""Face recall against ground truth: the matcher, and the >= 0.98 bound on the ci corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfmask.faces.quality import face_recall, match_frame, pairing

REPO = Path(__file__).resolve().parents[2]


def test_match_is_one_to_one_and_respects_iou() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    found = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    # two found boxes overlap the first true face; only one may count
    assert match_frame(truth, found, 0.5) == (1, 2)
    assert match_frame(truth, np.array([[0, 0, 10, 10], [21, 0, 31, 10]], float), 0.5) == (2, 0)
    assert match_frame(truth, np.array([[5, 5, 15, 15]], float), 0.5) == (0, 1)  # IoU 1/7


def _truth(video: str, n_frames: int, box: list[float] | None, fake: bool = False) -> list[dict]:
    return [
        {
            "video_id": video,
            "is_fake": fake,
            "frame_idx": i,
            "n_frames": n_frames,
            "width": 100,
            "height": 100,
            "box": box,
        }
        for i in range(n_frames)
    ]


def test_recall_counts_only_sampled_frames_of_originals_and_clips_boxes() -> None:
    truth = pd.DataFrame(
        _truth("real", 10, [80, 10, 100, 40])
        + _truth("fake", 10, [0, 0, 50, 50], fake=True)
        + _truth("empty", 10, None)
    )
    # our box sticks out of the frame on the right; clipped it matches exactly
    ours = pd.DataFrame(
        [{"video_id": "real", "is_fake": False, "frame_idx": i, "box": [80, 10, 130, 40]} for i in (0, 2, 4, 6, 8, 9)]
        + [{"video_id": "empty", "is_fake": False, "frame_idx": 0, "box": [0, 0, 5, 5]}]
    )
    got = face_recall(ours, truth, n_samples=4)  # samples 0, 3, 6, 9
    assert got["true_faces"] == 4  # fakes and faceless frames are not true faces
    assert got["found"] == 3  # frame 3 has no box of ours
    assert got["extra_boxes"] == 1
    assert got["recall"] == pytest.approx(0.75)


def test_pairing_checks_windows() -> None:
    rows = pd.DataFrame(
        [
            {
                "video_id": "o",
                "original_id": None,
                "is_fake": False,
                "frame_idx": 0,
                "track_id": 0,
                "crop_box": [0, 0, 8, 8],
            },
            {
                "video_id": "f",
                "original_id": "o",
                "is_fake": True,
                "frame_idx": 0,
                "track_id": 0,
                "crop_box": [0, 0, 8, 8],
            },
            {
                "video_id": "g",
                "original_id": "o",
                "is_fake": True,
                "frame_idx": 0,
                "track_id": 0,
                "crop_box": [1, 0, 9, 8],
            },
        ]
    )
    assert pairing(rows) == {"fake_crops": 2, "fake_crops_with_same_window_as_original": 1}


@pytest.mark.slow
def test_recall_on_ci_sample_corpus(tmp_path: Path) -> None:
    from dfmask.corpus import sources
    from dfmask.corpus.groundtruth import load_ground_truth
    from dfmask.corpus.ingest import ingest_part
    from dfmask.corpus.sample import SamplePaths
    from dfmask.corpus.sample import run as generate
    from dfmask.faces.quality import load_faces
    from dfmask.faces.stage import FacesPaths
    from dfmask.faces.stage import run as run_faces
    from dfmask.params import BaseParams, CorpusParams, FacesParams, SampleParams, load_section
    from dfmask.schemas.videos import VIDEOS
    from dfmask.tables import write_table

    cache = REPO / ".cache" / "faces"
    if sources.verify(cache):
        pytest.skip("face sources not fetched (make setup)")
    params_path = REPO / "params.yaml"
    sample = load_section(SampleParams, "sample", params_path)
    sample = SampleParams(**{**sample.__dict__, "profile": "ci", "sources_cache": str(cache)})
    base = load_section(BaseParams, "base", params_path)
    parts = tuple(range(sample.ci.parts))
    corpus = CorpusParams(root=str(tmp_path / "sample" / "corpus"), parts=parts)
    generate(sample, corpus, base, SamplePaths(tmp_path / "sample", tmp_path / "preview.png"))
    faces_params = load_section(FacesParams, "faces", params_path)
    faces_params = FacesParams(**{**faces_params.__dict__, "device": "cpu"})
    folders = []
    for part in parts:
        ingest = ingest_part(tmp_path / "sample" / "corpus", part)
        videos = write_table(ingest.table, tmp_path / f"videos/part={part}.parquet", VIDEOS, "ingest")
        out = tmp_path / f"faces/part={part}"
        run_faces(faces_params, corpus, FacesPaths(videos, out, tmp_path / f"r{part}.json", tmp_path / "work"), part)
        folders.append(out)
    got = face_recall(
        load_faces(folders), load_ground_truth(tmp_path / "sample" / "ground_truth.parquet"), faces_params.frames
    )
    assert got["true_faces"] > 50
    assert got["recall"] >= 0.98, got


def test_preview_sheet_has_headers_as_white_text_on_dark_bands() -> None:
    """Light crops (the hard case for light text): every text band is dark with white
    text, the header band names the three columns, and the crops are left untouched."""
    import cv2

    from dfmask.faces.quality import preview_sheet

    def png(value: int) -> dict[str, bytes]:
        return {"bytes": cv2.imencode(".png", np.full((64, 64, 3), value, np.uint8))[1].tobytes()}

    faces = pd.DataFrame(
        [
            {"video_id": "r", "original_id": None, "is_fake": False, "frame_idx": 5, "track_id": 0, "crop": png(250)},
            {"video_id": "f", "original_id": "r", "is_fake": True, "frame_idx": 5, "track_id": 0, "crop": png(240)},
        ]
    )
    sheet = preview_sheet(faces, columns=1)
    assert sheet.shape == (20 + 18 + 64 + 4, 3 * 64 + 4, 3)
    for band in (sheet[:20], sheet[20:38]):  # column headers, then the triplet's ids
        assert np.median(band) < 60  # dark background
        assert (band.min(axis=2) > 200).sum() > 30  # white text on it
    assert (sheet[38:102, :64] == 250).all() and (sheet[38:102, 64:128] == 240).all()
