"""The codec-noise fixture: each original against itself re-encoded at another quality.

The sample generator writes, outside the corpus, ``<paths.sample>/codec_pairs/`` with
re-encoded originals and their manifest ``codec_pairs.parquet``
(`dfmask.schemas.ground_truth.CODEC_PAIRS`, read with
`dfmask.corpus.groundtruth.load_codec_pairs`). No swap happened in such
a pair, so every pixel of its mask is codec noise: ``masks_quality`` reports the mean
mask area (target <= 1 % of the crop).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfmask import metrics
from dfmask.params import MasksParams
from dfmask.schemas.faces import read_faces
from dfmask.tables import decode_png

#: The codec-noise fixture's manifest under ``<paths.sample>``, as the sample writes it
#: (`dfmask.corpus.sample`): one `CODEC_PAIRS` row per re-encoded original (part,
#: video_id of the original, path of the mp4 relative to the sample folder, crf, preset,
#: original_crf, …).
CODEC_PAIRS_MANIFEST = Path("codec_pairs/codec_pairs.parquet")


def codec_pair_areas(sample: Path, faces_root: Path, parts: Sequence[int], params: MasksParams) -> dict[str, Any]:
    """Masks of each original against itself re-encoded (the sample's codec-noise fixture).

    The re-encoded video is cut with the original's crop boxes (as faces cuts a fake),
    each crop masked against the original's crop by the masks stage's own code
    (`dfmask.masks.compute.mask_video`). No swap happened, so every mask pixel is codec
    noise. ``{"available": false}`` when the fixture is absent.
    """
    import pyarrow.compute as pc

    from dfmask.corpus.groundtruth import load_codec_pairs
    from dfmask.faces.crops import crop_face
    from dfmask.masks.compute import mask_video
    from dfmask.masks.pairing import FakeVideoJob
    from dfmask.tables import encode_png
    from dfmask.video import displayed_rgb

    manifest = Path(sample) / CODEC_PAIRS_MANIFEST
    if not manifest.exists():
        return {"available": False, "reason": f"no {CODEC_PAIRS_MANIFEST} under the sample folder"}
    import av

    rows = load_codec_pairs(manifest).to_dict("records")
    areas: list[float] = []
    invalid: list[bool] = []
    by_crf: dict[str, list[float]] = {}
    for row in sorted(rows, key=lambda r: (int(r["part"]), r["video_id"], r["path"])):
        part = int(row["part"])
        if part not in parts:
            continue
        faces = read_faces(faces_root, [part], ["video_id", "frame_idx", "track_id", "crop_box", "crop"])
        faces = faces.filter(pc.equal(faces["video_id"], row["video_id"]))
        if not faces.num_rows:
            continue
        with av.open(str(Path(sample) / row["path"])) as container:
            frames = [displayed_rgb(f) for f in container.decode(video=0)]
        pairs = []
        for frame_idx, track_id, box, crop in zip(
            *(faces[c].to_pylist() for c in ("frame_idx", "track_id", "crop_box", "crop")), strict=True
        ):
            if frame_idx >= len(frames):
                continue
            real = decode_png(crop["bytes"])
            window = np.rint(np.asarray(box, np.float64)).astype(np.int64)
            recoded = crop_face(frames[frame_idx], window, real.shape[0])
            pairs.append((int(frame_idx), int(track_id), crop["bytes"], encode_png(recoded)))
        table = mask_video(FakeVideoJob(part, row["video_id"], row["video_id"], tuple(pairs)), params)
        ok = [s == "ok" for s in table.column("status").to_pylist()]
        frac = [f for f, good in zip(table.column("manipulated_frac").to_pylist(), ok, strict=True) if good]
        areas += frac
        invalid += [not v for v, good in zip(table.column("valid").to_pylist(), ok, strict=True) if good]
        by_crf.setdefault(f"{row['original_crf']}->{row['crf']}", []).extend(frac)
    return {
        "available": True,
        "pairs": sum(1 for r in rows if int(r["part"]) in parts),
        "crops": len(areas),
        "mean_area": metrics.mean_or_none(areas),
        "invalid": metrics.mean_or_none([float(v) for v in invalid]),
        "mean_area_by_crf": {k: metrics.mean_or_none(v) for k, v in sorted(by_crf.items())},
    }
