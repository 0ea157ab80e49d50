"""The executor-scaling benchmark's report: its arithmetic and its format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tools.bench.scale import outputs_sha256, replicated, summarise

REPO = Path(__file__).resolve().parents[2]


def _check_format(report: dict[str, Any]) -> None:
    """What a reader of reports/bench_scale.json relies on."""
    assert set(report["stages"]) == {"faces", "masks"}
    assert report["workers"] == [1, 2] and report["repeats"] >= 1
    for stage in report["stages"].values():
        for executor in ("local", "ray"):
            assert set(stage["wall_s_runs"][executor]) == {"1", "2"}
            assert all(len(runs) == report["repeats"] for runs in stage["wall_s_runs"][executor].values())
        assert set(stage["ray_overhead"]) == {"1", "2"}
        assert set(stage["speedup_1_to_2"]) == {"local", "ray"}
        assert set(stage["targets"]) == {"ray_overhead<=0.1", "ray_speedup_share>=0.9", "outputs_identical"}
    assert set(report["output_sha256"]) == {"faces", "masks"}


def test_summary_takes_medians_and_derives_overhead_and_scaling() -> None:
    wall = {
        "faces": {
            "local": {"1": [100.0, 90.0, 110.0], "2": [50.0, 55.0, 52.0]},
            "ray": {"1": [105.0, 400.0, 104.0], "2": [60.0, 58.0, 59.0]},
        },
        "masks": {"local": {"1": [10.0], "2": [6.0]}, "ray": {"1": [10.5], "2": [5.0]}},
    }
    s = summarise(wall, {"faces": True, "masks": False})
    faces = s["faces"]
    assert faces["wall_s_median"] == {
        "local": {"1": 100.0, "2": 52.0},
        "ray": {"1": 105.0, "2": 59.0},
    }  # 400 s outlier ignored
    assert faces["ray_overhead"] == {"1": 0.05, "2": round(59 / 52 - 1, 4)}
    assert faces["speedup_1_to_2"] == {"local": round(100 / 52, 3), "ray": round(105 / 59, 3)}
    assert faces["ray_speedup_share_of_local"] == round(round(105 / 59, 3) / round(100 / 52, 3), 3)
    assert faces["targets"] == {"ray_overhead<=0.1": False, "ray_speedup_share>=0.9": True, "outputs_identical": True}
    masks = s["masks"]
    assert masks["ray_overhead"] == {"1": 0.05, "2": round(5 / 6 - 1, 4)}
    assert masks["targets"] == {"ray_overhead<=0.1": True, "ray_speedup_share>=0.9": True, "outputs_identical": False}
    _check_format(
        {"stages": s, "workers": [1, 2], "repeats": 1, "output_sha256": {"faces": {}, "masks": {}}}
        | {"stages": {k: v | {"wall_s_runs": _one_run(v["wall_s_runs"])} for k, v in s.items()}}
    )


def _one_run(runs: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, list[float]]]:
    return {ex: {w: ts[:1] for w, ts in by_w.items()} for ex, by_w in runs.items()}


def test_outputs_hash_by_relative_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.parquet").write_bytes(b"1")
    (tmp_path / "r.json").write_text("{}")
    (tmp_path / "ignored.txt").write_text("no")
    hashes = outputs_sha256(tmp_path)
    assert set(hashes) == {"a/x.parquet", "r.json"}
    (tmp_path / "a" / "x.parquet").write_bytes(b"2")
    assert outputs_sha256(tmp_path)["a/x.parquet"] != hashes["a/x.parquet"]


@pytest.mark.parametrize("name", ["bench_scale.json", "bench_scale_part.json", "bench_scale_part_2.json"])
def test_committed_report_has_the_format(name: str) -> None:
    path = REPO / "reports" / name
    if not path.exists():
        pytest.skip(f"reports/{name} not measured yet (make bench-scale / bench-scale-part)")
    _check_format(json.loads(path.read_text()))


def test_replicated_renames_copies_and_pairs_each_fake_with_its_originals_copy() -> None:
    table = pa.table(
        {
            "video_id": ["a", "b", "c"],
            "original_id": [None, "a", "a"],
            "is_fake": [False, True, True],
            "path": ["dfdc_train_part_0/a.mp4", "dfdc_train_part_0/b.mp4", "dfdc_train_part_0/c.mp4"],
        }
    )
    assert replicated(table, 1) is table
    out = replicated(table, 3)
    assert out.schema == table.schema
    assert out.num_rows == 9
    ids = out["video_id"].to_pylist()
    assert len(set(ids)) == 9
    assert ids[:3] == ["a", "b", "c"] and ids[3:6] == ["a_r1", "b_r1", "c_r1"]
    by_id = {r["video_id"]: r for r in out.to_pylist()}
    assert by_id["b_r2"]["original_id"] == "a_r2" and by_id["a_r2"]["original_id"] is None
    assert by_id["c_r1"]["path"] == "dfdc_train_part_0/c.mp4"  # the same file, read again
