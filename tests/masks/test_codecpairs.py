"""The codec-noise fixture: an original against itself re-encoded makes (almost) no mask."""

from __future__ import annotations

import av
import numpy as np
import pyarrow as pa

from dfmask.corpus import codec_pairs_dir
from dfmask.masks.codecpairs import CODEC_PAIRS_MANIFEST, codec_pair_areas
from dfmask.params import MasksParams
from dfmask.schemas.faces import FACES
from dfmask.schemas.ground_truth import CODEC_PAIRS
from dfmask.tables import to_table, write_table
from dfmask.video import encode_video
from tools.bench.masks import faces_row, synthetic_real


def _decode(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_codec_pairs_are_masked_like_fakes_and_the_floor_keeps_them_empty(tmp_path):
    rng = np.random.default_rng(0)
    base = np.clip(synthetic_real(rng, 96), 0, 255)
    frames = [np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    sample = tmp_path / "sample"
    encode_video(frames, tmp_path / "o1.mp4", 15, crf=18)
    original = _decode(tmp_path / "o1.mp4")
    rows = [faces_row(0, "o1", None, i, frame) for i, frame in enumerate(original)]
    faces = tmp_path / "faces"
    write_table(
        pa.Table.from_pylist(rows, schema=FACES.schema), faces / "part=0/faces-00000.parquet", FACES, stage="test"
    )
    encode_video(original, sample / "codec_pairs/o1.mp4", 15, crf=40)
    # the manifest as the sample writes it (`dfmask.corpus.sample`): its schema, file name and writer
    pair = dict(part=0, video_id="o1", path="codec_pairs/o1.mp4", crf=40, preset="medium", original_crf=18)
    pair |= dict(original_preset="medium", width=96, height=96, n_frames=6)
    write_table(to_table(CODEC_PAIRS, [pair]), codec_pairs_dir(sample) / "codec_pairs.parquet", CODEC_PAIRS, "sample")
    assert sample / CODEC_PAIRS_MANIFEST == codec_pairs_dir(sample) / "codec_pairs.parquet"
    plain = codec_pair_areas(sample, faces, [0], MasksParams(threshold=0.02, dilate_px=0))
    floored = codec_pair_areas(
        sample, faces, [0], MasksParams(threshold=0.02, dilate_px=0, noise_ring=0.1, noise_factor=2.5)
    )
    assert plain["available"] and plain["pairs"] == 1 and plain["crops"] == 6
    assert plain["mean_area"] > 0.05  # CRF 40 against 18 at a low threshold: codec noise is a mask
    assert floored["mean_area"] <= 0.01 and floored["invalid"] == 1.0
    assert set(floored["mean_area_by_crf"]) == {"18->40"}
    assert codec_pair_areas(tmp_path / "nowhere", faces, [0], MasksParams())["available"] is False
    assert codec_pair_areas(sample, faces, [1], MasksParams())["crops"] == 0  # other parts only
