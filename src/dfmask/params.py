"""Typed schemas of params.yaml, with a declared range for every number.

One frozen dataclass per params.yaml section. `load_section` validates a section
against its dataclass before any work starts, and fails with a one-line `DfmaskError`
naming the full key path (``faces.batch_size``) when

- a key is unknown or missing, or its value has the wrong type;
- a number is outside its declared range or choices. Each field declares them beside
  its default, ``frames: int = param(32, ">= 1")``: a range string (``">= 1"``,
  ``"> 0"``, ``"[0, 1]"``, ``"(0, 0.95]"``) or a `Check` (`OneOf`, `ODD`, `EVEN`,
  ``INCREASING``, ...). On a list param, item checks apply to every item and list
  checks (`Increasing`, `SumsTo`, `DISTINCT`) to the whole list; null skips them. A
  `Rule` in a section's ``RULES`` ties two of its fields together. Non-finite floats
  (``.inf``, ``.nan``) are refused everywhere;
- the file names a section that has no dataclass (``fcaes:``), or repeats a key.

Stage scripts read only their own section (plus ``base`` and ``corpus``), and
dvc.yaml declares granular params (``faces.size``, not all of ``faces``), so that a
change re-runs only the stages it affects.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml

from dfmask.errors import DfmaskError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")

#: Seeds go to numpy, torch and Lightning; Lightning's ``seed_everything`` replaces a
#: seed outside uint32 by a random one (a silently unreproducible run).
SEED = "[0, 4294967295]"


# ============================================================================ checks


class Check:
    """One declared constraint on a param. ``each``: checked on every item of a list
    param (``True``) or on the whole list (``False``)."""

    each: ClassVar[bool] = True

    def problem(self, value: Any) -> str | None:
        """None when ``value`` satisfies the check, else what it must be ("must be ...")."""
        raise NotImplementedError


_RANGE = re.compile(
    r"^\s*(?:(?P<op>>=|>|<=|<)\s*(?P<bound>\S+)"
    r"|(?P<lb>[\[(])\s*(?P<lo>[^,\s]+)\s*,\s*(?P<hi>[^,\s]+)\s*(?P<rb>[\])]))\s*$"
)


@dataclass(frozen=True)
class Range(Check):
    """An interval, written as in maths: ``">= 1"``, ``"> 0"``, ``"[0, 1]"``, ``"(0, 0.95]"``."""

    text: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    @classmethod
    def parse(cls, text: str) -> Range:
        m = _RANGE.match(text)
        if not m:
            raise ValueError(f"bad range {text!r}")
        if m["op"]:
            bound = float(m["bound"])
            if m["op"].startswith(">"):
                return cls(text, lo=bound, lo_open=m["op"] == ">")
            return cls(text, hi=bound, hi_open=m["op"] == "<")
        return cls(text, float(m["lo"]), float(m["hi"]), m["lb"] == "(", m["rb"] == ")")

    def problem(self, value: Any) -> str | None:
        above = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        if above and below:
            return None
        return f"must be {self.text}" if self.text[0] in "<>" else f"must be in {self.text}"


@dataclass(frozen=True)
class OneOf(Check):
    """One of a few allowed values."""

    values: tuple[Any, ...]

    def problem(self, value: Any) -> str | None:
        return None if value in self.values else f"must be one of {', '.join(map(str, self.values))}"


@dataclass(frozen=True)
class Parity(Check):
    """An odd (window sides) or even (H.264 4:2:0 frame sides) integer."""

    odd: bool

    def problem(self, value: Any) -> str | None:
        return None if value % 2 == self.odd else f"must be {'odd' if self.odd else 'even'}"


@dataclass(frozen=True)
class Increasing(Check):
    """A list whose items increase (``strict``) or never decrease (a ``[min, max]`` pair)."""

    each: ClassVar[bool] = False
    strict: bool = True

    def problem(self, value: Any) -> str | None:
        if all(a < b if self.strict else a <= b for a, b in itertools.pairwise(value)):
            return None
        return "must be increasing" if self.strict else "must be [min, max] with min <= max"


@dataclass(frozen=True)
class SumsTo(Check):
    """A list of shares or probabilities that sums to ``total`` (within 1e-6)."""

    each: ClassVar[bool] = False
    total: float = 1.0

    def problem(self, value: Any) -> str | None:
        return None if abs(math.fsum(value) - self.total) <= 1e-6 else f"must sum to {self.total:g}"


@dataclass(frozen=True)
class Distinct(Check):
    """A non-empty list without repeats."""

    each: ClassVar[bool] = False

    def problem(self, value: Any) -> str | None:
        if not value:
            return "must not be empty"
        return None if len(set(value)) == len(value) else "must not repeat an entry"


@dataclass(frozen=True)
class InRepo(Check):
    """A path inside the repository: relative, no ``..``, not empty (DVC tracks only
    paths under the repo; an absolute or escaping out would write elsewhere)."""

    def problem(self, value: Any) -> str | None:
        path = Path(str(value))
        if not str(value).strip() or path.is_absolute() or ".." in path.parts:
            return "must be a relative path inside the repository (no leading /, no ..)"
        return None


@dataclass(frozen=True)
class Matches(Check):
    """A string matching ``pattern`` whole; ``text`` says what that means."""

    pattern: str
    text: str

    def problem(self, value: Any) -> str | None:
        return None if re.fullmatch(self.pattern, str(value)) else f"must be {self.text}"


ODD, EVEN = Parity(True), Parity(False)
IN_REPO = InRepo()
INCREASING, MIN_MAX, DISTINCT = Increasing(), Increasing(strict=False), Distinct()


def param(default: Any, *checks: str | Check) -> Any:
    """A dataclass field with ``default`` and its declared checks (range strings or `Check`s)."""
    parsed = tuple(Range.parse(c) if isinstance(c, str) else c for c in checks)
    return field(default=default, metadata={"checks": parsed})


def checks_of(f: dataclasses.Field[Any]) -> tuple[Check, ...]:
    """The checks declared on dataclass field ``f`` (empty when none)."""
    return tuple(f.metadata.get("checks", ()))


@dataclass(frozen=True)
class Rule:
    """A check across fields of one section: ``holds(section)`` must be true, else
    ``params: <section>.<key>: <text>, got <value of key>``."""

    key: str
    holds: Callable[[Any], bool]
    text: str


# ============================================================================ sections


@dataclass(frozen=True)
class BaseParams:
    """``base``: settings shared by every stage."""

    seed: int = param(0, SEED)  # global seed; every stage derives its own RNG streams from it


_NAME_TEXT = "1-16 lower-case letters or digits, a letter first"
_DIR_TEXT = "a folder relative to corpus.root (no leading or trailing /, no . or .. part, no //)"

#: The corpus layouts an adapter reads (`dfmask.corpus.adapters.KINDS`).
CorpusKind = Literal["dfdc", "ffpp", "celebdf", "deeperforensics", "fakeavceleb"]


@dataclass(frozen=True)
class SourceParams:
    """One corpus of a mixed run (``corpus.kind: mixed``, ``corpus.sources``): its layout,
    its folder under ``corpus.root`` and where its parts sit among the run's parts.

    Its part N is the run's part ``part_offset + N`` (`dfmask.corpus.adapters.mixed`), so
    every per-part stage, path and ``corpus.parts`` entry stays a plain number. Its video
    ids become ``<name>-<id>`` (``namespace: true``), unique across sources.
    """

    name: str = field(metadata={"checks": (Matches(r"[a-z][a-z0-9]{0,15}", _NAME_TEXT),)})
    kind: CorpusKind
    # its folder, relative to corpus.root (a link to the download is followed; docs/corpora.md)
    dir: str = field(metadata={"checks": (Matches(r"(?!\.\.?(?:/|$))[^/]+(?:/(?!\.\.?(?:/|$))[^/]+)*", _DIR_TEXT),)})
    part_offset: int = field(metadata={"checks": (Range.parse(">= 0"),)})  # the run's part number of its part 0
    qualities: tuple[str, ...] = param(("c23",), OneOf(("c0", "c23", "c40")), DISTINCT)  # as corpus.qualities
    label_policy: Literal["visual", "fake", "exclude"] = "visual"  # as corpus.label_policy
    originals_root: str | None = None  # deeperforensics: the FaceForensics++ root, relative to dir
    # false: ids stay as the corpus names them (an existing single-corpus run's groups, hence
    # its splits, do not move when a source is added; ids must still be unique)
    namespace: bool = True


def _sources_fit(c: CorpusParams) -> bool:
    return (c.kind == "mixed") == bool(c.sources)


def _sources_distinct(c: CorpusParams) -> bool:
    names = [s.name for s in c.sources]
    offsets = [s.part_offset for s in c.sources]
    dirs = [tuple(s.dir.split("/")) for s in c.sources]
    nested = any(a != b and a[: len(b)] == b for a in dirs for b in dirs)  # one source inside another
    distinct = len(set(names)) == len(names) and len(set(offsets)) == len(offsets) and len(set(dirs)) == len(dirs)
    return distinct and not nested


def _one_corpus_keys_unset(c: CorpusParams) -> bool:
    """A mixed run reads qualities, label_policy and originals_root per source."""
    return c.kind != "mixed" or (c.qualities, c.label_policy, c.originals_root) == (("c23",), "visual", None)


def _parts_in_sources(c: CorpusParams) -> bool:
    return not c.sources or all(p >= min(s.part_offset for s in c.sources) for p in c.parts)


@dataclass(frozen=True)
class CorpusParams:
    """``corpus``: where the corpus lives, its layout, and which parts to process.

    ``root`` holds ``dfdc_train_part_<N>/`` folders (``kind: dfdc``), or another corpus
    in its own published layout, read by the adapter ``kind`` names
    (`dfmask.corpus.adapters`, docs/corpora.md). It defaults to the generated sample
    (``data/sample/corpus``) and is never a DVC output, so a real download at another
    path is never deleted by DVC. The ``corpus`` config group (conf/corpus/,
    docs/config.md) sets ``kind``, ``root`` and ``parts`` at once.
    """

    root: str = "data/sample/corpus"
    parts: tuple[int, ...] = param((0, 1), ">= 0", DISTINCT)  # a repeated part would be processed twice
    # the layout of root (docs/corpora.md); dfdc reads and writes exactly as before
    # mixed: several corpora under root, listed in sources
    kind: Literal["dfdc", "ffpp", "celebdf", "deeperforensics", "fakeavceleb", "mixed"] = "dfdc"
    # ffpp: compressions read (c23 and c40 copies share a split group); deeperforensics: the first
    # is its FaceForensics++ targets' quality
    qualities: tuple[str, ...] = param(("c23",), OneOf(("c0", "c23", "c40")), DISTINCT)
    # fakeavceleb: RealVideo-FakeAudio (real pixels) is REAL (visual), FAKE (fake) or left out (exclude)
    label_policy: Literal["visual", "fake", "exclude"] = "visual"
    # deeperforensics: the FaceForensics++ root holding its real targets, relative to root
    originals_root: str | None = None
    # kind mixed: the corpora under root (SourceParams), each owning the parts from its
    # part_offset up to the next source's; empty for any other kind
    sources: tuple[SourceParams, ...] = ()

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("sources", _sources_fit, "must list the corpora when kind is mixed, and only then"),
        Rule(
            "sources",
            _sources_distinct,
            "must give each source its own name, part_offset and dir (none inside another)",
        ),
        Rule(
            "kind",
            _one_corpus_keys_unset,
            "mixed reads qualities, label_policy and originals_root per source: leave corpus.qualities, "
            "corpus.label_policy and corpus.originals_root at [c23], visual and null",
        ),
        Rule("parts", _parts_in_sources, "must each belong to a source (>= the smallest sources[].part_offset)"),
    )


@dataclass(frozen=True)
class PathsParams:
    """``paths``: the one owner of the pipeline's data, model and report locations.

    dvc.yaml templates them into each stage's ``cmd``, ``deps`` and ``outs``
    (``${paths.faces}/part=${item}``), and the stage scripts receive them as
    arguments; the library has no path defaults. Per-part tables and folders sit
    under their root as ``part=N`` (``videos/part=N.parquet``, ``faces/part=N/``).
    All are relative to the repository (DVC tracks nothing outside it); a path that
    leaves it stops every stage at its params load, naming the key (`read_params_file`).
    """

    sample: str = param("data/sample", IN_REPO)  # the generated demo corpus and its truth (sample stage)
    inventory: str = param("data/interim/inventory", IN_REPO)  # inventory: part=N.json
    videos: str = param("data/interim/videos", IN_REPO)  # ingest: part=N.parquet
    faces: str = param("data/interim/faces", IN_REPO)  # faces: part=N/ shards
    embeddings: str = param("data/interim/embeddings", IN_REPO)  # embed: part=N.parquet
    splits: str = param("data/interim/splits.parquet", IN_REPO)  # split: one row per video
    masks: str = param("data/processed/masks", IN_REPO)  # masks: part=N/ shards
    deploy_crops: str = param("data/processed/deploy_crops", IN_REPO)  # deploy_crops: <draw>.parquet per deploy draw
    release: str = param("data/release", IN_REPO)  # release: the published mask dataset
    train: str = param("models/train", IN_REPO)  # train: checkpoint + model config
    onnx: str = param("models/onnx", IN_REPO)  # export: fp32 ONNX
    int8: str = param("models/int8", IN_REPO)  # quantize: int8 ONNX models + calibration set
    vai: str = param("models/vai", IN_REPO)  # quantize_vai: Vitis AI quantizer outputs
    compiled: str = param("models/compiled", IN_REPO)  # compile: deployable model for deploy.target
    reports: str = param("reports", IN_REPO)  # every stage's report lives under <reports>/<stage>
    work: str = param("data/.work", IN_REPO)  # resumable per-video progress, outside DVC's outs


#: x264's presets, fastest to slowest.
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)


@dataclass(frozen=True)
class MethodShares:
    """Share of a sample's fakes made by each manipulation method (dfmask.corpus.plan).

    The shares sum to 1; fake counts are apportioned by largest remainder, and every
    method with a share > 0 gets at least one fake. ``no_change`` fakes need a
    single-face original. How each method renders and blends: dfmask.corpus.swap.
    """

    classical: float = param(0.14, "[0, 1]")  # full-resolution landmark swap, narrow feather, colour-corrected
    autoencoder: float = param(0.32, "[0, 1]")  # donor face rendered small (autoencoder_scale), upsampled, blended
    mouth: float = param(0.14, "[0, 1]")  # mouth region only (lip-sync-like)
    hard_paste: float = param(0.14, "[0, 1]")  # hard-edged paste of the face hull, no colour correction
    feather: float = param(0.14, "[0, 1]")  # wide feathered, colour-corrected blend (truth includes the feather)
    no_change: float = param(0.12, "[0, 1]")  # FAKE label, pixels of the original (DFDC's audio-only fakes)

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "no_change",
            lambda m: abs(math.fsum(dataclasses.astuple(m)) - 1.0) <= 1e-6,
            "the shares of all methods must sum to 1",
        ),
    )


@dataclass(frozen=True)
class SampleSizeParams:
    """Counts, methods, encoder settings and video format of a generated sample corpus
    (see dfmask.corpus.sample)."""

    # max identities: whole donor groups are taken in catalogue order (20 exist); the
    # smallest group has 2 actors
    actors: int = param(20, ">= 2")
    parts: int = param(2, ">= 1")  # dfdc_train_part_<N> folders, N = 0..parts-1
    originals_per_actor: int = param(4, ">= 1")  # real videos per actor (>= 2: grouping by original leaks)
    fakes_per_original: tuple[int, int] = param((3, 7), ">= 1", MIN_MAX)  # inclusive range of fakes per original
    methods: MethodShares = field(default_factory=MethodShares)  # share of fakes per method
    # autoencoder fakes: the donor face is rendered at this fraction of the target's face
    # height (landmark extent; drawn per fake, uniform), then upsampled by the warp, as
    # DF-128-like faces are upsampled into larger frames. Below ~16 px of face height the
    # donor's landmarks no longer give a usable face: the rendering never goes below 16 px
    autoencoder_scale: tuple[float, float] = param((0.2, 0.5), "(0, 1]", MIN_MAX)
    # landscape width/height in px (portrait videos swap them); even for H.264 4:2:0, and
    # >= 64 so that a face above faces.min_face_size (40 px) fits in the frame
    width: int = param(480, "[64, 4096]", EVEN)
    height: int = param(272, "[64, 4096]", EVEN)
    portrait_frac: float = param(0.25, "[0, 1]")  # share of photo-based originals rendered portrait (>= 1 if > 0)
    fps: int = param(15, "[1, 120]")  # frames per second of every video
    seconds: float = param(1.2, "(0, 600]")  # video length in s (frames = round(seconds * fps), >= 1)
    # H.264 constant rate factor of the originals, inclusive range (x264's scale: higher =
    # stronger compression); spread evenly over the originals in a seeded order
    crf_range: tuple[int, int] = param((18, 32), "[0, 51]", MIN_MAX)
    # x264 presets, one drawn per original (faster = bigger files, other artefacts)
    presets: tuple[str, ...] = param(("veryfast", "fast", "medium"), OneOf(X264_PRESETS), DISTINCT)
    # share of fakes encoded with settings (crf, preset) other than their original's, as a
    # fake made by another pipeline than its source; the others copy the original's
    encode_differs_frac: float = param(0.3, "[0, 1]")
    # codec-noise fixture (outside the corpus): this many originals re-encoded from their
    # raw frames at another CRF, under <paths.sample>/codec_pairs/
    codec_pairs: int = param(4, ">= 0")

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("seconds", lambda s: round(s.seconds * s.fps) >= 1, "must give round(seconds * fps) >= 1 frame"),
        Rule(
            "encode_differs_frac",
            lambda s: s.encode_differs_frac == 0 or s.crf_range[0] < s.crf_range[1] or len(s.presets) > 1,
            "needs two encoder settings (a crf_range wider than one value, or two presets) when > 0",
        ),
        Rule(
            "codec_pairs",
            lambda s: s.codec_pairs == 0 or s.crf_range[0] < s.crf_range[1],
            "needs a crf_range wider than one value (a pair is re-encoded at another CRF) when > 0",
        ),
    )


@dataclass(frozen=True)
class SampleParams:
    """``sample``: the generated demo/test corpus (see dfmask.corpus.sample). It is
    written under ``paths.sample``, the only folder the sample stage writes."""

    # which size section below is used: default (demo pipeline), ci (tiny, test suite),
    # bench (1080p, faces benchmark)
    profile: Literal["default", "ci", "bench"] = "default"
    sources_cache: str = ".cache/faces"  # face files cache (`dfmask sources fetch`)
    default: SampleSizeParams = field(default_factory=SampleSizeParams)
    ci: SampleSizeParams = field(default_factory=SampleSizeParams)
    bench: SampleSizeParams = field(default_factory=SampleSizeParams)

    def size(self) -> SampleSizeParams:
        """The size settings of the selected profile."""
        return dataclasses.replace(getattr(self, self.profile))


@dataclass(frozen=True)
class IngestParams:
    """``ingest``: metadata validation and video probing."""

    probe_decode: bool = True  # decode every frame to count decodable frames (catches truncation)


@dataclass(frozen=True)
class ComputeParams:
    """``compute``: where a stage's per-video work runs (dfmask.compute, docs/cluster.md).

    How, not what: no stage's work key, output or metadata holds these, and dvc.yaml
    lists none of them, so switching executor never re-runs a stage or changes a byte
    (like ``faces.workers``). ``local`` runs the stage's own pool (``faces.workers``
    threads, ``masks.workers`` processes); ``ray`` sends each video to a Ray cluster,
    whose nodes must see ``corpus.root`` at the same path. The ``compute`` config group
    (conf/compute/, docs/config.md) sets ``executor`` with ``faces.device`` and
    ``train.accelerator``.
    """

    executor: Literal["local", "ray"] = "local"
    # Ray only: "" = join the cluster `ray start` runs on this machine, else start one here;
    # "auto" = join a running one (error if none); "host:6379" or "ray://host:10001" = that one
    address: str = ""
    cpus_per_task: float = param(1.0, "> 0")  # Ray only: CPUs each video's task (and detector actor) reserves
    # Ray only: GPUs each faces detector actor reserves; fractional shares a GPU (0.25 = four
    # actors per GPU); 0 = detect on CPU. Fakes and masks are CPU tasks
    gpus_per_task: float = param(0.0, "[0, 1]")
    # Ray only: re-runs of a video whose worker process or node died (never of a video whose
    # own code raised); past this the stage fails naming the video
    max_retries: int = param(3, "[0, 100]")


@dataclass(frozen=True)
class FacesParams:
    """``faces``: MTCNN on originals, IoU tracks, aligned real/fake crops (dfmask.faces).

    Detection runs on a rescaled copy of each frame: the factor is chosen from the
    frame's longer side (``scale_limits``/``scale_factors``, like the DFDC 1st place),
    and the detector's minimum face size is scaled with it, so ``min_face_size`` is
    always in full-resolution pixels.
    """

    frames: int = param(32, ">= 1")  # frames sampled per original (linspace over the decodable range)
    # side of the square crop PNGs, px: below 32 no SSIM window (11 px) and morphology
    # (13 px dilation) fit a face's features; each crop is size² · 3 bytes in memory
    size: int = param(128, "[32, 1024]")
    # added on EACH side of the face box, as a fraction of its longer side; 2 already
    # gives a crop 5x the face, and a negative margin shrinks the window below the face
    margin: float = param(0.3, "[0, 2]")
    scale_limits: tuple[int, ...] = param((299, 1000, 1900), ">= 1", INCREASING)  # longer-side limits (px, inclusive)
    # factor per limit, + one above all; above 4 the upscaled frame only costs memory
    scale_factors: tuple[float, ...] = param((2.0, 1.0, 0.5, 0.33), "(0, 4]")
    min_face_size: int = param(40, ">= 1")  # smallest face searched, full-resolution px (scaled for detection)
    thresholds: tuple[float, float, float] = param((0.85, 0.95, 0.95), "(0, 1)")  # MTCNN P/R/O-net thresholds
    # MTCNN image-pyramid scale step: the pyramid has log(12 / side) / log(factor)
    # levels, so a factor near 1 explodes it (1.5 never ends: 21 GB RSS, OOM-killed)
    pyramid_factor: float = param(0.709, "(0, 0.95]")
    batch_size: int = param(8, ">= 1")  # frames per MTCNN call (RSS: 32 at 1080p peaked at 4.6 GB, 8 at 1.3 GB)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = cuda when available
    precision: Literal["float64", "float32"] = "float64"  # MTCNN arithmetic; float32: faster, CPU-dependent last bits
    threads: int = param(1, ">= 0")  # torch intra-op threads (0 = torch default); MTCNN is many small ops: 1 is fastest
    # FFmpeg decoder threads (0 = FFmpeg's choice). Intact streams decode bit-exactly with any
    # count; on a damaged stream FFmpeg's threaded error concealment varies from run to run
    # (4 of 15 decodes of one damaged clip differed with 0), so 1 is the default and the
    # value is part of the faces work key and metadata
    decode_threads: int = param(1, ">= 0")
    workers: int = param(2, ">= 1")  # videos processed at once (threads; no auto); each 1080p original holds ~0.2 GB
    track_iou: float = param(0.3, "[0, 1]")  # min IoU between a track's last box and a detection to link them
    track_max_gap: int = param(4, ">= 0")  # sampled frames a track may miss and still be continued
    smooth_window: int = param(3, ">= 1")  # centred moving average over a track's boxes, in sampled frames (1 = off)
    shard_rows: int = param(8192, ">= 1")  # max crops per shard (cut at video boundaries)

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "scale_factors",
            lambda p: len(p.scale_factors) == len(p.scale_limits) + 1,
            "must have one entry more than scale_limits (one factor per limit, + one above all)",
        ),
    )


@dataclass(frozen=True)
class EmbedParams:
    """``embed``: face-recognition embeddings of a few crops per track (dfmask.identity).

    Originals give the identities; fakes show the donor's face, so a few fake crops
    are embedded too and matched to the identities in the split stage.
    """

    model: Literal["dlib", "facenet"] = "dlib"  # dlib ResNet (128-d) or InceptionResnetV1 (512-d)
    weights_path: str | None = None  # facenet only: local vggface2 state_dict (.pt); no download
    crops_per_track: int = param(3, ">= 1")  # crops embedded per ORIGINAL track (spread over the track's frames)
    fake_crops_per_track: int = param(2, ">= 0")  # crops embedded per FAKE track (the donor's face; 0 = none)
    min_face_px: int = param(20, ">= 0")  # face boxes smaller than this in the crop (px) get status face_too_small
    max_landmark_shift: float = param(0.5, "> 0")  # dlib vs MTCNN eye centres, in inter-ocular distances
    threads: int = param(0, ">= 0")  # torch intra-op threads for facenet (0 = torch default)


@dataclass(frozen=True)
class SplitParams:
    """``split``: identity clusters, groups, stable train/val/test assignment (dfmask.splits)."""

    # max average-linkage distance inside one identity (dlib euclidean; dlib's
    # same-person cut is 0.6, facenet ~1.0); embeddings are unit-length, so <= 2
    distance_threshold: float = param(0.5, "(0, 2]")
    linkage: Literal["average", "complete", "single"] = "average"  # agglomerative linkage
    donor_aware: bool = True  # merge a fake's donor identity into its group (no donor leaks)
    donor_min_cosine: float = param(0.4, "[-1, 1]")  # cosine(fake - original, identity - original), see DonorMatch
    donor_min_shift: float = param(0.1, ">= 0")  # |fake - original| track embedding shift below = "unchanged"
    # fake videos that must show one donor identity on one target identity before that
    # donor link joins their groups (1 = every match: one false match merges two groups)
    donor_min_fakes: int = param(2, ">= 1")
    # train / val / test target shares: each split gets some, and they partition [0, 1)
    ratios: tuple[float, float, float] = param((0.70, 0.15, 0.15), "(0, 1)", SumsTo(1.0))
    min_groups_per_split: int = param(2, ">= 0")  # groups each split must hold, where the corpus has enough
    # honour the corpus's own split (official_split; DFDC: metadata.json's split) where a
    # video has one; dfmask's identity-disjoint split fills in the rest, and the leak audit
    # reports what the official splits leak instead of failing (docs/splits.md)
    official: bool = False
    # cross-corpus evaluation (corpus.kind mixed): these sources' videos are all test, and
    # so is every group they share with another source (identity-disjoint); the split of
    # the other sources is made without them (docs/splits.md, "Cross-corpus")
    holdout_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleaseParams:
    """``release``: the published mask dataset under data/release (dfmask.release).

    The release joins faces, masks and splits into one row per face crop. ``pixels``
    chooses between the full variant (face crops included) and the pixel-free variant
    (ids, boxes, landmarks, splits, masks and QA, no face crops) for corpora whose terms
    forbid redistributing face images; see docs/release.md.
    """

    artifact: str = "masks"  # artifact name in dvc.yaml `artifacts:`; release tags are <artifact>@vX.Y.Z
    pixels: bool = True  # include the RGB face crops (false: pixel-free variant, masks stay)
    shard_mb: int = param(256, ">= 1")  # target Parquet shard size in MB (DESIGN: 64-512 MB per shard)


@dataclass(frozen=True)
class MasksParams:
    """``masks``: SSIM(real crop, fake crop) → binary manipulation mask (dfmask.masks.stage).

    SSIM settings use scikit-image's names; Wang et al. is ``gaussian_weights: true,
    sigma: 1.5, use_sample_covariance: false``. The mask is ``1 − SSIM > threshold``
    cleaned by morphology. ``workers`` and ``dtype`` do not change which pixels are set
    beyond float rounding, but ``dtype`` is still part of the work key.
    """

    gaussian_weights: bool = True  # Gaussian-weighted window (True) or uniform box (False)
    # Gaussian window standard deviation, crop px; its window has 2·int(3.5σ + 0.5) + 1
    # taps, so σ <= 4 keeps it within 31 px, like win_size
    sigma: float = param(1.5, "(0, 4]")
    # odd window side, crop px (a centred window; skimage refuses even sides), at most
    # 31 so that it fits the smallest crop faces.size allows (32 px; skimage refuses a
    # window larger than the image); null = skimage default (7 / 11 at σ=1.5)
    win_size: int | None = param(None, "[3, 31]", ODD)
    use_sample_covariance: bool = False  # N−1 (True) or N (False, Wang et al.) covariance normaliser
    colour: bool = True  # SSIM per RGB channel then averaged (True) or on 8-bit grey (False)
    data_range: float = param(255.0, "> 0")  # pixel value range of the 8-bit crops
    dtype: Literal["float32", "float64"] = "float32"  # SSIM arithmetic precision
    # OpenCV kernels of the SSIM filters: the CPU's best (dispatch: AVX2/FMA/AVX-512, whose
    # float32 rounding follows the CPU) or the baseline every x86-64 CPU runs (baseline:
    # the same bytes on any of them, in float32 too); dfmask.masks.ssim.opencv_baseline
    simd: Literal["dispatch", "baseline"] = "dispatch"
    # manipulated where 1 − SSIM > threshold (unitless); below 0 every pixel is masked,
    # and 1 − SSIM > 1 only where real and fake are anti-correlated
    threshold: float = param(0.05, "[0, 1)")
    open_px: int = param(3, ">= 0")  # elliptical opening element side, crop px (0 = off): removes speckle
    close_px: int = param(7, ">= 0")  # elliptical closing element side, crop px (0 = off): fills holes
    dilate_px: int = param(13, ">= 0")  # elliptical dilation element side, crop px (0 = off): covers the swap's
    #                                     feathered edge, where blended pixels differ too little for SSIM
    # the dilation of each face track follows where its level cuts the blend's faded edge
    # (dfmask.masks.compute, `track_dilation`): dilate_px + dilate_tail_px · ln(ratio /
    # dilate_ratio), ratio = the level over the face's median 1 − SSIM (median over the
    # track's valid crops, at most 1), rounded to an odd side; 0 = dilate_px for every track
    dilate_tail_px: float = param(0.0, ">= 0")
    dilate_ratio: float = param(0.18, "(0, 1]")  # the ratio at which a track gets dilate_px
    min_area: int = param(64, ">= 0")  # drop mask components smaller than this, crop px² (0 = keep all)
    fill_hull: bool = False  # replace the kept components by their joint convex hull
    # codec noise (dfmask.masks.compute): 1 − SSIM is averaged over this many consecutive
    # sampled crops of a face track (odd, centred; 1 = off) ...
    temporal_frames: int = param(1, "[1, 15]", ODD)
    # ... and the level is max(threshold, noise_factor · floor), floor = the noise_quantile
    # of 1 − SSIM on the crop's border ring, noise_ring of the crop side wide (0 = no floor)
    noise_ring: float = param(0.0, "[0, 0.5)")
    noise_quantile: float = param(0.95, "[0, 1]")
    noise_factor: float = param(0.0, ">= 0")
    # the colour difference, a second cue (dfmask.masks.compute): its hull is the mean
    # |fake − real| over RGB / 255 above max(colour_threshold, noise_factor · its ring floor)
    colour_threshold: float = param(0.04, "(0, 1)")
    colour_union: bool = False  # a valid crop's mask is the hull of SSIM's and the colour hull, then dilated
    # a face track whose median colour-difference edge width is below this (crop px; 0 =
    # off) is hard-edged: its valid crops' masks are their colour hulls, not dilated
    edge_width_px: float = param(0.0, ">= 0")
    valid_min_pixels: int = param(32, ">= 0")  # a fake crop is valid if MORE than this many pixels ...
    valid_diff_level: int = param(20, "[0, 255)")  # ... have an 8-bit dissimilarity (1 − SSIM)·255 above this level
    store_diff: bool = False  # also store the raw 8-bit dissimilarity PNG (column diff)
    # worker processes (0 = one per core, 1 per 1,000 pairs at most); output does not depend on it
    workers: int = param(0, ">= 0")
    shard_rows: int = param(65536, ">= 1")  # max mask rows per Parquet shard (cut at video boundaries)


@dataclass(frozen=True)
class AugmentParams:
    """``train.augment``: training augmentations (dfmask.model.augment); p = per-crop probability.

    Amounts drawn as ``1 ± U(a)`` stay below 1, so a scale never turns negative."""

    hflip_p: float = param(0.5, "[0, 1]")  # horizontal flip of crop AND mask
    jitter_p: float = param(0.8, "[0, 1]")  # colour jitter
    brightness: float = param(0.2, "[0, 1)")  # brightness scale 1 ± U(this)
    contrast: float = param(0.2, "[0, 1)")  # contrast scale 1 ± U(this), around the mean grey
    saturation: float = param(0.2, "[0, 1)")  # saturation scale 1 ± U(this)
    downscale_p: float = param(0.2, "[0, 1]")  # shrink and enlarge back
    downscale: tuple[float, float] = param((0.5, 0.9), "(0, 1]", MIN_MAX)  # shrink factor range
    blur_p: float = param(0.2, "[0, 1]")  # Gaussian blur
    blur_sigma: tuple[float, float] = param((0.3, 1.2), "> 0", MIN_MAX)  # blur std range, px at train.input_size
    jpeg_p: float = param(0.3, "[0, 1]")  # JPEG recompression
    jpeg_quality: tuple[int, int] = param((60, 95), "[1, 100]", MIN_MAX)  # JPEG quality range (inclusive)


@dataclass(frozen=True)
class SelfBlendParams:
    """``train.self_blend``: self-blended extra fakes from real crops (dfmask.model.selfblend)."""

    # share of the FAKE half of each epoch drawn as self-blended reals (0 = off; 1 = only
    # self-blended fakes, the SBI paper's setting: the corpus's fakes are never trained on;
    # needs balance: true)
    frac: float = param(0.5, "[0, 1]")
    # P(face ellipse, inner hull, mouth)
    region_p: tuple[float, float, float] = param((0.5, 0.35, 0.15), "[0, 1]", SumsTo(1.0))
    rgb_shift: float = param(20.0, "[0, 255]")  # per-channel shift, ± U(this) grey levels
    hue_shift: float = param(0.03, "[0, 0.5]")  # hue shift, ± U(this) of the colour circle (0.5 = half-way round)
    sat_shift: float = param(0.3, "[0, 1)")  # saturation scale 1 ± U(this)
    val_shift: float = param(0.3, "[0, 1)")  # value scale 1 ± U(this)
    brightness: float = param(0.1, "[0, 1)")  # brightness scale 1 ± U(this)
    contrast: float = param(0.1, "[0, 1)")  # contrast scale 1 ± U(this)
    frequency_p: float = param(0.5, "[0, 1]")  # P(downscale-and-back or sharpen the changed copy)
    downscale: tuple[float, float] = param((0.3, 0.8), "(0, 1]", MIN_MAX)  # shrink factor range
    sharpen: tuple[float, float] = param((0.3, 1.5), ">= 0", MIN_MAX)  # unsharp-mask amount range
    scale: float = param(0.05, "[0, 1)")  # source scale 1 ± U(this)
    shift: float = param(0.03, "[0, 0.5]")  # source shift ± U(this) of the crop side
    deform: float = param(0.04, "[0, 0.5]")  # mask displacement up to U(0, this) of the crop side
    feather: tuple[float, float] = param((0.01, 0.06), "[0, 1]", MIN_MAX)  # mask blur sigma range, fraction of the side
    ratios: tuple[float, ...] = param((0.25, 0.5, 0.75, 1.0, 1.0, 1.0), "(0, 1]")  # blend ratio factors (uniform draw)
    mask_threshold: float = param(0.3, "(0, 1]")  # seg target = feathered region >= this


@dataclass(frozen=True)
class TrainParams:
    """``train``: the U-YNet model and its Lightning training run (dfmask.model.train)."""

    seed: int = param(0, SEED)  # seeds torch/numpy/python, the sampler and DataLoader workers
    input_size: int = param(128, "[8, 2048]")  # crops are resized to this side, px (multiple of stem_stride * 2**depth)
    base_width: int = param(16, ">= 1")  # channels of the first UNet level (doubles per level)
    depth: int = param(3, "[1, 8]")  # number of 2x downsamplings (bottleneck = input_size / 2**depth)
    stem_stride: int = param(2, OneOf((1, 2)))  # 1 or 2: stride of the first conv (2: net runs at input_size / 2)
    cls_input: Literal["bottleneck", "joint"] = "bottleneck"  # cls head pools the bottleneck, or + last decoder map
    activation: Literal["relu", "leaky_relu"] = "relu"
    upsample: Literal["transpose", "nearest"] = "transpose"  # decoder upsampling op
    batch_size: int = param(32, ">= 1")  # crops per optimiser step
    max_epochs: int = param(3, ">= 1")  # passes of samples_per_epoch crops
    samples_per_epoch: int | None = param(None, ">= 1")  # crops drawn per epoch (null = size of the train split)
    limit_train_batches: int | None = param(None, ">= 1")  # cap on train batches per epoch (null = no cap; CI)
    limit_val_batches: int | None = param(None, ">= 1")  # cap on val batches per epoch (null = no cap)
    lr: float = param(0.002, "> 0")  # AdamW peak learning rate (one-cycle schedule)
    weight_decay: float = param(0.0001, ">= 0")  # AdamW decoupled weight decay
    w_cls: float = param(1.0, ">= 0")  # weight of the classification BCE
    w_seg: float = param(1.0, ">= 0")  # weight of the segmentation BCE + Dice
    real_area_weight: float = param(0.0, ">= 0")  # weight of the seg head's mean predicted area on real crops
    cls_real_weight: float = param(1.0, "> 0")  # a real crop's weight in the cls BCE (fakes: 1)
    cls_on_invalid: bool = False  # invalid fakes (no visible manipulation) also count as FAKE for cls
    balance: bool = True  # draw reals and fakes with equal probability each epoch
    num_workers: int = param(0, ">= 0")  # DataLoader worker processes (0 = decode in the main process)
    accelerator: str = param("auto", OneOf(("auto", "cpu", "gpu", "cuda")))  # Lightning accelerator (cuda = gpu)
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed"] = "auto"  # auto: AMP on GPU, fp32 on CPU
    devices: int = param(1, ">= 1")  # processes per node, one per GPU (or CPU process); > 1 = DDP
    num_nodes: int = param(1, ">= 1")  # machines, each running the command with Lightning's cluster env vars
    strategy: Literal["auto", "ddp"] = "auto"  # auto: one process, or ddp when devices x num_nodes > 1
    channels_last: bool = False  # NHWC memory format (faster convs with AMP on GPU)
    threads: int = param(1, ">= 0")  # torch intra-op CPU threads (0 = torch default); 1 is fastest on a shared
    #                                  CPU and makes CPU results independent of the core count
    val_crops_per_video: int | None = param(4, ">= 1")  # val crops per video per epoch, evenly spaced (null = all)
    init_checkpoint: str | None = None  # optional local checkpoint to initialise from (null = scratch)
    checkpoint: Literal["last", "best_val_loss"] = "last"  # weights kept: last epoch, or lowest val/loss
    augment: AugmentParams = field(default_factory=AugmentParams)
    self_blend: SelfBlendParams = field(default_factory=SelfBlendParams)

    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "input_size",
            lambda t: t.input_size % (t.stem_stride * 2**t.depth) == 0,
            "must be a multiple of stem_stride * 2**depth (the net halves it depth times after the stem)",
        ),
        Rule("w_seg", lambda t: t.w_cls + t.w_seg > 0, "must be > 0 when w_cls is 0 (nothing would be learnt)"),
        Rule(
            "balance",
            lambda t: t.balance or t.self_blend.frac < 1,
            "must be true when self_blend.frac is 1 (only the balanced sampler keeps the corpus's fakes out)",
        ),
    )


@dataclass(frozen=True)
class TemporalParams:
    """``evaluate.temporal``: a head over a track's per-frame features, trained on the train
    split after the frame model and reported beside the frame rules (dfmask.model.temporal)."""

    enabled: bool = False  # train and report it (metrics.json: temporal); the headline keeps `aggregation`
    hidden: int = param(32, ">= 1")  # channels of its two 1-D convs
    kernel: int = param(3, "[1, 15]")  # frames each conv sees; odd (keeps a track's length)
    dropout: float = param(0.5, "[0, 1)")  # on its input features while training
    steps: int = param(300, ">= 1")  # full-batch AdamW steps
    lr: float = param(0.003, "> 0")
    weight_decay: float = param(1.0, ">= 0")
    seed: int = param(0, SEED)

    RULES: ClassVar[tuple[Rule, ...]] = (Rule("kernel", lambda t: t.kernel % 2 == 1, "must be odd"),)


@dataclass(frozen=True)
class EvaluateParams:
    """``evaluate``: metrics of the trained model on val and test (dfmask.model.evaluate)."""

    splits: tuple[str, ...] = param(("val", "test"), OneOf(("train", "val", "test")), DISTINCT)  # splits evaluated
    batch_size: int = param(64, ">= 1")  # crops per forward pass
    threshold: float = param(0.5, "[0, 1]")  # p(FAKE) >= this ⇒ FAKE, for accuracy/precision/recall/F1
    mask_threshold: float = param(0.5, "[0, 1]")  # predicted mask = sigmoid(seg logit) >= this
    aggregation: Literal["mean", "confident"] = "mean"  # a track's score from its frames (headline metrics)
    track_aggregation: Literal["max", "mean"] = "max"  # a video's score from its tracks' scores
    calibration: Literal["temperature", "isotonic", "none"] = "temperature"  # video p, fitted on val
    bootstrap: int = param(1000, ">= 0")  # resamples for the 90 % interval of the video ECE (0 = none)
    confident_threshold: float = param(0.8, "[0, 1]")  # "confident": frames above this count as confident fakes
    confident_min_frac: float = param(0.4, "[0, 1]")  # ... and are averaged alone if they are > this share of frames
    ece_bins: int = param(10, ">= 1")  # bins for ECE (equal width; equal mass for videos) and the reliability plot
    overlays: int = param(8, ">= 0")  # test crops shown in reports/eval/overlays.png
    threads: int = param(1, ">= 0")  # torch intra-op CPU threads for inference (0 = torch default)
    seeds: tuple[int, ...] = param((0, 1, 2), SEED, DISTINCT)  # train.seed values for `make eval-seeds`
    temporal: TemporalParams = field(default_factory=TemporalParams)


@dataclass(frozen=True)
class ExportParams:
    """``export``: fp32 ONNX export of the trained model (dfmask.deploy.export)."""

    opset: int = param(17, ">= 17")  # ONNX opset
    input_size: int | None = param(None, "[8, 2048]")  # input side in px; null = the model config's training size
    parity_atol: float = param(1e-4, "> 0")  # max |torch - ORT| per output, in logits, or export fails
    parity_crops: int = param(8, ">= 1")  # test crops used for the torch-vs-ORT parity check


@dataclass(frozen=True)
class QuantizeParams:
    """``quantize``: INT8 models and their parity vs fp32 (dfmask.deploy.quant_report)."""

    calib_crops: int = param(256, ">= 1")  # train crops used to calibrate (Quark, ORT and nndct)
    calib_batch: int = param(8, ">= 1")  # crops per calibration batch
    eval_max_crops: int | None = param(2000, ">= 1")  # test crops for parity (seeded subset; null = all)
    cpu_format: Literal["qdq", "qoperator"] = "qdq"  # ORT static format (QDQ measured faster here)
    reduce_range: bool = True  # 7-bit weights: avoids u8*s8 saturation on x86 without VNNI
    # ORT int8 only: fold the full-res restore ConvTranspose+Relu+seg head to half-res convs
    # (exact in fp32; ORT CPU has no int8 ConvTranspose; dfmask.deploy.cpu_graph)
    cpu_fold_restore: bool = True
    cpu_fp32_first_conv: bool = True  # ORT int8 only: keep the conv reading the 3-channel image in fp32
    max_auc_drop: float = param(0.01, "[0, 1]")  # target: fp32 AUC - int8 AUC
    max_dice_drop: float = param(0.02, "[0, 1]")  # target: fp32 Dice - int8 Dice
    threads: int = param(1, ">= 0")  # ORT intra-op threads for the parity evaluation (0 = ORT default)


@dataclass(frozen=True)
class DeployParams:
    """``deploy``: where the model goes (dfmask.deploy.compile, dfmask.deploy.vitis)."""

    target: Literal["cpu", "vck5000"] = "cpu"  # cpu: ORT-optimised; vck5000: nndct + vai_c_xir + VART
    arch_json: str = "/opt/vitis_ai/compiler/arch/DPUCVDX8H/VCK50004PE/arch.json"  # must match the card's DPU
    launcher: Literal["conda", "docker"] = "conda"  # how vendor tools run: conda env here, or docker run
    conda_env: str = "vitis-ai-pytorch"  # the Vitis AI 3.0 PyTorch conda env (inside the docker)
    docker_image: str = "xilinx/vitis-ai-pytorch-cpu:ubuntu2004-3.0.0.106"  # for launcher=docker
    vai_fast_finetune: bool = False  # nndct fast finetune (AdaQuant-like) during calib
    vai_eval_crops: int = param(256, ">= 1")  # test crops nndct's test mode evaluates before export_xmodel


@dataclass(frozen=True)
class BenchmarkParams:
    """``benchmark``: latency, throughput and accuracy per backend (dfmask.deploy.benchmark)."""

    # intra-op threads for torch and every ORT session (same for all); 1 on a shared box;
    # no 0 = default here: torch.set_num_threads refuses 0
    threads: int = param(1, ">= 1")
    batch: int = param(16, ">= 1")  # batch size for the throughput measurement
    warmup: int = param(5, ">= 0")  # untimed runs before each measurement
    latency_runs: int = param(50, ">= 1")  # timed batch-1 runs (p50/p99 latency, ms)
    throughput_runs: int = param(40, ">= 1")  # timed batch-N calls per backend, interleaved (images/s from the median)
    eval_max_crops: int | None = param(1000, ">= 1")  # test crops for accuracy (seeded subset; null = all)
    use_cuda: bool = True  # also time ORT on the CUDA EP when onnxruntime has it
    vart_threads: int = param(4, ">= 1")  # VART runners in parallel (VCK5000 throughput)
    vart_seconds: float = param(10.0, "> 0")  # duration of the VART throughput run, s


# ============================================================================ loading

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """yaml's SafeLoader, but a key given twice in one mapping is an error (PyYAML
    keeps the last one silently, so a stray second ``frames:`` would win unseen)."""

    source = "params.yaml"

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _refuse_duplicates(node, "", self.source, set())
        return self.construct_document(node)


def _refuse_duplicates(node: yaml.Node, path: str, source: str, active: set[int]) -> None:
    if id(node) in active:  # a recursive alias: yaml itself reports what is wrong with it
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, Any], int] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG:
                continue
            name = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            child = f"{path}.{name}" if path else str(name)
            line = key.start_mark.line + 1
            if (key.tag, name) in first:
                raise DfmaskError(
                    f"params: {child}: duplicate key at line {line} of {source} "
                    f"(first at line {first[(key.tag, name)]}); keep one"
                )
            first[(key.tag, name)] = line
            _refuse_duplicates(value, child, source, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicates(item, f"{path}[{i}]", source, active)
    active.discard(id(node))


def _did_you_mean(name: Any, valid: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def read_params_file(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The raw params.yaml document, with a one-line error if it is missing, unreadable,
    malformed, repeats a key, names a section that `SECTIONS` does not know, or has a
    ``paths`` section that does not validate (every stage reads those paths)."""
    path = Path(path)
    if not path.exists():
        raise DfmaskError(f"{path}: params file not found (run from the repo root)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DfmaskError(f"{path}: not UTF-8 text: {err}") from err
    except OSError as err:  # a folder, no permission, an I/O error
        raise DfmaskError(f"{path}: cannot read the params file: {err.strerror or err}") from err
    loader = _StrictLoader(text)
    loader.source = str(path)
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError as err:
        raise DfmaskError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    except RecursionError as err:
        raise DfmaskError(f"{path}: nested too deeply to be a params file") from err
    finally:
        loader.dispose()
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: expected a mapping of sections, got {type(doc).__name__}")
    for name in doc:
        if name not in SECTIONS:
            raise DfmaskError(
                f"params: {name}: unknown section in {path}{_did_you_mean(name, SECTIONS)} "
                f"(valid sections: {', '.join(SECTIONS)})"
            )
    if "paths" in doc:
        # dvc.yaml renders every path into the stages' commands and outs, and DVC runs a
        # stage whose path leaves the repo: so whichever stage runs first refuses it
        from_dict(PathsParams, doc["paths"], "paths")
    return doc


def load_section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS) -> T:
    """Load and validate section ``name`` of the params file as dataclass ``cls``."""
    doc = read_params_file(path)
    if name not in doc:
        raise DfmaskError(f"{path}: missing section '{name}'")
    return from_dict(cls, doc[name], name)


def from_dict(cls: type[T], value: Any, key: str) -> T:
    """Build dataclass ``cls`` from ``value``, validating names, types and declared
    checks recursively."""
    return typing.cast(T, _convert(cls, value, key))


def to_dict(obj: Any) -> Any:
    """A dataclass instance as plain YAML/JSON-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_name(args[0])}"
        return f"list of {len(args)} ({', '.join(_type_name(a) for a in args)})"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _fail(key: str, tp: Any, value: Any) -> DfmaskError:
    return DfmaskError(f"params: {key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _check(key: str, value: Any, checks: tuple[Check, ...]) -> None:
    """Raise the first declared check ``value`` (already type-converted) breaks."""
    if value is None:  # null means "off" or "default" wherever a type allows it
        return
    items = list(enumerate(value)) if isinstance(value, tuple) else None
    for c in checks:
        if c.each and items is not None:
            for i, item in items:
                if (problem := c.problem(item)) is not None:
                    raise DfmaskError(f"params: {key}[{i}]: {problem}, got {item!r}")
        elif (problem := c.problem(value)) is not None:
            raise DfmaskError(f"params: {key}: {problem}, got {to_dict(value)!r}")


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise _fail(key, tp, value)
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields), key=str)
        if unknown:
            raise DfmaskError(
                f"params: {key}.{unknown[0]}: unknown key; valid keys of '{key}' are "
                f"{', '.join(sorted(fields))}{_did_you_mean(unknown[0], fields)}"
            )
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], f"{key}.{name}")
                _check(f"{key}.{name}", kwargs[name], checks_of(f))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DfmaskError(f"params: {key}.{name}: missing (expected {_type_name(hints[name])})")
        obj = tp(**kwargs)
        for rule in getattr(tp, "RULES", ()):
            if not rule.holds(obj):
                raise DfmaskError(f"params: {key}.{rule.key}: {rule.text}, got {to_dict(getattr(obj, rule.key))!r}")
        return obj
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _fail(key, tp, value)
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value, key)
            except DfmaskError:
                continue
        raise _fail(key, tp, value)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise _fail(key, tp, value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(key, tp, value)
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise _fail(key, tp, value)
        return {_convert(kt, k, key): _convert(vt, v, f"{key}.{k}") for k, v in value.items()}
    if tp is type(None):
        if value is not None:
            raise _fail(key, tp, value)
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(key, tp, value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, tp, value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(key, tp, value)
        if not math.isfinite(value):
            raise DfmaskError(f"params: {key}: must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(key, tp, value)
        return value
    if tp is Any:
        return value
    raise TypeError(f"params schema for {key} uses an unsupported type {tp!r}")


# ============================================================================ registry

#: params.yaml section name → its dataclass. Every section must be listed here
#: (tests/test_params.py checks that the repo's params.yaml validates in full, and
#: read_params_file refuses a section that is not listed).
SECTIONS: dict[str, type] = {
    "base": BaseParams,
    "paths": PathsParams,
    "corpus": CorpusParams,
    "compute": ComputeParams,
    "sample": SampleParams,
    "ingest": IngestParams,
    "faces": FacesParams,
    "embed": EmbedParams,
    "split": SplitParams,
    "masks": MasksParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "export": ExportParams,
    "quantize": QuantizeParams,
    "deploy": DeployParams,
    "benchmark": BenchmarkParams,
    "release": ReleaseParams,
}
