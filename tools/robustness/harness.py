"""Build every hostile run from a tiny clean base, run the real stages, compare outcomes.

`run_catalogue` is the whole thing; `python -m tools.robustness` (``make robustness``)
writes its result to reports/robustness.json. See docs/robustness.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tools.robustness import media
from tools.robustness.cases import CASES_NOT_RUN, GROUPS, PARAM_EDITS, Case, cases_of
from tools.robustness.rows import digest_rows, read_rows
from tools.robustness.runner import PART, REPO, StageRun, Workspace, run_command

PIPELINE = ("ingest", "faces", "masks")
#: Groups whose corpus root is a symlink and whose ingest runs under `dvc repro`.
DVC_GROUPS = ("links", "dangling_link_dvc")
REPORT_LIMIT = 100_000  # bytes, issue 14.12


# ----------------------------------------------------------------------------- the clean base


@dataclass(frozen=True)
class Base:
    """The clean base videos: two originals O1, O2 and one fake of each, F1, F2."""

    files: dict[str, Path]  # role -> mp4 in the generated sample
    names: dict[str, str]  # role -> file name
    #: the other originals of the sample's part 0, each with its first fake:
    #: name -> (mp4, label, original) (the split group needs three groups with fakes)
    extras: dict[str, tuple[Path, str, str | None]]

    def add_all(self, ws: Workspace) -> None:
        ws.add(self.names["O1"], self.files["O1"])
        ws.add(self.names["O2"], self.files["O2"])
        ws.add(self.names["F1"], self.files["F1"], "FAKE", self.names["O1"])
        ws.add(self.names["F2"], self.files["F2"], "FAKE", self.names["O2"])

    def ids(self) -> dict[str, str]:
        return {role: name.removesuffix(".mp4") for role, name in self.names.items()}


def generate_base(tmp_root: Path, sample_dir: Path | None = None) -> Base:
    """Generate the ci sample corpus (or reuse ``sample_dir``) and pick the base videos."""
    if sample_dir is None:
        from dfmask.corpus.sample import SamplePaths, run
        from dfmask.params import BaseParams, CorpusParams, SampleParams, load_section

        params = load_section(SampleParams, "sample", REPO / "params.yaml")
        cache = Path(os.environ.get("DFMASK_FACES_CACHE", REPO / params.sources_cache))
        sample_dir = tmp_root / "sample"
        params = dataclasses.replace(params, profile="ci", sources_cache=str(cache))
        base = load_section(BaseParams, "base", REPO / "params.yaml")
        corpus = CorpusParams(root=str(sample_dir / "corpus"), parts=(0, 1))
        run(params, corpus, base, SamplePaths(sample_dir, tmp_root / "sample_preview.png"))
    part = Path(sample_dir) / "corpus" / "dfdc_train_part_0"
    meta = json.loads((part / "metadata.json").read_text())
    fakes_of: dict[str, list[str]] = {}
    for name, entry in sorted(meta.items()):
        if entry.get("label") == "FAKE":
            fakes_of.setdefault(entry["original"], []).append(name)
    originals = [n for n, e in sorted(meta.items()) if e.get("label") == "REAL" and fakes_of.get(n)]
    if len(originals) < 2:
        raise RuntimeError(f"{part}: needs two originals with fakes")
    names = {"O1": originals[0], "O2": originals[1], "F1": fakes_of[originals[0]][0], "F2": fakes_of[originals[1]][0]}
    extras: dict[str, tuple[Path, str, str | None]] = {}
    for original in originals[2:]:
        extras[original] = (part / original, "REAL", None)
        extras[fakes_of[original][0]] = (part / fakes_of[original][0], "FAKE", original)
    return Base({role: part / name for role, name in names.items()}, names, extras)


# ----------------------------------------------------------------------------- reading outputs


@dataclass
class Outputs:
    """What one workspace's stages wrote (empty where a stage did not run)."""

    ingest: list[dict[str, Any]]
    face_status: list[dict[str, Any]]
    faces: Any  # pa.Table | None
    masks: Any  # pa.Table | None
    splits: list[dict[str, Any]]

    @classmethod
    def read(cls, ws: Workspace) -> Outputs:
        root = ws.root / "data"
        ingest = root / "interim" / "videos" / f"part={PART}.parquet"
        status = root / "interim" / "faces" / f"part={PART}" / "_status" / "videos.parquet"
        splits = root / "interim" / "splits.parquet"
        ran = {s for s, r in ws.runs.items() if r.ok}
        return cls(
            ingest=pq.read_table(ingest).to_pylist() if "ingest" in ran else [],
            face_status=pq.read_table(status).to_pylist() if "faces" in ran else [],
            faces=read_rows(list((root / "interim" / "faces" / f"part={PART}").glob("*.parquet")))
            if "faces" in ran
            else None,
            masks=read_rows(list((root / "processed" / "masks" / f"part={PART}").glob("*.parquet")))
            if "masks" in ran
            else None,
            splits=pq.read_table(splits).to_pylist() if "split" in ran else [],
        )

    def digests(self, video_id: str, rename: dict[str, str] | None = None) -> dict[str, str | None]:
        out = {}
        for name, table in (("faces", self.faces), ("masks", self.masks)):
            rows = [r for r in table.to_pylist() if r["video_id"] == video_id] if table is not None else []
            out[name] = digest_rows(rows, rename) if rows else None
        return out


def _failed_stage(ws: Workspace, stages: tuple[str, ...]) -> StageRun | None:
    for stage in stages:
        run = ws.runs.get(stage)
        if run is None or not run.ok:
            return run
    return None


def video_outcome(ws: Workspace, out: Outputs, filename: str, stages: tuple[str, ...] = PIPELINE) -> tuple[str, str]:
    """(outcome, stage) of one listed or present file, walking the stages in order."""

    def stopped(stage: str) -> tuple[str, str] | None:
        run = ws.runs.get(stage)
        if run is None:
            return "not_run", stage
        if not run.ok:
            return run.outcome, stage
        return None

    if (s := stopped("ingest")) is not None:
        return s
    rows = [r for r in out.ingest if r["filename"] == filename]
    if len(rows) != 1:
        return f"violated:{len(rows)} ingest rows for this file", "ingest"
    row = rows[0]
    if row["status"] != "ok":
        return f"status:{row['status']}", "ingest"
    video_id = row["video_id"]
    if "faces" in stages:
        if (s := stopped("faces")) is not None:
            return s
        status = [r for r in out.face_status if r["video_id"] == video_id]
        if len(status) != 1:
            return f"violated:{len(status)} faces status rows for video id {video_id!r}", "faces"
        if status[0]["status"] != "ok":
            return f"status:{status[0]['status']}", "faces"
    if "masks" in stages and row["is_fake"]:
        if (s := stopped("masks")) is not None:
            return s
        crops = sum(1 for r in out.faces.to_pylist() if r["video_id"] == video_id) if out.faces is not None else 0
        masks = sum(1 for r in out.masks.to_pylist() if r["video_id"] == video_id) if out.masks is not None else 0
        if crops == 0 or masks != crops:
            return f"violated:{masks} mask rows for {crops} fake crops", "masks"
    return "status:ok", stages[-1]


# ----------------------------------------------------------------------------- per-video groups


@dataclass
class GroupRun:
    ws: Workspace
    out: Outputs
    names: dict[str, str]  # subject key -> file name (for keys like "O1", "<long>")
    stages: tuple[str, ...] = PIPELINE
    lost: list[str] | None = None
    extra: dict[str, str] = dataclasses.field(default_factory=dict)  # subject -> outcome override


def _lost(out: Outputs, base: Base, reference: dict[str, dict[str, str | None]]) -> list[str]:
    """Base videos whose faces or masks rows differ from the clean-only run."""
    lost = []
    for role, video_id in sorted(base.ids().items()):
        got = out.digests(video_id)
        for table, want in reference[video_id].items():
            if got[table] != want:
                lost.append(f"{role} ({video_id}) {table} rows")
    return lost


def build_files(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    o1, o2, f1 = base.files["O1"], base.files["O2"], base.files["F1"]
    n = base.names
    part = ws.part_dir
    fps = media.fps_of(o1)
    ws.add("empty.mp4", None)
    (part / "empty.mp4").write_bytes(b"")
    data = o1.read_bytes()
    ws.add("truncated.mp4", None)
    (part / "truncated.mp4").write_bytes(data[: len(data) * 6 // 10])
    ws.add("random.mp4", None)
    (part / "random.mp4").write_bytes(random_bytes(65536))
    f1_frames = media.frames_of(f1)
    h, w = f1_frames[0].shape[:2]
    media.encode(media.no_face_frames(len(f1_frames), w, h), part / "noface.mp4", fps)
    ws.add("noface.mp4", None)
    media.encode(media.no_face_frames(len(f1_frames), w, h)[::-1], part / "noface_fake.mp4", fps)
    ws.add("noface_fake.mp4", None, "FAKE", "noface.mp4")
    for name, (tw, th) in (("tiny.mp4", (8, 8)), ("sliver.mp4", (2048, 2))):
        media.encode([media.np.full((th, tw, 3), 96 + 8 * i, media.np.uint8) for i in range(8)], part / name, fps)
        ws.add(name, None)
    # damaged headers: a frame count past int32 (one bit of stts), a codec FFmpeg has no decoder for
    media.patched(o2, part / "huge_count.mp4", b"stts", 12, xor=0x80)
    ws.add("huge_count.mp4", None)
    media.with_codec_tag(o2, part / "unknown_codec.mp4")
    ws.add("unknown_codec.mp4", None)
    # a text file FFmpeg would read as a concat list of a file the inventory never hashed
    shutil.copyfile(o2, part / "payload.bin")
    (part / "concat.mp4").write_text("ffconcat version 1.0\nfile 'payload.bin'\n")
    ws.add("concat.mp4", None)
    # O2 behind a one-frame, face-free thumbnail track listed first
    media.with_thumbnail_first(o2, part / "thumb_first.mp4", media.no_face_frames(1, w, h)[0])
    ws.add("thumb_first.mp4", None)
    media.encode(media.resized(f1_frames, 0.5), part / "small_fake.mp4", fps)
    ws.add("small_fake.mp4", None, "FAKE", n["O1"])
    media.encode(f1_frames[: max(1, len(f1_frames) // 2)], part / "short_fake.mp4", fps)
    ws.add("short_fake.mp4", None, "FAKE", n["O1"])
    media.encode(media.frames_of(o2), part / "mpeg4.mp4", fps, codec="mpeg4")
    ws.add("mpeg4.mp4", None)
    media.encode(f1_frames, part / "vp9_fake.mp4", fps, codec="libvpx-vp9")
    ws.add("vp9_fake.mp4", None, "FAKE", n["O1"])
    shutil.copyfile(o2, part.parent / "escape.mp4")
    ws.add("../escape.mp4", None)
    ws.add("/etc/abs.mp4", None)
    (part / "sub").mkdir()
    shutil.copyfile(o2, part / "sub" / "x.mp4")
    ws.add("sub/x.mp4", None)
    ws.add("..\\w.mp4", None)
    ws.add("missing.mp4", None)
    ws.add("fake_of_fake.mp4", f1, "FAKE", n["F1"])
    # A phone clip: coded sideways (display = coded turned 90° counter-clockwise).
    sideways = [media.np.ascontiguousarray(media.np.rot90(f, k=-1)) for f in media.frames_of(o2)]
    media.encode(sideways, part / "rot90.mp4", fps, rotation=90)
    ws.add("rot90.mp4", None)
    media.remux_rotation(f1, part / "rot180_fake.mp4", 180)
    ws.add("rot180_fake.mp4", None, "FAKE", n["O1"])
    return {}


def random_bytes(n: int) -> bytes:
    import numpy as np

    return np.random.default_rng(14).bytes(n)


def build_names(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    n, f = base.names, base.files
    ws.add("dup.mp4", f["O2"])
    ws.add("dup.MP4", f["O1"])
    ws.add("dupfake.mp4", f["F2"], "FAKE", "dup.mp4")
    ws.add("x", f["O1"])
    ws.add("x.mp4", f["O2"])
    ws.add("dupkey.mp4", f["F1"])
    ws.entries.append(("dupkey.mp4", {"label": "FAKE", "original": n["O1"], "split": "train"}))
    return {}


def _item_name(video_id: str) -> str:
    try:
        from dfmask.faces.stage import item_name
    except ImportError:  # moved by a later change: the scheme faces used before issue 14
        import hashlib

        return "h" + hashlib.sha256(video_id.encode()).hexdigest()[:24]
    return item_name(video_id)


LONG_NAME = "l" * 251 + ".mp4"


def build_legal_names(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    n, f = base.names, base.files
    ws.add(".hidden.mp4", f["F1"], "FAKE", n["O1"])
    return {}


def build_long_name(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    ws.add(LONG_NAME, base.files["F1"], "FAKE", base.names["O1"])
    return {"<long>": LONG_NAME}


def build_name_twin(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    n, f = base.names, base.files
    twin = _item_name("a b") + ".mp4"
    ws.add("a b.mp4", f["F2"], "FAKE", n["O2"])
    ws.add(twin, f["F1"], "FAKE", n["O1"])
    ws.add("sp ace é.mp4", f["F2"], "FAKE", n["O2"])
    return {"<twin>": twin}


def build_links(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    # ws/corpus is a symlink to a folder on "another disk"; the base videos live there.
    outside = tmp / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copyfile(base.files["O2"], outside / "real.mp4")
    import cv2

    frame = media.frames_of(base.files["O1"])[0]
    cv2.imwrite(str(outside / "face.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    part = ws.part_dir
    for name, target in (
        ("link_out.mp4", outside / "real.mp4"),
        ("link_jpeg.mp4", outside / "face.jpg"),
        ("passwd.mp4", Path("/etc/passwd")),
    ):
        (part / name).symlink_to(target)
        ws.add(name, None)
    return {}


def build_dangling_link(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    (ws.part_dir / "gone.mp4").symlink_to(tmp / "outside" / "no_such_file.mp4")
    ws.add("gone.mp4", None)
    return {}


def build_split(ws: Workspace, base: Base, tmp: Path) -> dict[str, str]:
    for name, (path, label, original) in base.extras.items():
        ws.add(name, path, label, original)
    shutil.copyfile(base.files["F1"], ws.part_dir / "unlisted.mp4")
    ws.add("lower.mp4", base.files["F1"], "fake", base.names["O1"])
    return {}


GROUP_BUILDERS: dict[str, tuple[Callable[[Workspace, Base, Path], dict[str, str]], tuple[str, ...]]] = {
    "files": (build_files, PIPELINE),
    "names": (build_names, PIPELINE),
    "legal_names": (build_legal_names, PIPELINE),
    "long_name": (build_long_name, PIPELINE),
    "name_twin": (build_name_twin, PIPELINE),
    "links": (build_links, PIPELINE),
    "dangling_link": (build_dangling_link, PIPELINE),
    "dangling_link_dvc": (build_dangling_link, PIPELINE),
    "split": (build_split, (*PIPELINE, "embed", "split")),
}


def run_group(
    group: str, tmp: Path, base: Base, reference: dict[str, dict[str, str | None]], log: Callable[[str], None]
) -> GroupRun:
    build, stages = GROUP_BUILDERS[group]
    corpus_root = "corpus"
    if group in DVC_GROUPS:
        disk = tmp / "disk" / group / "corpus"
        disk.mkdir(parents=True)
        ws = Workspace.create(tmp, group, corpus_root)
        (ws.root / corpus_root).symlink_to(disk, target_is_directory=True)
    else:
        ws = Workspace.create(tmp, group, corpus_root)
    ws.part_dir.mkdir(parents=True, exist_ok=True)
    base.add_all(ws)
    names = build(ws, base, tmp)
    ws.write_metadata()
    if group in DVC_GROUPS:
        if dvc_ingest(ws).ok:
            ws.run_pipeline(stages[1:])
    else:
        ws.run_pipeline(stages)
    log(f"{group}: " + ", ".join(f"{s} {r.outcome}" for s, r in ws.runs.items()))
    out = Outputs.read(ws)
    names.update(base.names)
    return GroupRun(ws, out, names, stages, _lost(out, base, reference))


DVC_YAML = """stages:
  inventory:
    cmd: {inventory_cmd}
    deps:
      - {corpus_dir}
    params:
      - corpus.root
      - corpus.parts
    outs:
      - {inventory}
  ingest:
    cmd: {cmd}
    deps:
      - {inventory}/part={part}.json
    params:
      - corpus.root
      - ingest.probe_decode
    outs:
      - {videos}/part={part}.parquet
    metrics:
      - {reports}/ingest/part={part}.json:
          cache: false
"""


def dvc_ingest(ws: Workspace) -> StageRun:
    """inventory and ingest@0 as `dvc repro` runs them (DVC hashes the corpus folder first)."""
    import shlex
    import sys

    from tools.stagecmd import stage_argv

    cmd = shlex.join(stage_argv("ingest", PART, ws.params))
    inventory_cmd = shlex.join(stage_argv("inventory", PART, ws.params))
    paths = ws.params["paths"]
    text = DVC_YAML.format(
        cmd=cmd,
        inventory_cmd=inventory_cmd,
        part=PART,
        corpus_dir=ws.params["corpus"]["root"],
        inventory=paths["inventory"],
        videos=paths["videos"],
        reports=paths["reports"],
    )
    (ws.root / "dvc.yaml").write_text(text)
    dvc = str(Path(sys.executable).with_name("dvc"))
    init = run_command("dvc", [dvc, "init", "--no-scm", "-q"], ws.root, ws.tmp_root)
    if not init.ok:
        ws.runs["ingest"] = init
        return init
    run = run_command("ingest", [dvc, "repro", "ingest"], ws.root, ws.tmp_root, dvc=True)
    ws.runs["ingest"] = run
    return run


def clean_reference(tmp: Path, base: Base, log: Callable[[str], None]) -> dict[str, dict[str, str | None]]:
    """Digests of the base videos' faces and masks rows in a run on them alone."""
    ws = Workspace.create(tmp, "clean")
    base.add_all(ws)
    ws.write_metadata()
    if not ws.run_pipeline(PIPELINE):
        bad = _failed_stage(ws, PIPELINE)
        raise RuntimeError(f"the clean base run failed: {bad}")
    out = Outputs.read(ws)
    log("clean: " + ", ".join(f"{s} {r.outcome}" for s, r in ws.runs.items()))
    return {vid: out.digests(vid) for vid in base.ids().values()}


def same_rows_outcome(run: GroupRun, base: Base, filename: str, source_role: str, outcome: str) -> str:
    """A renamed copy's rows must be its source's rows under its own name."""
    if outcome != "status:ok":
        return outcome
    video_id = next(r["video_id"] for r in run.out.ingest if r["filename"] == filename)
    source_id = base.ids()[source_role]
    got = run.out.digests(video_id, rename={video_id: source_id})
    want = run.out.digests(source_id)
    bad = [t for t in ("faces", "masks") if got[t] != want[t]]
    return f"violated:{'/'.join(bad)} rows differ from its source {source_role}'s" if bad else outcome


def split_outcome(run: GroupRun, filename: str, outcome: str) -> str:
    """An unknown label must never be REAL in splits.parquet."""
    if not outcome.startswith("status:") or run.ws.runs.get("split") is None:
        return outcome
    split_run = run.ws.runs["split"]
    if not split_run.ok:
        return split_run.outcome
    rows = [r for r in run.out.ingest if r["filename"] == filename]
    ids = {r["video_id"] for r in rows}
    as_real = [r for r in run.out.splits if r["video_id"] in ids and r["is_fake"] is False]
    return "violated:counted as REAL in splits.parquet" if as_real else outcome


# ----------------------------------------------------------------------------- other runs


def run_stale(tmp: Path, base: Base, log: Callable[[str], None]) -> dict[str, str]:
    """First run, XOR O1's mdat, rerun (resume state kept) vs a fresh run."""
    ws = Workspace.create(tmp, "stale")
    n, f = base.names, base.files
    ws.add(n["O1"], f["O1"])
    ws.add(n["F1"], f["F1"], "FAKE", n["O1"])
    ws.write_metadata()
    if not ws.run_pipeline(PIPELINE):
        return {"O1": "crash", "F1": "crash"}
    where = media.xor_mdat(ws.part_dir / n["O1"])
    ws.runs.clear()
    ws.run_pipeline(PIPELINE)
    rerun = Outputs.read(ws)
    fresh = Workspace.create(tmp, "stale_fresh")
    shutil.copytree(ws.part_dir, fresh.part_dir)
    fresh.run_pipeline(PIPELINE)
    fresh_out = Outputs.read(fresh)
    log(f"stale: XOR at {where}; rerun " + ", ".join(f"{s} {r.outcome}" for s, r in ws.runs.items()))
    result = {}
    for role in ("O1", "F1"):
        outcome, _ = video_outcome(ws, rerun, n[role])
        fresh_outcome, _ = video_outcome(fresh, fresh_out, n[role])
        vid = base.ids()[role]
        if outcome == fresh_outcome == "status:ok" and rerun.digests(vid) != fresh_out.digests(vid):
            stale = [t for t, d in rerun.digests(vid).items() if d != fresh_out.digests(vid)[t]]
            outcome = f"violated:{'/'.join(stale)} rows of the rerun are not a fresh run's (stale)"
        elif outcome != fresh_outcome:
            outcome = f"violated:rerun {outcome} but a fresh run {fresh_outcome}"
        result[role] = outcome
    return result


def run_location(tmp: Path, base: Base, log: Callable[[str], None]) -> dict[str, str]:
    """The same corpus at two absolute paths (corpus.root absolute, as for data on
    another disk): the ingest rows must be equal (the table's params metadata records
    corpus.root, so rows are compared, not file bytes)."""
    results: dict[str, str] = {}
    digests: list[str] = []
    for name in ("location_a", "location_b"):
        ws = Workspace.create(tmp, name)
        disk = tmp / "disks" / name / ("deeper/" * len(digests)) / "corpus"
        ws.params["corpus"]["root"] = str(disk)
        ws.write_params()
        ws.add(base.names["O1"], base.files["O1"])
        ws.add("missing.mp4", None)
        ws.write_metadata()
        run = ws.run("ingest")
        if not run.ok:
            results["missing.mp4"] = run.outcome
            break
        out = Outputs.read(ws)
        results["missing.mp4"], _ = video_outcome(ws, out, "missing.mp4", ("ingest",))
        digests.append(digest_rows(out.ingest))
    if len(digests) == 2 and digests[0] != digests[1] and results["missing.mp4"].startswith("status:"):
        results["missing.mp4"] = "violated:ingest rows differ with the corpus at another path"
    # 20,000 listed, missing files: the git-tracked report must stay small.
    ws = Workspace.create(tmp, "big_report")
    for i in range(20_000):
        ws.add(f"m{i:05d}.mp4", None)
    ws.write_metadata()
    run = ws.run("ingest")
    if not run.ok:
        results["report"] = run.outcome
    else:
        size = (ws.root / "reports" / "ingest" / f"part={PART}.json").stat().st_size
        results["report"] = "ok" if size <= REPORT_LIMIT else f"violated:report is {size / 1000:.0f} kB (> 100 kB)"
    log(f"location: {results}")
    return results


def run_metadata(tmp: Path, base: Base, case: Case) -> StageRun:
    ws = Workspace.create(tmp, f"metadata_{case.name}")
    ws.add(base.names["O1"], base.files["O1"])
    ws.write_metadata()
    meta = ws.part_dir / "metadata.json"
    if case.name == "malformed_json":
        meta.write_text('{"a.mp4": {"label": "REAL"},}')
    elif case.name == "json_not_object":
        meta.write_text('["a.mp4"]')
    elif case.name == "no_metadata":
        meta.unlink()
    elif case.name == "not_utf8":
        meta.write_bytes('{"caf\u00e9.mp4": {"label": "REAL"}}'.encode("latin-1"))
    elif case.name == "metadata_folder":
        meta.unlink()
        meta.mkdir()
    elif case.name == "deep_json":
        depth = 100_000
        meta.write_text('{"a.mp4": ' + "[" * depth + "]" * depth + "}")
    elif case.name == "readonly_output":
        out = ws.root / "data" / "interim" / "videos"
        out.mkdir(parents=True)
        return _run_read_only(ws, out)
    return ws.run("ingest")


def _run_read_only(ws: Workspace, folder: Path) -> StageRun:
    """ingest with its output folder read-only. Root ignores permission bits, so as root
    the folder is made immutable (chattr +i) for the run, and mutable again after."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return ws.run("ingest")
        finally:
            folder.chmod(0o755)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        return StageRun("ingest", "not_run", "running as root without chattr +i: no folder can be made read-only")
    try:
        return ws.run("ingest")
    finally:
        subprocess.run([chattr, "-i", str(folder)], capture_output=True, check=True)


def _param_text_edit(key: str) -> Callable[[str], str] | None:
    if key == "raw:fcaes":
        return lambda text: text + "fcaes:\n  size: 64\n"
    if key == "raw:dupkey":
        return lambda text: text.replace("\nfaces:\n", "\nfaces:\n  size: 64\n", 1)
    return None


def run_params(tmp: Path, base: Base, log: Callable[[str], None]) -> dict[str, StageRun]:
    """One run per bad param, on O1 + F1 already ingested (faces) or with faces (masks)."""
    prep = Workspace.create(tmp, "params_base")
    prep.add(base.names["O1"], base.files["O1"])
    prep.add(base.names["F1"], base.files["F1"], "FAKE", base.names["O1"])
    prep.write_metadata()
    if not prep.run_pipeline(("ingest", "faces")):
        failed = StageRun("params", "not_run", f"the params base run failed: {prep.runs}")
        return {name: failed for name, *_ in PARAM_EDITS}
    results = {}
    for name, _issue, stage, key, value in PARAM_EDITS:
        ws = Workspace.create(tmp, f"params_{name}")
        shutil.copytree(prep.root / "corpus", ws.root / "corpus")
        shutil.copytree(prep.root / "data" / "interim" / "videos", ws.root / "data" / "interim" / "videos")
        if stage == "masks":
            shutil.copytree(prep.root / "data" / "interim" / "faces", ws.root / "data" / "interim" / "faces")
        edit = _param_text_edit(key)
        if edit is None:
            section, leaf = key.split(".")
            ws.params[section][leaf] = value
        ws.write_params(edit)
        results[name] = ws.run(stage)
    log("params: " + ", ".join(f"{k} {r.outcome}" for k, r in results.items()))
    return results


CKPT_LOADER = (
    "import sys\n"
    "from dfmask.stage import run_stage\n"
    "from dfmask.model.uynet import load_checkpoint\n"
    "run_stage('load_checkpoint', lambda: str(load_checkpoint(sys.argv[1])[1]))\n"
)


class _Marker:
    """Unpickling this calls open(path, 'w'): a harmless stand-in for os.system."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def run_checkpoint(tmp: Path, log: Callable[[str], None]) -> dict[str, str]:
    import torch

    results = {}
    for case in ("load_checkpoint", "export"):
        ws = Workspace.create(tmp, f"checkpoint_{case}")
        marker = ws.root / "PICKLE_RAN"
        ckpt = ws.root / "models" / "train" / "uynet.ckpt"
        ckpt.parent.mkdir(parents=True)
        torch.save({"state_dict": {}, "hyper_parameters": {"payload": _Marker(marker)}}, ckpt)
        if case == "load_checkpoint":
            import sys

            run = run_command(case, [sys.executable, "-c", CKPT_LOADER, str(ckpt)], ws.root, tmp)
        else:
            run = ws.run("export")
        results[case] = "violated:the pickle ran (marker file created)" if marker.exists() else run.outcome
    log(f"checkpoint: {results}")
    return results


# ----------------------------------------------------------------------------- the catalogue


def _case_entry(
    case: Case,
    actual: dict[str, str],
    stage_of: dict[str, str],
    lost: list[str] | None,
    details: dict[str, str] | None = None,
) -> dict[str, Any]:
    videos: dict[str, dict[str, Any]] = {}
    for subject, expectation in case.expect.items():
        got = actual.get(subject, "not_run")
        videos[subject] = {"expected": str(expectation), "actual": got, "pass": expectation.matches(got)}
        if subject in stage_of:
            videos[subject]["stage"] = stage_of[subject]
        if details and details.get(subject):
            videos[subject]["detail"] = details[subject]
    expected = sorted({v["expected"] for v in videos.values()})
    actuals = sorted({v["actual"] for v in videos.values()})
    return {
        "case": case.name,
        "group": case.group,
        "issue": case.issue,
        "what": case.what,
        "expected": expected[0] if len(expected) == 1 else " | ".join(expected),
        "actual": actuals[0] if len(actuals) == 1 else " | ".join(actuals),
        "pass": all(v["pass"] for v in videos.values()) and not lost,
        "lost": lost,
        "known_limit": case.known_limit,
        "videos": videos,
    }


def run_catalogue(
    tmp: Path, sample_dir: Path | None = None, log: Callable[[str], None] = print, only: set[str] | None = None
) -> dict[str, Any]:
    """Run every case under ``tmp``; return the report (deterministic: no times, no paths)."""
    tmp = tmp.resolve()
    base = generate_base(tmp, sample_dir)
    log(f"base: {base.names}")
    wanted = [g for g in GROUPS if only is None or g in only]
    reference = clean_reference(tmp, base, log) if set(wanted) & set(GROUP_BUILDERS) else {}
    entries: list[dict[str, Any]] = []
    groups: dict[str, Any] = {}
    for group in wanted:
        cases = cases_of(group)
        if group in GROUP_BUILDERS:
            run = run_group(group, tmp, base, reference, log)
            groups[group] = {
                "stages": {s: r.outcome + (f" ({r.detail})" if r.detail else "") for s, r in run.ws.runs.items()},
                "lost": run.lost,
            }
            for case in cases:
                actual, stage_of, details = {}, {}, {}
                for subject in case.expect:
                    filename = run.names.get(subject, subject)
                    outcome, stage = video_outcome(run.ws, run.out, filename, run.stages)
                    if case.same_rows_as and subject in case.same_rows_as:
                        outcome = same_rows_outcome(run, base, filename, case.same_rows_as[subject], outcome)
                    if group == "split":
                        outcome = split_outcome(run, filename, outcome)
                    actual[subject], stage_of[subject] = outcome, stage
                    if stage in run.ws.runs and run.ws.runs[stage].detail and outcome == run.ws.runs[stage].outcome:
                        details[subject] = run.ws.runs[stage].detail
                entries.append(_case_entry(case, actual, stage_of, run.lost, details))
            continue
        if group == "stale":
            results = run_stale(tmp, base, log)
        elif group == "location":
            results = run_location(tmp, base, log)
        elif group == "metadata":
            runs = {case.name: run_metadata(tmp, base, case) for case in cases}
            log("metadata: " + ", ".join(f"{k} {r.outcome}" for k, r in runs.items()))
        elif group == "params":
            runs = run_params(tmp, base, log)
        else:
            results = run_checkpoint(tmp, log)
        for case in cases:
            details = {}
            if group in ("metadata", "params"):
                run_ = runs[case.name]
                actual = {subject: run_.outcome for subject in case.expect}
                details = {subject: run_.detail for subject in case.expect if run_.detail}
            else:
                actual = {subject: results.get(subject, "not_run") for subject in case.expect}
            entries.append(_case_entry(case, actual, {}, None, details))
    for case in CASES_NOT_RUN:
        entries.append(
            {
                "case": case.name,
                "group": case.group,
                "issue": case.issue,
                "what": case.what,
                "expected": None,
                "actual": "not_run",
                "pass": None,
                "lost": None,
                "covered_by": case.covered_by,
            }
        )
    ran = [e for e in entries if e["pass"] is not None and not e.get("known_limit")]
    limited = [e for e in entries if e["pass"] is not None and e.get("known_limit")]
    return {
        "about": "Hostile-input catalogue of issue 14 (docs/robustness.md): per case the expected outcome, "
        "the actual one and whether rows of the clean base videos were lost. Rebuild: make robustness.",
        "base_videos": base.names,
        "summary": {
            "cases": len(ran),
            "pass": sum(1 for e in ran if e["pass"]),
            "fail": sum(1 for e in ran if not e["pass"]),
            "crash": sorted(e["case"] for e in ran if "crash" in e["actual"].split(" | ")),
            "lost": sorted(e["case"] for e in ran if e["lost"]),
            "not_run": sorted(e["case"] for e in entries if e["pass"] is None),
            "known_limit": {e["case"]: "pass" if e["pass"] else "fail" for e in limited},
        },
        "groups": groups,
        "cases": entries,
    }


def main_run(
    out: Path, work: Path | None, sample_dir: Path | None, only: set[str] | None, keep: bool
) -> dict[str, Any]:
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="robustness-", dir=work))
    else:
        tmp = Path(tempfile.mkdtemp(prefix="dfmask-robustness-"))
    try:
        report = run_catalogue(tmp, sample_dir, only=only)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report
