"""The hostile-input catalogue (tools/robustness, `make robustness`; docs/robustness.md).

The slow test runs the whole catalogue on the real stages and holds issue 14's bar: no
crash, nothing lost, every per-video case ends in a status, every case as expected.
The fast tests hold the pieces it rests on: the "lost" measure and the outcome forms.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyarrow as pa
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.robustness.cases import CASES, GROUPS, PER_VIDEO_GROUPS, Error, NonOk, status  # noqa: E402
from tools.robustness.rows import digest_rows, digests_by_video  # noqa: E402
from tools.robustness.runner import classify  # noqa: E402

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", REPO / ".cache" / "faces"))


def _faces_rows() -> list[dict[str, object]]:
    rows = []
    for video in ("aaa", "bbb"):
        for frame in range(3):
            rows.append(
                {
                    "part": 0,
                    "video_id": video,
                    "frame_idx": frame,
                    "track_id": 0,
                    "box": [1.0, 2.0, 30.5, 40.25],
                    "prob": 0.99,
                    "crop": {"bytes": bytes([frame, 1, 2, 3]) * 8, "path": f"crop/{video}/{frame:05d}_0.png"},
                }
            )
    return rows


def test_lost_measure_detects_a_changed_row_and_ignores_layout() -> None:
    rows = _faces_rows()
    table = pa.Table.from_pylist(rows)
    ref = digests_by_video(table, ["aaa", "bbb"])
    assert ref["aaa"] and ref["bbb"] and ref["aaa"] != ref["bbb"]
    # Same rows in another order / another shard cut: same digests.
    shuffled = pa.concat_tables([pa.Table.from_pylist(rows[3:]), pa.Table.from_pylist(rows[:3][::-1])])
    assert digests_by_video(shuffled, ["aaa", "bbb"]) == ref
    # One pixel byte, one box coordinate, one float's last bit, a frame index: caught, for that video only.
    edits = [
        ("crop", lambda r: {**r, "crop": {"bytes": b"\x09" + r["crop"]["bytes"][1:], "path": r["crop"]["path"]}}),
        ("box", lambda r: {**r, "box": [1.0, 2.0, 30.5, 40.5]}),
        ("prob", lambda r: {**r, "prob": float(pa.scalar(0.99, pa.float32()).as_py())}),
        ("frame_idx", lambda r: {**r, "frame_idx": 7}),
    ]
    for what, edit in edits:
        changed = [edit(r) if (r["video_id"], r["frame_idx"]) == ("bbb", 1) else r for r in rows]
        got = digests_by_video(pa.Table.from_pylist(changed), ["aaa", "bbb"])
        assert got["aaa"] == ref["aaa"], what
        assert got["bbb"] != ref["bbb"], what
    # A dropped row and a duplicated row are losses too; a video with no row is None.
    assert digest_rows(rows[:-1]) != digest_rows(rows)
    assert digest_rows([*rows, rows[-1]]) != digest_rows(rows)
    assert digests_by_video(table, ["ccc"]) == {"ccc": None}


def test_renamed_copy_compares_equal_to_its_source() -> None:
    rows = [r for r in _faces_rows() if r["video_id"] == "aaa"]
    copy = [
        {**r, "video_id": ".hidden", "crop": {**r["crop"], "path": r["crop"]["path"].replace("aaa", ".hidden")}}
        for r in rows
    ]
    assert digest_rows(copy) != digest_rows(rows)
    assert digest_rows(copy, rename={".hidden": "aaa"}) == digest_rows(rows)


def test_outcome_forms(tmp_path: Path) -> None:
    assert classify("ingest", 0, "", tmp_path).outcome == "ok"
    one_line = classify("ingest", 2, f"ingest: error: {tmp_path}/c/metadata.json: malformed JSON\n", tmp_path)
    assert one_line.outcome == "error:<tmp>/c/metadata.json: malformed JSON"
    traceback = "Traceback (most recent call last):\n  File ...\nIsADirectoryError: [Errno 21] x\n"
    assert classify("ingest", 1, traceback, tmp_path).outcome == "crash"
    assert classify("ingest", 2, traceback + "ingest: error: x\n", tmp_path).outcome == "crash"
    assert classify("faces", -9, "", tmp_path).outcome == "crash"  # the OOM killer
    dvc = "ERROR: failed to reproduce 'ingest': [Errno 2] No such file or directory\n"
    assert classify("ingest", 255, dvc, tmp_path, dvc=True).outcome.startswith("error:dvc: failed to reproduce")


def test_expectations() -> None:
    assert status("empty").matches("status:empty") and not status("empty").matches("status:corrupt")
    link = NonOk("link_outside_corpus", exclude=("corrupt",))
    assert link.matches("status:link_outside_corpus") and link.matches("status:other_name")
    assert not link.matches("status:ok") and not link.matches("status:corrupt") and not link.matches("crash")
    assert not link.matches("error:ingest failed")
    key = Error("faces.margin")
    assert key.matches("error:params: faces.margin: must be >= 0, got -1")
    assert not key.matches("error:params: faces.size: must be > 0") and not key.matches("crash")


def test_catalogue_table_is_well_formed() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert case.group in GROUPS, case.name
        assert case.expect, case.name
        assert case.issue in ("handled", "review") or case.issue.startswith("14."), case.name
    # Every defect of the issue that this catalogue can run has a case.
    assert {c.issue for c in CASES} >= {f"14.{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)}


@pytest.mark.slow
def test_robustness_catalogue(tmp_path: Path) -> None:
    from dfmask.corpus import sources
    from tools.robustness.harness import run_catalogue

    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    report = run_catalogue(tmp_path, log=lambda line: None)
    run = [c for c in report["cases"] if c["pass"] is not None]
    assert len(run) == len(CASES)
    # a case failing for a tool's own limit (Case.known_limit) must still fail: the day it
    # passes, the limit is gone and the case returns to the assertions below
    limited = {c["case"]: c["pass"] for c in run if c["known_limit"]}
    assert limited and not any(limited.values()), f"known limits that now pass: {limited}"
    cases = [c for c in run if not c["known_limit"]]
    crashed = [c["case"] for c in cases if "crash" in c["actual"].split(" | ")]
    assert not crashed, f"cases that crash: {crashed}"
    lost = {c["case"]: c["lost"] for c in cases if c["lost"]}
    assert not lost, f"clean rows lost: {lost}"
    not_status = [
        (c["case"], v["actual"])
        for c in cases
        if c["group"] in PER_VIDEO_GROUPS
        for v in c["videos"].values()
        if not v["actual"].startswith("status:")
    ]
    assert not not_status, f"per-video cases that did not end in a status: {not_status}"
    failed = {c["case"]: (c["expected"], c["actual"]) for c in cases if not c["pass"]}
    assert not failed, f"cases not as expected: {failed}"
