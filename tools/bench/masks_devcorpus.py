"""Dev corpora for the masks: the default sample's videos re-encoded at other CRFs,
cropped with the faces stage's own crop boxes (no detection re-run), plus codec-noise
pairs (each original against itself re-encoded). Writes faces-schema tables.

usage: python -m tools.bench.masks_devcorpus OUT CRF[:FAKE_CRF] ...  (pairs: the codec-noise pairs)
(e.g. OUT 24 28 32 22:30 pairs). Hand tool; 2 processes; ~1 min per corpus here.
"""

import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
import pyarrow as pa

from dfmask.faces.crops import crop_face
from dfmask.schemas.faces import FACES, read_faces
from dfmask.tables import encode_png
from dfmask.video import encode_video

MAIN = Path("data")  # run from a checkout whose data/ holds the default sample and its faces output
CORPUS = MAIN / "sample/corpus"


def frames_of(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def recode(part, video_id, crf, preset="medium"):
    src = CORPUS / f"dfdc_train_part_{part}/{video_id}.mp4"
    frames = frames_of(src)
    if crf == 0:
        return frames
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "v.mp4"
        encode_video(frames, out, 30, crf, preset)
        return frames_of(out)


def crops_for(args):
    part, video_id, crf, rows = args  # rows: list of (frame_idx, crop_box)
    frames = recode(part, video_id, crf)
    out = []
    for f, box in rows:
        img = crop_face(frames[f], np.rint(np.asarray(box)).astype(np.int64), 128)
        out.append(encode_png(img))
    return out


def build(out: Path, spec: str):
    faces = read_faces(MAIN / "interim/faces", [0, 1])

    vids = faces["video_id"].to_pylist()
    fake = faces["is_fake"].to_pylist()
    parts = faces["part"].to_pylist()
    fr = faces["frame_idx"].to_pylist()
    boxes = faces["crop_box"].to_pylist()
    if spec == "pairs":
        # originals kept at the corpus CRF (18); 'fakes' = the original re-encoded at 26 and 32
        keep = [i for i in range(len(vids)) if not fake[i]]
        tables = [faces.take(pa.array(keep))]
        for crf in (26, 32):
            by_video: dict[tuple[int, str], list[int]] = {}
            for i in keep:
                by_video.setdefault((parts[i], vids[i]), []).append(i)
            with ProcessPoolExecutor(2) as ex:
                res = list(
                    ex.map(
                        crops_for, [(p, v, crf, [(fr[i], boxes[i]) for i in idx]) for (p, v), idx in by_video.items()]
                    )
                )
            crop = [None] * len(vids)
            for idx, pngs in zip(by_video.values(), res, strict=True):
                for i, png in zip(idx, pngs, strict=True):
                    crop[i] = png
            t = faces.take(pa.array(keep))
            t = t.set_column(t.schema.get_field_index("original_id"), "original_id", t["video_id"])
            t = t.set_column(
                t.schema.get_field_index("video_id"),
                "video_id",
                pa.array([f"{v}_crf{crf}" for v in t["video_id"].to_pylist()]),
            )
            t = t.set_column(t.schema.get_field_index("is_fake"), "is_fake", pa.array([True] * t.num_rows))
            c = [{"bytes": crop[i], "path": f"pairs/{vids[i]}_{crf}/{fr[i]}.png"} for i in keep]
            t = t.set_column(t.schema.get_field_index("crop"), "crop", pa.array(c, t.schema.field("crop").type))
            tables.append(t)
        table = pa.concat_tables([t.cast(FACES.schema) for t in tables])
    else:
        real_text, _, fake_text = spec.partition(":")
        real_crf = int(real_text)
        fake_crf = int(fake_text or real_text)
        jobs: dict[tuple[int, str, int], list[int]] = {}
        for i in range(len(vids)):
            jobs.setdefault((parts[i], vids[i], fake_crf if fake[i] else real_crf), []).append(i)
        with ProcessPoolExecutor(2) as ex:
            res = list(
                ex.map(crops_for, [(p, v, c, [(fr[i], boxes[i]) for i in idx]) for (p, v, c), idx in jobs.items()])
            )
        crop = faces["crop"].to_pylist()
        for idx, pngs in zip(jobs.values(), res, strict=True):
            for i, png in zip(idx, pngs, strict=True):
                crop[i] = {"bytes": png, "path": crop[i]["path"]}
        table = faces.set_column(
            faces.schema.get_field_index("crop"), "crop", pa.array(crop, faces.schema.field("crop").type)
        )
    import pyarrow.compute as pc

    for part in (0, 1):
        d = out / f"part={part}"
        d.mkdir(parents=True, exist_ok=True)
        t = table.filter(pc.equal(table["part"], part))
        t = t.sort_by([("video_id", "ascending"), ("frame_idx", "ascending"), ("track_id", "ascending")])
        import pyarrow.parquet as pq

        pq.write_table(
            t.cast(FACES.schema).replace_schema_metadata(
                pq.read_schema(MAIN / "interim/faces/part=0/faces-00000.parquet").metadata
            ),
            d / "faces-00000.parquet",
        )
    print(out, table.num_rows, flush=True)


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for spec in sys.argv[2:]:
        build(root / ("faces_" + spec.replace(":", "_")), spec)
