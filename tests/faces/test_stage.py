"""The faces stage on a small real-video corpus: statuses, alignment, shards, reruns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from dfmask.faces.detect import FaceDetector
from dfmask.faces.stage import FacesPaths, work_key
from dfmask.faces.stage import run as run_faces
from dfmask.params import CorpusParams, FacesParams
from dfmask.schemas.faces import FACE_VIDEOS, FACES, STATUS_PATH
from dfmask.tables import decode_png, file_sha256, read_table, read_tables, shard_paths

PARAMS = FacesParams(device="cpu", frames=8, shard_rows=40)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(faces_corpus: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("faces_run")
    calls: list[int] = []
    original_batch = FaceDetector._detect_batch

    def counting_batch(self: FaceDetector, batch: np.ndarray, scale: float) -> Any:
        calls.append(len(batch))
        return original_batch(self, batch, scale)

    mp = pytest.MonkeyPatch()
    mp.setattr(FaceDetector, "_detect_batch", counting_batch)
    paths = FacesPaths(faces_corpus.videos, base / "out", base / "report.json", base / "work")
    summary = run_faces(PARAMS, CorpusParams(root=str(faces_corpus.root), parts=(0,)), paths, 0)
    mp.undo()
    faces = read_tables(shard_paths(base / "out"), FACES).to_pandas()
    status = read_table(base / "out" / STATUS_PATH, FACE_VIDEOS).to_pandas().set_index("video_id")
    yield {
        "base": base,
        "summary": summary,
        "faces": faces,
        "status": status,
        "calls": calls,
        "report": json.loads((base / "report.json").read_text()),
        "corpus": faces_corpus,
    }


def test_every_planted_case_gets_its_status(run: dict[str, Any]) -> None:
    st = run["status"]["status"].to_dict()
    assert st == {
        "aaorigwolf": "ok",
        "aborigsing": "ok",
        "acorigcapa": "ok",
        "adorigcapb": "ok",
        "aeorigfran": "ok",
        "aforigmult": "ok",
        "agorignone": "no_faces",
        "ahorigbrok": "ingest_failed",
        "zafakewolf": "ok",
        "zbfakesing": "ok",
        "zcfakecapa": "ok",
        "zdfakecapb": "resolution_mismatch",
        "zefakefran": "ok",
        "zffakemult": "ok",
        "zgfakenone": "original_no_faces",
        "zhfakebrok": "original_failed",
        "zzfakeorph": "original_missing",
    }
    rep = run["report"]
    assert rep["videos"] == 17 and rep["videos_without_faces"] == 1
    assert rep["status"]["fakes"]["original_missing"] == 1
    assert rep["crops"] == len(run["faces"]) == run["status"]["crops"].sum()


def test_only_decodable_originals_are_detected(run: dict[str, Any]) -> None:
    # 7 decodable originals (incl. the faceless one), one batch of 8 frames each; fakes never detected
    assert sorted(run["calls"]) == [8] * 7


def test_single_face_originals_have_one_track_on_every_sampled_frame(run: dict[str, Any]) -> None:
    f = run["faces"]
    for vid in ("aaorigwolf", "aborigsing", "acorigcapa", "aeorigfran"):
        rows = f[f["video_id"] == vid]
        assert set(rows["track_id"]) == {0}, vid
        assert len(rows) == 8, vid
    multi = f[f["video_id"] == "aforigmult"]
    assert multi["track_id"].nunique() >= 4  # a five-person photo, panned


def _inside(rows_c: np.ndarray, cols_c: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """Crop pixels whose frame centre lies inside rows rect[0]:rect[1], cols rect[2]:rect[3]."""
    r0, r1, c0, c1 = rect
    return ((rows_c > r0) & (rows_c < r1))[:, None] & ((cols_c > c0) & (cols_c < c1))[None, :]


def test_fake_crops_are_pixel_aligned_with_their_originals(run: dict[str, Any]) -> None:
    f = run["faces"]
    reals = f[~f["is_fake"]].set_index(["video_id", "frame_idx", "track_id"])
    fakes = f[f["is_fake"]]
    assert len(fakes) > 0
    for row in fakes.itertuples():
        real = reals.loc[(row.original_id, row.frame_idx, row.track_id)]
        assert list(real["crop_box"]) == list(row.crop_box)
        assert list(real["box"]) == list(row.box)
        a = decode_png(real["crop"]["bytes"]).astype(np.int16)
        b = decode_png(row.crop["bytes"]).astype(np.int16)
        # the fakes differ only in frame rows 40:140, cols 100:220 (+ codec noise):
        x0, y0, x1, y1 = row.crop_box
        size = a.shape[0]
        centres = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
        rows_c = y0 + (np.arange(size) + 0.5) * (y1 - y0) / size

        outside = ~_inside(rows_c, centres, (32, 148, 92, 228))
        core = _inside(rows_c, centres, (48, 132, 108, 212))
        if outside.sum() > 50:
            assert np.abs(a - b)[outside].mean() < 3.0, row.video_id
        if core.sum() > 50:  # inside, the fake is the original with R and B swapped
            assert np.abs(a[:, :, ::-1] - b)[core].mean() < 3.0, row.video_id
            assert np.abs(a - b)[core].mean() > np.abs(a[:, :, ::-1] - b)[core].mean()


def test_shorter_fake_pairs_from_the_start(run: dict[str, Any]) -> None:
    f = run["faces"]
    fake = f[f["video_id"] == "zcfakecapa"]
    orig = f[f["video_id"] == "acorigcapa"]
    assert set(fake["frame_idx"]) == {i for i in orig["frame_idx"] if i < 20}
    st = run["status"].loc["zcfakecapa"]
    assert st["frames_beyond_end"] == len(set(orig["frame_idx"])) - len(set(fake["frame_idx"])) > 0


def test_shards_are_bounded_sorted_and_never_split_a_video(run: dict[str, Any]) -> None:
    paths = shard_paths(run["base"] / "out")
    assert len(paths) > 1
    seen: set[str] = set()
    for p in paths:
        t = read_table(p, FACES).to_pandas()
        vids = set(t["video_id"])
        assert not vids & seen
        seen |= vids
        assert len(t) <= PARAMS.shard_rows or len(vids) == 1
    f = run["faces"]
    key = f[["part", "video_id", "frame_idx", "track_id"]]
    assert key.equals(key.sort_values(list(key.columns)).reset_index(drop=True))
    assert not key.duplicated().any()


def test_rerun_reuses_every_video_and_writes_identical_bytes(run: dict[str, Any], tmp_path: Path) -> None:
    base = run["base"]
    before = {p.name: file_sha256(p) for p in shard_paths(base / "out")}
    paths = FacesPaths(run["corpus"].videos, tmp_path / "out", tmp_path / "r.json", base / "work")
    again = run_faces(PARAMS, CorpusParams(root=str(run["corpus"].root), parts=(0,)), paths, 0)
    assert again.reused == 17 and again.computed == 0
    assert {p.name: file_sha256(p) for p in shard_paths(tmp_path / "out")} == before


def test_summary_is_one_line_from_the_written_report(run: dict[str, Any]) -> None:
    report, line = run["report"], run["summary"].summary()
    no_faces = report["videos_without_faces"]
    assert line.startswith(f"part=0: {report['videos']} videos, {report['crops']:,} crops, {no_faces} video")
    assert line.endswith(f"(0 reused, 17 computed; see {run['base'] / 'report.json'})")
    assert "\n" not in line


def test_status_table_reads_as_dataframe(run: dict[str, Any]) -> None:
    st = run["status"]
    assert isinstance(st, pd.DataFrame)
    ok = st[st["status"] == "ok"]
    assert (ok["crops"] > 0).all() and (st[st["status"] != "ok"]["crops"] == 0).all()


def test_work_key_hashes_the_stage_code_that_dvc_yaml_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dfmask.faces import stage

    key = work_key(PARAMS)
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["faces"]["do"]["deps"]
    listed = {d.removeprefix("src/dfmask/") for d in deps if d.startswith("src/dfmask/")}
    # one list: the key hashes exactly the library files dvc.yaml's faces deps name
    # (tests/test_codedeps.py holds those to the stage's imports), lazy imports included,
    # less the stage contract (dfmask.stage: the script's error handling, no output bytes)
    assert set(key["code"]) == listed - {"stage.py"}
    assert {"faces/detect.py", "video/__init__.py", "schemas/videos.py", "schemas/faces.py"} <= listed
    assert "faces/quality.py" not in listed  # QA tool the stage never runs
    # the catalogue: reading the ingest table runs its spec, not the ingest stage's code,
    # and the specs of tables the stage does not touch stay out of its key
    assert not {"corpus/ingest.py", "schemas/masks.py", "schemas/registry.py"} & listed
    assert key["libraries"]["facenet-pytorch"] != "not installed"
    # editing a source file gives a new key, so items of the old code are never reused
    src = tmp_path / "faces" / "crops.py"
    src.parent.mkdir()
    src.write_text("A = 1\n")
    monkeypatch.setattr(stage, "_PACKAGE", tmp_path)
    monkeypatch.setattr(stage, "_CODE", (src,))
    before = work_key(PARAMS)
    src.write_text("A = 2\n")
    assert work_key(PARAMS)["code"] != before["code"]



def test_changed_bytes_recompute_that_video_and_its_fakes_only(faces_corpus: Any, tmp_path: Path) -> None:
    """Same size and probe, other bytes: the video and its fake are recomputed, never stale."""
    from dfmask.corpus.ingest import ingest_part
    from dfmask.schemas.videos import VIDEOS
    from dfmask.tables import write_table

    part = tmp_path / "corpus" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    meta = {k: v for k, v in faces_corpus.metadata.items() if k[:2] in ("ab", "zb", "ag", "zg")}
    assert len(meta) == 4
    for name in meta:
        (part / name).write_bytes((faces_corpus.root / "dfdc_train_part_0" / name).read_bytes())
    (part / "metadata.json").write_text(json.dumps(meta))

    def ingest(name: str) -> Path:
        table = ingest_part(tmp_path / "corpus", 0).table
        return write_table(table, tmp_path / name / "part=0.parquet", VIDEOS, "ingest@0")

    def faces(videos: Path, out: str, work: str) -> Any:
        corpus = CorpusParams(root=str(tmp_path / "corpus"), parts=(0,))
        paths = FacesPaths(videos, tmp_path / out, tmp_path / f"{out}.json", tmp_path / work)
        return run_faces(PARAMS, corpus, paths, 0)

    before = ingest("v1")
    first = faces(before, "out1", "work")
    assert (first.reused, first.computed) == (0, 4)
    video = part / "aborigsing.mp4"
    data = bytearray(video.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 20] = bytes(b ^ 0x5A for b in data[mid : mid + 20])
    video.write_bytes(bytes(data))
    after = ingest("v2")
    old_rows = {r["video_id"]: r for r in read_table(before, VIDEOS).to_pylist()}
    for row in read_table(after, VIDEOS).to_pylist():  # the probe cannot tell
        old = old_rows[row["video_id"]]
        changed = {k for k in row if row[k] != old[k]}
        assert changed == ({"sha256"} if row["video_id"] == "aborigsing" else set()), row["video_id"]
    second = faces(after, "out2", "work")
    assert (second.reused, second.computed) == (2, 2)  # agorignone and its fake reused
    fresh = faces(after, "out3", "fresh_work")
    assert fresh.computed == 4
    outputs = {
        out: {p.name: file_sha256(p) for p in [*shard_paths(tmp_path / out), tmp_path / out / STATUS_PATH]}
        for out in ("out2", "out3")
    }
    assert outputs["out2"] == outputs["out3"]  # what a clean run on the new bytes writes
    items = list((tmp_path / "work" / "faces" / "part=0").glob("*/*.parquet"))
    assert len(items) == 4  # the old bytes' items are gone


def test_report_of_200k_videos_counts_and_samples() -> None:
    """Reports are git-tracked metrics: per-video lists are sampled, the table has them all."""
    from dfmask.faces.extract import VideoStatus
    from dfmask.faces.stage import PartSummary, _report

    reasons = ("no_faces", "decode_failed", "ingest_failed")
    statuses = [
        VideoStatus(0, f"{i:08d}{'v' * 40}", None, bool(i % 2), reasons[i % 3] if i % 5 else "ok")
        for i in range(200_000)
    ]
    summary = PartSummary(0, len(statuses), 0, {}, 0, len(statuses), 1, Path("report.json"))
    report = _report(summary, statuses, PARAMS)
    size = len(json.dumps(report, indent=2, sort_keys=True))
    assert size < 100_000, size
    problems = report["problem_videos"]
    assert sum(p["count"] for kind in problems.values() for p in kind.values()) == 160_000
    assert problems["originals"]["no_faces"]["sample"][0] == statuses[6].video_id  # first even, 3k, not 5k


def test_decode_threads_is_one_and_keyed() -> None:
    """FFmpeg's threaded decode is bit-exact on intact streams only: on a damaged stream
    its error concealment varied from run to run (`make robustness`, case stale_crops).
    So the default is 1, and the value is part of the work key and of the faces params in
    dvc.yaml (a change must re-run, never reuse items)."""
    import dataclasses

    repo = Path(__file__).resolve().parents[2]
    assert yaml.safe_load((repo / "params.yaml").read_text())["faces"]["decode_threads"] == 1
    other = dataclasses.replace(PARAMS, decode_threads=0)
    assert work_key(other) != work_key(PARAMS)
    faces = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["faces"]["do"]["params"]
    assert "faces.decode_threads" in faces
