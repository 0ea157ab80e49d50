"""Generate the sample corpus: a DFDC-layout corpus of real faces and face swaps of
several methods at several encoder qualities.

Output (always under ``paths.sample``, ``data/sample/`` in params.yaml; never
``corpus.root`` when that points elsewhere):

* ``corpus/dfdc_train_part_<N>/metadata.json`` + ``<10 letters>.mp4`` (H.264 yuv420p);
* ``ground_truth.parquet`` (`dfmask.schemas.ground_truth.GROUND_TRUTH`), every frame;
* ``codec_pairs/`` (`dfmask.schemas.ground_truth.CODEC_PAIRS`): a few originals
  re-encoded at another CRF, a test fixture outside the corpus;
* the preview (``<paths.reports>/sample_preview.png``): original | fake | true mask for
  several fakes.

How a video is made: `dfmask.corpus.plan` draws the layout, each fake's method and
every video's encoder settings; `dfmask.corpus.animate` renders an original's raw
frames and per-frame landmarks from a photo or a real clip; `dfmask.corpus.swap` makes
each fake from those SAME raw frames (equal outside the true mask). Each video is
encoded by `dfmask.video.encode_video` with its own settings: a fake with its
original's, unless the plan says it differs.

When ``corpus.root`` is not the sample's corpus folder (`dfmask.corpus.corpus_kind`),
nothing is generated: the stage writes ``NOT_GENERATED.md`` saying why, and a
placeholder preview. `run` is the stage.

The stage is the first of the pipeline to read ``corpus.root``, so it checks a root
elsewhere before anything else (`check_corpus_root`): a missing folder or part stops
it with one line, before it clears its output and before DVC hashes the ingest stages'
part folders (which would fail with a bare ``[Errno 2]``). The failed run updates no
dvc.lock entry, so setting ``corpus.root`` back finds the sample stage unchanged and DVC
checks the generated sample out of its cache instead of generating it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask.corpus import codec_pairs_dir, corpus_kind, preview, quoted_root, sample_corpus_dir, sample_truth, sources
from dfmask.corpus.animate import FaceTrack, Rendered, animate_still, photo_face, read_clip, render_clip
from dfmask.corpus.catalogue import DONOR_FRAMES, Clip, Composite, Still, still_files
from dfmask.corpus.landmarks import detect_landmarks
from dfmask.corpus.plan import FakePlan, OriginalPlan, make_plan
from dfmask.corpus.swap import BLENDS, swap_face, triangles
from dfmask.corpus.truthrows import encode_codec_pair, video_rows
from dfmask.errors import DfmaskError
from dfmask.params import BaseParams, CorpusParams, SampleParams, SampleSizeParams, to_dict
from dfmask.progress import progress
from dfmask.schemas.ground_truth import CODEC_PAIRS, GROUND_TRUTH
from dfmask.tables import image_cell, to_table, write_json, write_table
from dfmask.video import encode_video, probe

CLIP_TRIES = 8  # seeded clip starts tried until every frame has a face
MIN_RENDER_PX = 16  # px: smallest donor face height an autoencoder fake renders (landmarks still usable)
REPEAT_SHIFT = 0.25  # s: shift of a fixed-start clip each time it is reused


@dataclass(frozen=True)
class SamplePaths:
    """Where the ``sample`` stage writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    out: Path  # paths.sample: corpus/ and ground_truth.parquet, or only NOT_GENERATED.md
    preview: Path  # <paths.reports>/sample_preview.png


@dataclass
class Summary:
    """What `run` made (or why it made nothing)."""

    generated: bool
    corpus: Path
    parts: dict[int, dict[str, int]] = field(default_factory=dict)  # part → {"REAL": n, "FAKE": n}
    actors: int = 0
    methods: dict[str, int] = field(default_factory=dict)  # fake method → count
    crfs: dict[int, int] = field(default_factory=dict)  # CRF → videos encoded with it
    codec_pairs: int = 0
    reason: str = ""

    def summary(self) -> str:
        if not self.generated:
            return f"no sample generated ({self.reason})"
        real = sum(p["REAL"] for p in self.parts.values())
        fake = sum(p["FAKE"] for p in self.parts.values())
        methods = ", ".join(f"{k} {v}" for k, v in sorted(self.methods.items()))
        crf = f"CRF {min(self.crfs)}–{max(self.crfs)}" if self.crfs else "no CRF"
        return (
            f"{real + fake} videos ({real} real, {fake} fake: {methods}; {crf}) in {len(self.parts)} "
            f"parts, {self.actors} actors, {self.codec_pairs} codec pairs → {self.corpus}"
        )


def run(params: SampleParams, corpus_params: CorpusParams, base: BaseParams, paths: SamplePaths) -> Summary:
    """The ``sample`` stage: generate the sample corpus under ``paths.out`` (or only the
    NOT_GENERATED note) and the preview; see module docstring."""
    corpus_root, seed = corpus_params.root, base.seed
    out = Path(paths.out)
    corpus = sample_corpus_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    if corpus_kind(corpus_root, out) != "sample":
        check_corpus_root(corpus_root, corpus_params.parts, corpus_params.kind)
        reason = f"corpus.root = {corpus_root} is not the sample's corpus folder {corpus}"
        _clear(out)
        # the note and the placeholder are outputs: they name corpus.root only when it lies
        # inside the repository (`quoted_root`); the summary above is the run's log
        inside = quoted_root(corpus_root)
        (out / "NOT_GENERATED.md").write_text(
            "# No sample corpus generated\n\n"
            f"`corpus.root` is {f'`{inside}`' if inside else 'a folder outside the repository'}, "
            f"not the sample's corpus folder `{corpus}`.\n"
            "The pipeline reads the corpus at `corpus.root` (a real DFDC download, never a DVC\n"
            "output), so the `sample` stage generates nothing. Set `corpus.root` back to\n"
            f"`{corpus}` in params.yaml to generate the sample corpus.\n"
        )
        preview.placeholder(
            paths.preview, f"no sample generated: corpus.root = {inside or 'a folder outside the repository'}"
        )
        return Summary(False, corpus, reason=reason)
    size = params.size()
    bad = [p for p in corpus_params.parts if not 0 <= p < size.parts]
    if bad:
        raise DfmaskError(
            f"params: corpus.parts lists part {bad[0]}, but sample.{params.profile}.parts = "
            f"{size.parts} generates parts 0..{size.parts - 1}; change one of them"
        )
    cache = sources.require(params.sources_cache)
    plans = make_plan(size, seed)
    _clear(out)
    gen = _Generator(cache, size, seed)
    rows: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    metadata: dict[int, dict[str, dict[str, str]]] = {p: {} for p in range(size.parts)}
    shows: list[preview.Shot] = []
    want_shots = preview.pick(plans)
    for plan in progress(plans, desc="sample", unit="original"):
        rendered = gen.original(plan)
        part_dir = corpus / f"dfdc_train_part_{plan.part}"
        encode_video(rendered.frames, part_dir / f"{plan.video_id}.mp4", size.fps, plan.crf, plan.preset)
        metadata[plan.part][f"{plan.video_id}.mp4"] = {"label": "REAL", "split": "train"}
        rows += video_rows(plan, None, rendered, None, size.fps)
        if plan.codec_pair is not None:
            pairs.append(encode_codec_pair(out, plan, rendered, size.fps))
        for fake in plan.fakes:
            shot_at = preview.shot_index(rendered) if fake.video_id in want_shots else -1
            masks, kept = gen.encode_fake(plan, fake, rendered, part_dir / f"{fake.video_id}.mp4", shot_at)
            metadata[plan.part][f"{fake.video_id}.mp4"] = {
                "label": "FAKE",
                "split": "train",
                "original": f"{plan.video_id}.mp4",
            }
            rows += video_rows(plan, fake, rendered, masks, size.fps)
            if kept is not None:
                shows.append(preview.shot(plan, fake, rendered, *kept))
    for part, entries in metadata.items():
        write_json(corpus / f"dfdc_train_part_{part}" / "metadata.json", entries)
    write_table(
        to_table(GROUND_TRUTH, rows),
        sample_truth(out),
        GROUND_TRUTH,
        "sample",
        params={"seed": seed, "profile": params.profile, "size": to_dict(size)},
    )
    write_table(
        to_table(CODEC_PAIRS, pairs),
        codec_pairs_dir(out) / "codec_pairs.parquet",
        CODEC_PAIRS,
        "sample",
        params={"seed": seed, "profile": params.profile},
    )
    preview.contact_sheet(paths.preview, shows)
    summary = Summary(True, corpus, actors=len({a for p in plans for a in p.actors}), codec_pairs=len(pairs))
    for part, entries in metadata.items():
        labels = [e["label"] for e in entries.values()]
        summary.parts[part] = {"REAL": labels.count("REAL"), "FAKE": labels.count("FAKE")}
    for plan in plans:
        summary.crfs[plan.crf] = summary.crfs.get(plan.crf, 0) + 1
        for fake in plan.fakes:
            summary.methods[fake.method] = summary.methods.get(fake.method, 0) + 1
            summary.crfs[fake.crf] = summary.crfs.get(fake.crf, 0) + 1
    return summary


def check_corpus_root(root: str, parts: tuple[int, ...] | list[int], kind: str = "dfdc") -> None:
    """Refuse a ``corpus.root`` that is not a folder, or (``kind: dfdc``) lacks a part of
    ``corpus.parts``.

    Raises:
        DfmaskError: one line naming the missing folder and the key that points at it.
    """
    folder = Path(root)
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise DfmaskError(
            f"corpus.root: {root}: {what} (a DFDC download holding dfdc_train_part_N/ folders, "
            "or the sample's data/sample/corpus)"
        )
    if kind != "dfdc":
        return  # its parts are the adapter's (docs/corpora.md): the inventory stage names a missing one
    missing = [p for p in parts if not (folder / f"dfdc_train_part_{p}").is_dir()]
    if missing:
        raise DfmaskError(
            f"corpus.parts: {folder / f'dfdc_train_part_{missing[0]}'}: no such folder "
            f"(corpus.parts lists {missing[0]}; {len(missing)} of {len(parts)} parts missing under corpus.root)"
        )


def _clear(out: Path) -> None:
    """Remove a previous sample's files under ``out`` (only the ones we write)."""
    shutil.rmtree(out / "corpus", ignore_errors=True)
    shutil.rmtree(codec_pairs_dir(out), ignore_errors=True)
    sample_truth(out).unlink(missing_ok=True)
    (out / "NOT_GENERATED.md").unlink(missing_ok=True)


class _Generator:
    """Renders originals and fakes; caches photos, landmarks and donor faces."""

    def __init__(self, cache: Path, size: SampleSizeParams, seed: int) -> None:
        self.cache, self.size, self.seed = cache, size, seed
        self.n_frames = max(1, round(size.seconds * size.fps))
        self._photos: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _path(self, name: str) -> Path:
        return self.cache / name

    def photo(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._photos:
            self._photos[name] = photo_face(self._path(name))
        return self._photos[name]

    def _size(self, portrait: bool) -> tuple[int, int]:
        w, h = self.size.width, self.size.height
        return (h, w) if portrait else (w, h)

    def original(self, plan: OriginalPlan) -> Rendered:
        rng = np.random.default_rng([self.seed, 1, plan.index])
        item, n = plan.item, self.n_frames
        if isinstance(item, Still):
            image, points = self.photo(item.file)
            frames, track = animate_still(image, points, self._size(plan.portrait), n, rng)
            return Rendered(frames, [FaceTrack(plan.actors[0], list(track))], f"{item.file} animated")
        if isinstance(item, Composite):
            width, height = self._size(False)
            half = width // 2
            panels, tracks = [], []
            for k, (actor, pw) in enumerate(((item.left, half), (item.right, width - half))):
                image, points = self.photo(still_files(actor)[0])
                frames, track = animate_still(image, points, (pw, height), n, rng)
                panels.append(frames)
                offset = np.array([k * half, 0.0])
                tracks.append(FaceTrack(actor, [p + offset for p in track]))
            frames = [np.ascontiguousarray(np.hstack([a, b])) for a, b in zip(*panels, strict=True)]
            names = "+".join(still_files(a)[0] for a in (item.left, item.right))
            return Rendered(frames, tracks, f"{names} composite animated")
        return self._clip(plan, item, rng)

    def _clip(self, plan: OriginalPlan, item: Clip, rng: np.random.Generator) -> Rendered:
        path, seconds = self._path(item.file), self.size.seconds
        if item.start is not None or item.cut is not None:
            start = item.start if item.start is not None else (item.cut or 0.0) - seconds / 2
            # A fixed clip used again starts REPEAT_SHIFT s earlier per reuse (never an
            # exact duplicate original); clamped to the video.
            duration = probe(path, decode=False).duration
            start -= REPEAT_SHIFT * plan.repeat
            starts = [round(min(max(0.0, start), max(0.0, duration - seconds - 0.05)), 2)]
        else:
            duration = probe(path, decode=False).duration
            if duration < seconds + 0.5:
                raise DfmaskError(f"{path}: {duration:.1f}s is too short for {seconds}s clips")
            starts = [round(float(rng.uniform(0.0, duration - seconds - 0.5)), 2) for _ in range(CLIP_TRIES)]
        best: tuple[float, float, list[np.ndarray], list[np.ndarray | None]] | None = None
        for start in starts:
            frames, track = render_clip(path, start, self._size(False), self.n_frames, self.size.fps)
            coverage = sum(p is not None for p in track) / len(track)
            if best is None or coverage > best[0]:
                best = (coverage, start, frames, track)
            if coverage == 1.0:
                break
        assert best is not None
        _, start, frames, track = best
        return Rendered(frames, [FaceTrack(plan.actors[0], track)], f"{item.file}@{start:.2f}s")

    def donor_face(self, actor: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A donor image of ``actor`` and its landmarks (a photo, or a video frame)."""
        options: list[tuple[str, float | None]] = [(f, None) for f in still_files(actor)]
        options += list(DONOR_FRAMES.get(actor, ()))
        if not options:
            raise DfmaskError(f"catalogue: actor {actor!r} has no donor photo or frame")
        name, t = options[int(rng.integers(len(options)))]
        if t is None:
            return self.photo(name)
        key = f"{name}@{t}"
        if key not in self._photos:
            frame = read_clip(self._path(name), t, 1, 25.0)[0]
            faces = detect_landmarks(frame, upsample=1)
            if not faces:
                raise DfmaskError(f"{name} at {t}s: dlib finds no face; pick another donor frame")
            self._photos[key] = (frame, faces[0])
        return self._photos[key]

    def iter_fake(
        self, plan: OriginalPlan, fake: FakePlan, rendered: Rendered
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The fake's raw frames and true masks (uint8, 255 = manipulated), one frame at
        a time (a 1080p video does not need a second copy in memory)."""
        rng = np.random.default_rng([self.seed, 2, fake.index])
        donor, donor_points = self.donor_face(fake.donor, rng)
        height, width = rendered.frames[0].shape[:2]
        empty = np.zeros((height, width), np.uint8)
        if fake.method == "no_change":
            for frame in rendered.frames:
                yield frame, empty
            return
        render_px = None
        if fake.render_scale is not None:
            sizes = [float(np.ptp(p[:, 1])) for p in rendered.faces[0].landmarks if p is not None]
            render_px = max(MIN_RENDER_PX, round(fake.render_scale * float(np.median(sizes)))) if sizes else None
        donor, donor_points = _shrink(donor, donor_points, rendered.faces[0].landmarks, render_px)
        blend = BLENDS[fake.method]
        tris = triangles(donor_points)
        for frame, points in zip(rendered.frames, rendered.faces[0].landmarks, strict=True):
            if points is None:
                yield frame, empty
            else:
                yield swap_face(frame, points, donor, donor_points, blend, tris)

    def fake(self, plan: OriginalPlan, fake: FakePlan, rendered: Rendered) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """All of `iter_fake` as lists ``(frames, masks)``."""
        frames, masks = [], []
        for frame, mask in self.iter_fake(plan, fake, rendered):
            frames.append(frame)
            masks.append(mask)
        return frames, masks

    def encode_fake(
        self, plan: OriginalPlan, fake: FakePlan, rendered: Rendered, path: Path, keep: int
    ) -> tuple[list[dict[str, Any]], tuple[np.ndarray, np.ndarray] | None]:
        """Encode a fake to ``path`` while rendering it; return its mask PNG cells and
        ``(frame, mask)`` of frame ``keep`` (None if ``keep`` < 0)."""
        cells: list[dict[str, Any]] = []
        kept: list[tuple[np.ndarray, np.ndarray]] = []
        empty_cell: dict[str, Any] | None = None

        def frames() -> Iterator[np.ndarray]:
            nonlocal empty_cell
            for i, (frame, mask) in enumerate(self.iter_fake(plan, fake, rendered)):
                if mask.any():
                    cells.append(image_cell(mask))
                else:
                    empty_cell = empty_cell or image_cell(mask)
                    cells.append(empty_cell)
                if i == keep:
                    kept.append((frame, mask))
                yield frame

        encode_video(frames(), path, self.size.fps, fake.crf, fake.preset)
        return cells, (kept[0] if kept else None)


def _shrink(
    donor: np.ndarray, points: np.ndarray, track: list[np.ndarray | None], render_px: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscale the donor image before the swap warps it onto the target.

    By default (``render_px`` None) only a donor face much larger than the target's is
    shrunk (to 1.3x the target's face height), so the bilinear warp does not alias and
    the swapped face is as sharp as its frame. With ``render_px`` (an ``autoencoder``
    fake: its ``render_scale`` × the target's median face height) the donor face is
    shrunk to ``render_px`` px of landmark height, like an autoencoder's small output;
    the warp then upsamples it to the target's face. A donor face already smaller than
    that is left as it is.
    """
    face_h = max(1.0, float(np.ptp(points[:, 1])))
    if render_px is not None:
        scale = render_px / face_h
    else:
        sizes = [float(np.ptp(p[:, 1])) for p in track if p is not None]
        if not sizes:
            return donor, points
        scale = 1.3 * max(sizes) / face_h
    if scale >= 1.0:
        return donor, points
    h, w = donor.shape[:2]
    small = cv2.resize(donor, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, points * (small.shape[1] / w, small.shape[0] / h)
