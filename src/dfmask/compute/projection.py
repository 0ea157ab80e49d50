"""Wall time of faces + masks over all of DFDC, from measured per-video phase costs.

Pure arithmetic (no I/O, no stage package): `project` turns the per-video seconds of
each phase, measured on one CPU core (``tools/bench/phases.py`` →
``reports/bench_phases.json``), and a `MachineProfile` into a wall time. The formula
(docs/projection.md):

* per video of the corpus, on average (φ = share of fakes):
  CPU seconds  c = (1 − φ)·(decode_o + crop_o) + φ·(decode_f + crop_f + ssim_f)
  detect seconds d = (1 − φ)·detect_o  (only originals are detected; fakes reuse boxes)
* without a GPU, detection runs on the cores: T = N·(c + d) / (nodes·cores·e)
* with GPUs, it runs there, at ``gpu_detect_speedup`` times one core's speed, in
  parallel with the CPU work (originals on GPU actors, everything else on CPU tasks):
  T = max(N·c / (nodes·cores·e), N·d / (nodes·gpus·s))

``e`` (`MachineProfile.efficiency`) is the share of the cores' time spent in per-video
work (1 = ideal packing; stage start-up and the per-part tail are outside the model).
Costs scale with ``resolution_factor`` (pixels relative to the bench's 1920×1080).

Where a goal is missed, `Projection.shrink` says, for each phase on the bottleneck
resource, how many seconds per video it would have to lose (alone) to meet it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Phases measured per video, by kind of video (seconds on one core).
ORIGINAL_PHASES = ("decode", "detect", "crop_png")
FAKE_PHASES = ("decode", "crop_png", "ssim")


@dataclass(frozen=True)
class PhaseCosts:
    """Seconds of one CPU core per video, by phase (10 s 1080p clip, the faces params' frames).

    ``original``: decode of the sampled frames, detection (rescale + MTCNN + tracking),
    crops + PNG. ``fake``: decode, crops + PNG (at the original's boxes), and the masks
    stage's work for its crop pairs (PNG decode, SSIM, mask PNG). ``source`` names where
    the figures come from.
    """

    original: dict[str, float]
    fake: dict[str, float]
    source: str

    def __post_init__(self) -> None:
        for kind, phases, got in (("original", ORIGINAL_PHASES, self.original), ("fake", FAKE_PHASES, self.fake)):
            if set(got) != set(phases):
                raise ValueError(f"PhaseCosts.{kind}: phases {sorted(got)}, expected {sorted(phases)}")
            if any(not v >= 0 for v in got.values()):
                raise ValueError(f"PhaseCosts.{kind}: a negative or NaN cost in {got}")


@dataclass(frozen=True)
class CorpusShape:
    """The corpus projected onto: DFDC by default (119,154 videos, ~1:5 real:fake, 10 s)."""

    videos: int = 119_154
    fake_share: float = 5 / 6
    resolution_factor: float = 1.0  # cost relative to the bench's 1080p (DFDC: mostly 1080p)
    name: str = "DFDC (119,154 videos, ~1:5 real:fake, 10 s clips, mostly 1080p)"

    def __post_init__(self) -> None:
        if self.videos < 1 or not 0.0 <= self.fake_share <= 1.0 or not self.resolution_factor > 0:
            raise ValueError(
                f"corpus shape: videos >= 1, fake_share in [0, 1] and resolution_factor > 0, got "
                f"{self.videos}, {self.fake_share}, {self.resolution_factor}"
            )


@dataclass(frozen=True)
class MachineProfile:
    """Where the work runs: ``nodes`` machines of ``cores`` cores and ``gpus`` GPUs each."""

    name: str
    nodes: int
    cores: int
    gpus: int = 0
    gpu_detect_speedup: float | None = None  # one GPU's detect throughput, in cores' worth
    speedup_source: str | None = None  # "measured: ..." or "ASSUMED: ..." (required with gpus)
    efficiency: float = 1.0  # share of core time spent in per-video work
    efficiency_source: str = "ASSUMED: ideal packing (start-up and per-part tail ignored)"
    goal_hours: float | None = None

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.cores < 1 or self.gpus < 0 or not 0 < self.efficiency <= 1:
            raise ValueError(f"MachineProfile {self.name}: nodes, cores >= 1, gpus >= 0, efficiency in (0, 1]")
        if self.gpus and not (self.gpu_detect_speedup and self.gpu_detect_speedup > 0 and self.speedup_source):
            raise ValueError(f"MachineProfile {self.name}: with GPUs, give gpu_detect_speedup > 0 and its source")


@dataclass(frozen=True)
class Projection:
    """The projected wall time of one profile and how it was reached."""

    profile: MachineProfile
    cpu_s_per_video: float  # c (detection included when there is no GPU)
    gpu_s_per_video: float  # d / s (0 without GPU)
    cpu_hours: float
    gpu_hours: float
    wall_hours: float
    videos_per_min: float
    bottleneck: str  # "cpu" or "gpu"
    goal_met: bool | None
    shrink: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["profile"] = asdict(self.profile)
        return out


def _round(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def project(costs: PhaseCosts, profile: MachineProfile, corpus: CorpusShape = CorpusShape()) -> Projection:
    """Faces + masks wall time of ``corpus`` on ``profile`` from ``costs`` (module docstring)."""
    phi, r, n = corpus.fake_share, corpus.resolution_factor, corpus.videos
    o, f = costs.original, costs.fake
    # seconds per average video of each phase, on the resource it runs on
    share = {
        ("original", "decode"): (1 - phi) * o["decode"] * r,
        ("original", "crop_png"): (1 - phi) * o["crop_png"] * r,
        ("fake", "decode"): phi * f["decode"] * r,
        ("fake", "crop_png"): phi * f["crop_png"] * r,
        ("fake", "ssim"): phi * f["ssim"] * r,
    }
    detect = (1 - phi) * o["detect"] * r
    on_gpu = profile.gpus > 0
    cpu_phases = dict(share) if on_gpu else {**share, ("original", "detect"): detect}
    cpu_capacity = profile.nodes * profile.cores * profile.efficiency  # core-seconds per second
    cpu_s = sum(cpu_phases.values())
    cpu_wall = n * cpu_s / cpu_capacity
    gpu_capacity = profile.nodes * profile.gpus * (profile.gpu_detect_speedup or 0.0)
    gpu_wall = n * detect / gpu_capacity if on_gpu else 0.0
    wall = max(cpu_wall, gpu_wall)
    bottleneck = "gpu" if gpu_wall > cpu_wall else "cpu"
    goal_met = None if profile.goal_hours is None else wall <= profile.goal_hours * 3600
    shrink: list[dict[str, Any]] = []
    if goal_met is False:
        assert profile.goal_hours is not None
        goal_s = profile.goal_hours * 3600
        if cpu_wall > goal_s:
            # the CPU phases together must lose (cpu_wall − goal)·capacity / N seconds per video
            excess = (cpu_wall - goal_s) * cpu_capacity / n
            for (kind, phase), value in sorted(cpu_phases.items(), key=lambda kv: -kv[1]):
                kind_share = (phi if kind == "fake" else 1 - phi) * r
                if kind_share == 0:  # a corpus without that kind of video: nothing to cut there
                    continue
                own = value / kind_share  # back to per-video of its kind
                need = excess / kind_share
                shrink.append(_shrink_row("cpu", kind, phase, own, need))
        if gpu_wall > goal_s and (1 - phi) * r > 0:
            need = (gpu_wall - goal_s) * gpu_capacity / n / ((1 - phi) * r)
            shrink.append(_shrink_row("gpu", "original", "detect", o["detect"], need))
    return Projection(
        profile=profile,
        cpu_s_per_video=_round(cpu_s),
        gpu_s_per_video=_round(detect / (profile.gpu_detect_speedup or 1.0) if on_gpu else 0.0),
        cpu_hours=_round(cpu_wall / 3600),
        gpu_hours=_round(gpu_wall / 3600),
        wall_hours=_round(wall / 3600),
        videos_per_min=_round(n / (wall / 60), 1) if wall > 0 else float("inf"),
        bottleneck=bottleneck,
        goal_met=goal_met,
        shrink=shrink,
    )


def _shrink_row(resource: str, kind: str, phase: str, now: float, need: float) -> dict[str, Any]:
    """One phase's required cut (seconds per video of its kind, alone), or that it cannot."""
    possible = need <= now * (1 + 1e-9)  # down to 0 at most
    return {
        "resource": resource,
        "kind": kind,
        "phase": phase,
        "now_s": _round(now),
        "cut_s": _round(need),
        "to_s": _round(max(now - need, 0.0)) if possible else None,
        "cut_pct": _round(100 * need / now, 1) if now > 0 else None,
        "possible_alone": possible,
    }


def standard_profiles(gpu_detect_speedup: float, speedup_source: str) -> list[MachineProfile]:
    """The three profiles of issue 20: (a) this 2-core machine (goal 48 h), (b) one node
    of 16 cores + 1 GPU, (c) 4 such nodes (goal 4 h, i.e. >= 500 videos/min)."""
    s, src = gpu_detect_speedup, speedup_source
    return [
        MachineProfile("a: this machine, 2 cores", nodes=1, cores=2, goal_hours=48.0),
        MachineProfile("b: 1 node, 16 cores + 1 GPU", 1, 16, gpus=1, gpu_detect_speedup=s, speedup_source=src),
        MachineProfile(
            "c: 4 nodes, 16 cores + 1 GPU each", 4, 16, gpus=1, gpu_detect_speedup=s, speedup_source=src, goal_hours=4.0
        ),
    ]


def project_all(
    costs: PhaseCosts, profiles: list[MachineProfile], corpus: CorpusShape = CorpusShape()
) -> dict[str, Any]:
    """Every profile's projection, with the inputs, as one JSON-able document."""
    return {
        "corpus": asdict(corpus),
        "costs": asdict(costs),
        "profiles": {p.name: project(costs, p, corpus).to_dict() for p in profiles},
    }
