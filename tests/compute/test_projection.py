"""The DFDC projection's arithmetic, on hand-made phase costs."""

from __future__ import annotations

import math

import pytest

from dfmask.compute.projection import (
    CorpusShape,
    MachineProfile,
    PhaseCosts,
    project,
    project_all,
    standard_profiles,
)

# round numbers: an original costs 1 + 6 + 1 = 8 core-s, a fake 1 + 1 + 0.5 = 2.5
COSTS = PhaseCosts(
    original={"decode": 1.0, "detect": 6.0, "crop_png": 1.0},
    fake={"decode": 1.0, "crop_png": 1.0, "ssim": 0.5},
    source="hand-made",
)
# 600 videos, 1:5 → 100 originals, 500 fakes
CORPUS = CorpusShape(videos=600, fake_share=5 / 6)


def test_cpu_only_wall_is_all_core_seconds_over_the_cores() -> None:
    p = project(COSTS, MachineProfile("two", nodes=1, cores=2), CORPUS)
    core_s = 100 * 8.0 + 500 * 2.5  # 2,050
    assert p.wall_hours == pytest.approx(core_s / 2 / 3600, abs=1e-4)
    assert p.cpu_s_per_video == pytest.approx(core_s / 600, abs=1e-4)
    assert p.gpu_hours == 0 and p.bottleneck == "cpu" and p.goal_met is None
    assert p.videos_per_min == pytest.approx(600 / (core_s / 2 / 60), abs=0.1)


def test_gpu_takes_detection_and_the_slower_resource_sets_the_wall() -> None:
    # CPU: 100·2 + 500·2.5 = 1,450 core-s on 4 cores = 362.5 s; GPU: 100·6 / 10 = 60 s
    fast = project(COSTS, MachineProfile("g", 1, 4, gpus=1, gpu_detect_speedup=10, speedup_source="x"), CORPUS)
    assert fast.bottleneck == "cpu" and fast.wall_hours * 3600 == pytest.approx(362.5, abs=0.5)
    assert fast.gpu_hours * 3600 == pytest.approx(60.0, abs=0.5)
    # a GPU only 1.5x one core: 600 / 1.5 = 400 s > 362.5 s
    slow = project(COSTS, MachineProfile("g", 1, 4, gpus=1, gpu_detect_speedup=1.5, speedup_source="x"), CORPUS)
    assert slow.bottleneck == "gpu" and slow.wall_hours * 3600 == pytest.approx(400.0, abs=0.5)
    # nodes multiply both resources; efficiency divides the cores
    four = project(COSTS, MachineProfile("g", 4, 4, gpus=1, gpu_detect_speedup=10, speedup_source="x"), CORPUS)
    assert four.wall_hours == pytest.approx(fast.wall_hours / 4, abs=1e-4)
    half = project(COSTS, MachineProfile("h", 1, 2, efficiency=0.5), CORPUS)
    assert half.wall_hours * 3600 == pytest.approx(2050.0, abs=0.5)


def test_a_missed_goal_says_how_much_each_phase_must_shrink() -> None:
    # 2,050 core-s on 2 cores = 1,025 s; goal 900 s → 250 core-s too many
    goal = 900 / 3600
    p = project(COSTS, MachineProfile("two", 1, 2, goal_hours=goal), CORPUS)
    assert p.goal_met is False
    rows = {(r["kind"], r["phase"]): r for r in p.shrink}
    # 250 core-s over 100 originals = 2.5 s per original; over 500 fakes = 0.5 s per fake
    assert rows[("original", "detect")]["cut_s"] == pytest.approx(2.5) and rows[("original", "detect")]["to_s"] == 3.5
    assert rows[("fake", "decode")]["cut_s"] == pytest.approx(0.5) and rows[("fake", "decode")]["to_s"] == 0.5
    assert rows[("fake", "ssim")]["cut_pct"] == 100.0 and rows[("fake", "ssim")]["to_s"] == 0  # all of it
    assert rows[("original", "decode")]["possible_alone"] is False  # 2.5 s of a 1 s phase
    # applying one suggested cut meets the goal exactly
    cut = PhaseCosts({**COSTS.original, "detect": 3.5}, COSTS.fake, "cut")
    again = project(cut, MachineProfile("two", 1, 2, goal_hours=goal), CORPUS)
    assert again.goal_met is True and again.wall_hours * 3600 == pytest.approx(900, abs=0.5)
    assert project(COSTS, MachineProfile("two", 1, 2, goal_hours=1.0), CORPUS).shrink == []


def test_a_gpu_bound_miss_names_detection_on_the_gpu() -> None:
    prof = MachineProfile("g", 1, 64, gpus=1, gpu_detect_speedup=1.0, speedup_source="x", goal_hours=300 / 3600)
    p = project(COSTS, prof, CORPUS)  # GPU: 600 s, CPU: 1,450 / 64 s
    (row,) = p.shrink
    assert row["resource"] == "gpu" and row["phase"] == "detect" and row["cut_s"] == pytest.approx(3.0)


def test_resolution_factor_scales_every_phase() -> None:
    base = project(COSTS, MachineProfile("two", 1, 2), CORPUS)
    small = project(COSTS, MachineProfile("two", 1, 2), CorpusShape(600, 5 / 6, resolution_factor=0.5))
    assert small.wall_hours == pytest.approx(base.wall_hours / 2, abs=1e-4)


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="PhaseCosts.fake"):
        PhaseCosts(COSTS.original, {"decode": 1.0}, "x")
    with pytest.raises(ValueError, match="negative or NaN"):
        PhaseCosts({**COSTS.original, "detect": math.nan}, COSTS.fake, "x")
    with pytest.raises(ValueError, match="its source"):
        MachineProfile("g", 1, 16, gpus=1)


@pytest.mark.parametrize("fake_share", [0.0, 1.0])
def test_a_corpus_of_one_kind_projects_and_cuts_only_the_phases_it_has(fake_share: float) -> None:
    corpus = CorpusShape(videos=600, fake_share=fake_share)
    p = project(COSTS, MachineProfile("two", 1, 2, goal_hours=1 / 3600), corpus)  # every goal missed
    kinds = {r["kind"] for r in p.shrink}
    assert p.goal_met is False and kinds == ({"fake"} if fake_share == 1.0 else {"original"})
    gpu = MachineProfile("g", 1, 2, gpus=1, gpu_detect_speedup=1.0, speedup_source="x", goal_hours=1 / 3600)
    assert project(COSTS, gpu, corpus).goal_met is False  # no division by an empty kind
    for bad in (dict(fake_share=1.5), dict(fake_share=-0.1), dict(videos=0), dict(resolution_factor=0.0)):
        with pytest.raises(ValueError, match="corpus shape"):
            CorpusShape(**bad)  # type: ignore[arg-type]


def test_standard_profiles_and_document() -> None:
    a, b, c = standard_profiles(20.0, "ASSUMED: test")
    assert (a.cores, a.gpus, a.goal_hours) == (2, 0, 48.0)
    assert (b.nodes, b.cores, b.gpus, b.goal_hours) == (1, 16, 1, None)
    assert (c.nodes, c.goal_hours) == (4, 4.0)
    doc = project_all(COSTS, [a, b, c])
    assert doc["corpus"]["videos"] == 119_154 and len(doc["profiles"]) == 3
    assert doc["profiles"][c.name]["profile"]["speedup_source"] == "ASSUMED: test"
