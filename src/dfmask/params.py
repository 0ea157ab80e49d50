"""Typed schemas of params.yaml.

One frozen dataclass per params.yaml section. `load_section` validates a section
against its dataclass: an unknown key, a missing key or a value of the wrong type
fails with a `DfmaskError` naming the full key path (``faces.batch_size``) and the
expected type, before any work starts.

Stage scripts read only their own section (plus ``base`` and ``corpus``), and
dvc.yaml declares granular params (``faces.size``, not all of ``faces``), so that a
change re-runs only the stages it affects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from dfmask.errors import DfmaskError

T = TypeVar("T")

DEFAULT_PARAMS = Path("params.yaml")


# ============================================================================ sections


@dataclass(frozen=True)
class BaseParams:
    """``base``: settings shared by every stage."""

    seed: int = 0  # global seed; every stage derives its own RNG streams from it


@dataclass(frozen=True)
class CorpusParams:
    """``corpus``: where the DFDC-layout corpus lives and which parts to process.

    ``root`` holds ``dfdc_train_part_<N>/`` folders. It defaults to the generated
    sample (``data/sample/corpus``) and is never a DVC output, so a real download at
    another path is never deleted by DVC.
    """

    root: str = "data/sample/corpus"
    parts: tuple[int, ...] = (0, 1)


@dataclass(frozen=True)
class SampleSizeParams:
    """Counts and video format of a generated sample corpus (see dfmask.corpus.sample)."""

    actors: int = 20  # max identities: whole donor groups are taken in catalogue order (20 exist)
    parts: int = 2  # dfdc_train_part_<N> folders, N = 0..parts-1
    originals_per_actor: int = 4  # real videos per actor (>= 2: grouping by original leaks)
    fakes_per_original: tuple[int, int] = (1, 3)  # inclusive range of fakes per original
    mouth_only_frac: float = 0.2  # share of fakes that swap only the mouth region (>= 1 if > 0)
    failed_swap_count: int = 1  # fakes whose swap "fails" (frames identical to the original)
    width: int = 480  # landscape width in px (portrait videos swap width/height); even
    height: int = 272  # landscape height in px; even
    portrait_frac: float = 0.25  # share of photo-based originals rendered portrait (>= 1 if > 0)
    fps: int = 15  # frames per second of every video
    seconds: float = 2.0  # video length in s (frames = round(seconds * fps))
    crf: int = 18  # H.264 constant rate factor (both real and fake use the same)
    preset: str = "medium"  # x264 preset (both real and fake use the same); faster = bigger files
    # Positive control, off by default (null): render every donor face at this face height
    # in px (landmark extent) before the warp scales it to the target, like an
    # autoencoder's fixed output size (DFDC: 64-256 px). Below the target's face height
    # (~120 px in `default`) the swapped face is upsampled, i.e. blurrier than its frame.
    render_px: int | None = None


@dataclass(frozen=True)
class SampleParams:
    """``sample``: the generated demo/test corpus (see dfmask.corpus.sample)."""

    out: str = "data/sample"  # the only folder the sample stage writes
    # which size section below is used: default (demo pipeline), ci (tiny, test suite),
    # bench (1080p, faces benchmark)
    profile: Literal["default", "ci", "bench"] = "default"
    sources_cache: str = ".cache/faces"  # face files cache (`python -m dfmask.corpus.sources fetch`)
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
class FacesParams:
    """``faces``: MTCNN on originals, IoU tracks, aligned real/fake crops (dfmask.faces).

    Detection runs on a rescaled copy of each frame: the factor is chosen from the
    frame's longer side (``scale_limits``/``scale_factors``, like the DFDC 1st place),
    and the detector's minimum face size is scaled with it, so ``min_face_size`` is
    always in full-resolution pixels.
    """

    frames: int = 32  # frames sampled per original (linspace over the decodable range)
    size: int = 128  # side of the square crop PNGs, px
    margin: float = 0.3  # added on EACH side of the face box, as a fraction of its longer side
    scale_limits: tuple[int, ...] = (299, 1000, 1900)  # longer-side limits (px, inclusive)
    scale_factors: tuple[float, ...] = (2.0, 1.0, 0.5, 0.33)  # factor per limit, + one above all
    min_face_size: int = 40  # smallest face searched, full-resolution px (scaled for detection)
    thresholds: tuple[float, float, float] = (0.85, 0.95, 0.95)  # MTCNN P/R/O-net thresholds
    pyramid_factor: float = 0.709  # MTCNN image-pyramid scale step
    batch_size: int = 8  # frames per MTCNN call (RSS: 32 at 1080p peaked at 4.6 GB, 8 at 1.3 GB, same speed)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = cuda when available
    precision: Literal["float64", "float32"] = "float64"  # MTCNN arithmetic; float32: faster, CPU-dependent last bits
    threads: int = 1  # torch intra-op threads (0 = torch default); MTCNN is many small ops: 1 is fastest here
    decode_threads: int = 0  # FFmpeg decoder threads (0 = FFmpeg's choice)
    workers: int = 2  # videos processed at once (threads); each 1080p original in flight holds ~0.2 GB of frames
    track_iou: float = 0.3  # min IoU between a track's last box and a detection to link them
    track_max_gap: int = 4  # sampled frames a track may miss and still be continued
    smooth_window: int = 3  # centred moving average over a track's boxes, in sampled frames (1 = off)
    shard_rows: int = 8192  # max crops per shard (cut at video boundaries)


@dataclass(frozen=True)
class EmbedParams:
    """``embed``: face-recognition embeddings of a few crops per track (dfmask.identity).

    Originals give the identities; fakes show the donor's face, so a few fake crops
    are embedded too and matched to the identities in the split stage.
    """

    model: Literal["dlib", "facenet"] = "dlib"  # dlib ResNet (128-d) or InceptionResnetV1 (512-d)
    weights_path: str | None = None  # facenet only: local vggface2 state_dict (.pt); no download
    crops_per_track: int = 3  # crops embedded per ORIGINAL track (spread over the track's frames)
    fake_crops_per_track: int = 2  # crops embedded per FAKE track (the donor's face)
    min_face_px: int = 20  # face boxes smaller than this in the crop (px) get status face_too_small
    max_landmark_shift: float = 0.5  # dlib vs MTCNN eye centres, in inter-ocular distances
    threads: int = 0  # torch intra-op threads for facenet (0 = torch default)


@dataclass(frozen=True)
class SplitParams:
    """``split``: identity clusters, groups, stable train/val/test assignment (dfmask.splits)."""

    distance_threshold: float = 0.5  # max average-linkage distance inside one identity (dlib
    #                                   euclidean; dlib's same-person cut is 0.6, facenet ~1.0)
    linkage: Literal["average", "complete", "single"] = "average"  # agglomerative linkage
    donor_aware: bool = True  # merge a fake's donor identity into its group (no donor leaks)
    donor_min_cosine: float = 0.4  # cosine(fake - original, identity - original), see DonorMatch
    donor_min_shift: float = 0.1  # |fake - original| track embedding shift below = "unchanged"
    ratios: tuple[float, float, float] = (0.70, 0.15, 0.15)  # train / val / test target shares
    min_groups_per_split: int = 2  # groups each split must hold, where the corpus has enough


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
    shard_mb: int = 256  # target Parquet shard size in MB (DESIGN: 64-512 MB per shard)


@dataclass(frozen=True)
class MasksParams:
    """``masks``: SSIM(real crop, fake crop) → binary manipulation mask (dfmask.masks).

    SSIM settings use scikit-image's names; Wang et al. is ``gaussian_weights: true,
    sigma: 1.5, use_sample_covariance: false``. The mask is ``1 − SSIM > threshold``
    cleaned by morphology. ``workers`` and ``dtype`` do not change which pixels are set
    beyond float rounding, but ``dtype`` is still part of the work key.
    """

    gaussian_weights: bool = True  # Gaussian-weighted window (True) or uniform box (False)
    sigma: float = 1.5  # Gaussian window standard deviation, crop px
    win_size: int | None = None  # odd window side, crop px; null = skimage default (7 / 11 at σ=1.5)
    use_sample_covariance: bool = False  # N−1 (True) or N (False, Wang et al.) covariance normaliser
    colour: bool = True  # SSIM per RGB channel then averaged (True) or on 8-bit grey (False)
    data_range: float = 255.0  # pixel value range of the 8-bit crops
    dtype: Literal["float32", "float64"] = "float32"  # SSIM arithmetic precision
    threshold: float = 0.05  # manipulated where 1 − SSIM > threshold (unitless)
    open_px: int = 3  # elliptical opening element side, crop px (0 = off): removes speckle
    close_px: int = 7  # elliptical closing element side, crop px (0 = off): fills holes
    dilate_px: int = 13  # elliptical dilation element side, crop px (0 = off): covers the swap's
    #                      feathered edge, where blended pixels differ too little for SSIM
    min_area: int = 64  # drop mask components smaller than this, crop px² (0 = keep all)
    fill_hull: bool = False  # replace the kept components by their joint convex hull
    valid_min_pixels: int = 32  # a fake crop is valid if MORE than this many pixels ...
    valid_diff_level: int = 20  # ... have an 8-bit dissimilarity (1 − SSIM)·255 above this level
    store_diff: bool = False  # also store the raw 8-bit dissimilarity PNG (column diff)
    workers: int = 0  # worker processes (0 = one per core, 1 per 1,000 pairs at most); output does not depend on it
    shard_rows: int = 65536  # max mask rows per Parquet shard (cut at video boundaries)


@dataclass(frozen=True)
class AugmentParams:
    """``train.augment``: training augmentations (dfmask.model.augment); p = per-crop probability."""

    hflip_p: float = 0.5  # horizontal flip of crop AND mask
    jitter_p: float = 0.8  # colour jitter
    brightness: float = 0.2  # brightness scale 1 ± U(this)
    contrast: float = 0.2  # contrast scale 1 ± U(this), around the mean grey
    saturation: float = 0.2  # saturation scale 1 ± U(this)
    downscale_p: float = 0.2  # shrink and enlarge back
    downscale: tuple[float, float] = (0.5, 0.9)  # shrink factor range
    blur_p: float = 0.2  # Gaussian blur
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # blur std range, px at train.input_size
    jpeg_p: float = 0.3  # JPEG recompression
    jpeg_quality: tuple[int, int] = (60, 95)  # JPEG quality range (inclusive)


@dataclass(frozen=True)
class SelfBlendParams:
    """``train.self_blend``: self-blended extra fakes from real crops (dfmask.model.selfblend)."""

    frac: float = 0.5  # share of the FAKE half of each epoch drawn as self-blended reals (0 = off)
    region_p: tuple[float, float, float] = (0.5, 0.35, 0.15)  # P(face ellipse, inner hull, mouth)
    rgb_shift: float = 20.0  # per-channel shift, ± U(this) grey levels
    hue_shift: float = 0.03  # hue shift, ± U(this) of the colour circle
    sat_shift: float = 0.3  # saturation scale 1 ± U(this)
    val_shift: float = 0.3  # value scale 1 ± U(this)
    brightness: float = 0.1  # brightness scale 1 ± U(this)
    contrast: float = 0.1  # contrast scale 1 ± U(this)
    frequency_p: float = 0.5  # P(downscale-and-back or sharpen the changed copy)
    downscale: tuple[float, float] = (0.3, 0.8)  # shrink factor range
    sharpen: tuple[float, float] = (0.3, 1.5)  # unsharp-mask amount range
    scale: float = 0.05  # source scale 1 ± U(this)
    shift: float = 0.03  # source shift ± U(this) of the crop side
    deform: float = 0.04  # mask displacement up to U(0, this) of the crop side
    feather: tuple[float, float] = (0.01, 0.06)  # mask blur sigma range, fraction of the crop side
    ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # blend ratio factors (drawn uniformly)
    mask_threshold: float = 0.3  # seg target = feathered region >= this


@dataclass(frozen=True)
class TrainParams:
    """``train``: the U-YNet model and its Lightning training run (dfmask.model.train)."""

    seed: int = 0  # seeds torch/numpy/python, the sampler and DataLoader workers
    input_size: int = 128  # crops are resized to this side, px (multiple of stem_stride * 2**depth)
    base_width: int = 16  # channels of the first UNet level (doubles per level)
    depth: int = 3  # number of 2x downsamplings (bottleneck = input_size / 2**depth)
    stem_stride: int = 2  # 1 or 2: stride of the first conv (2: net runs at input_size / 2)
    cls_input: Literal["bottleneck", "joint"] = "bottleneck"  # cls head pools the bottleneck, or + last decoder map
    activation: Literal["relu", "leaky_relu"] = "relu"
    upsample: Literal["transpose", "nearest"] = "transpose"  # decoder upsampling op
    batch_size: int = 32  # crops per optimiser step
    max_epochs: int = 3  # passes of samples_per_epoch crops
    samples_per_epoch: int | None = None  # crops drawn per epoch (null = size of the train split)
    limit_train_batches: int | None = None  # cap on train batches per epoch (null = no cap; CI)
    limit_val_batches: int | None = None  # cap on val batches per epoch (null = no cap)
    lr: float = 0.002  # AdamW peak learning rate (one-cycle schedule)
    weight_decay: float = 0.0001  # AdamW decoupled weight decay
    w_cls: float = 1.0  # weight of the classification BCE
    w_seg: float = 1.0  # weight of the segmentation BCE + Dice
    cls_on_invalid: bool = False  # invalid fakes (no visible manipulation) also count as FAKE for cls
    balance: bool = True  # draw reals and fakes with equal probability each epoch
    num_workers: int = 0  # DataLoader worker processes (0 = decode in the main process)
    accelerator: str = "auto"  # Lightning accelerator: auto | cpu | gpu
    precision: Literal["auto", "32-true", "16-mixed", "bf16-mixed"] = "auto"  # auto: AMP on GPU, fp32 on CPU
    channels_last: bool = False  # NHWC memory format (faster convs with AMP on GPU)
    threads: int = 1  # torch intra-op CPU threads (0 = torch default); 1 is fastest on a shared
    #                   CPU and makes CPU results independent of the core count
    val_crops_per_video: int | None = 4  # val crops per video per epoch, evenly spaced (null = all)
    init_checkpoint: str | None = None  # optional local checkpoint to initialise from (null = scratch)
    checkpoint: Literal["last", "best_val_loss"] = "last"  # weights kept: last epoch, or lowest val/loss
    augment: AugmentParams = field(default_factory=AugmentParams)
    self_blend: SelfBlendParams = field(default_factory=SelfBlendParams)


@dataclass(frozen=True)
class EvaluateParams:
    """``evaluate``: metrics of the trained model on val and test (dfmask.model.evaluate)."""

    splits: tuple[str, ...] = ("val", "test")  # splits evaluated
    batch_size: int = 64  # crops per forward pass
    threshold: float = 0.5  # p(FAKE) >= this ⇒ FAKE, for accuracy/precision/recall/F1
    mask_threshold: float = 0.5  # predicted mask = sigmoid(seg logit) >= this
    aggregation: Literal["mean", "confident"] = "mean"  # video score used for the headline metrics
    confident_threshold: float = 0.8  # "confident": frames above this count as confident fakes
    confident_min_frac: float = 0.4  # ... and are averaged alone if they are > this share of frames
    ece_bins: int = 10  # equal-width bins for ECE and the reliability plot
    ground_truth: str | None = "data/sample/ground_truth.parquet"  # true swap masks (null: real corpus)
    overlays: int = 8  # test crops shown in reports/eval/overlays.png
    threads: int = 1  # torch intra-op CPU threads for inference (0 = torch default)
    seeds: tuple[int, ...] = (0, 1, 2)  # train.seed values for `make eval-seeds`


@dataclass(frozen=True)
class ExportParams:
    """``export``: fp32 ONNX export of the trained model (dfmask.deploy.export)."""

    opset: int = 17  # ONNX opset (>= 17)
    input_size: int | None = None  # input side in px; null = the model config's training size
    parity_atol: float = 1e-4  # max |torch - ORT| per output, in logits, or export fails
    parity_crops: int = 8  # test crops used for the torch-vs-ORT parity check


@dataclass(frozen=True)
class QuantizeParams:
    """``quantize``: INT8 models and their parity vs fp32 (dfmask.deploy.quant_report)."""

    calib_crops: int = 256  # train crops used to calibrate (Quark, ORT and nndct)
    calib_batch: int = 8  # crops per calibration batch
    eval_max_crops: int | None = 2000  # test crops for parity (seeded subset; null = all)
    cpu_format: Literal["qdq", "qoperator"] = "qdq"  # ORT static format (QDQ measured faster here)
    reduce_range: bool = True  # 7-bit weights: avoids u8*s8 saturation on x86 without VNNI
    # ORT int8 only: fold the full-res restore ConvTranspose+Relu+seg head to half-res convs
    # (exact in fp32; ORT CPU has no int8 ConvTranspose; dfmask.deploy.cpu_graph)
    cpu_fold_restore: bool = True
    cpu_fp32_first_conv: bool = True  # ORT int8 only: keep the conv reading the 3-channel image in fp32
    max_auc_drop: float = 0.01  # target: fp32 AUC - int8 AUC
    max_dice_drop: float = 0.02  # target: fp32 Dice - int8 Dice
    threads: int = 1  # ORT intra-op threads for the parity evaluation


@dataclass(frozen=True)
class DeployParams:
    """``deploy``: where the model goes (dfmask.deploy.compile, dfmask.deploy.vitis)."""

    target: Literal["cpu", "vck5000"] = "cpu"  # cpu: ORT-optimised; vck5000: nndct + vai_c_xir + VART
    arch_json: str = "/opt/vitis_ai/compiler/arch/DPUCVDX8H/VCK50004PE/arch.json"  # must match the card's DPU
    launcher: Literal["conda", "docker"] = "conda"  # how vendor tools run: conda env here, or docker run
    conda_env: str = "vitis-ai-pytorch"  # the Vitis AI 3.0 PyTorch conda env (inside the docker)
    docker_image: str = "xilinx/vitis-ai-pytorch-cpu:ubuntu2004-3.0.0.106"  # for launcher=docker
    vai_fast_finetune: bool = False  # nndct fast finetune (AdaQuant-like) during calib
    vai_eval_crops: int = 256  # test crops nndct's test mode evaluates before export_xmodel


@dataclass(frozen=True)
class BenchmarkParams:
    """``benchmark``: latency, throughput and accuracy per backend (dfmask.deploy.benchmark)."""

    threads: int = 1  # intra-op threads for torch and every ORT session (same for all); 1 on a shared box
    batch: int = 16  # batch size for the throughput measurement
    warmup: int = 5  # untimed runs before each measurement
    latency_runs: int = 50  # timed batch-1 runs (p50/p99 latency, ms)
    throughput_runs: int = 40  # timed batch-N calls per backend, interleaved (images/s from the median)
    eval_max_crops: int | None = 1000  # test crops for accuracy (seeded subset; null = all)
    use_cuda: bool = True  # also time ORT on the CUDA EP when onnxruntime has it
    vart_threads: int = 4  # VART runners in parallel (VCK5000 throughput)
    vart_seconds: float = 10.0  # duration of the VART throughput run, s


# ============================================================================ loading


def read_params_file(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """The raw params.yaml document, with a clear error if it is missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise DfmaskError(f"{path}: params file not found (run from the repo root)")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DfmaskError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: expected a mapping of sections, got {type(doc).__name__}")
    return doc


def load_section(cls: type[T], name: str, path: str | Path = DEFAULT_PARAMS) -> T:
    """Load and validate section ``name`` of the params file as dataclass ``cls``."""
    doc = read_params_file(path)
    if name not in doc:
        raise DfmaskError(f"{path}: missing section '{name}'")
    return from_dict(cls, doc[name], name)


def from_dict(cls: type[T], value: Any, key: str) -> T:
    """Build dataclass ``cls`` from ``value``, validating names and types recursively."""
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
    return DfmaskError(
        f"params: {key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}"
    )


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise _fail(key, tp, value)
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise DfmaskError(
                f"params: {key}.{unknown[0]}: unknown key; valid keys of '{key}' are "
                f"{', '.join(sorted(fields))}"
            )
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _convert(hints[name], value[name], f"{key}.{name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DfmaskError(f"params: {key}.{name}: missing (expected {_type_name(hints[name])})")
        return tp(**kwargs)
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise _fail(key, tp, value)
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _convert(arg, value, key)
            except DfmaskError as err:
                errors.append(err)
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
#: (tests/test_params.py checks that the repo's params.yaml validates in full).
SECTIONS: dict[str, type] = {
    "base": BaseParams,
    "corpus": CorpusParams,
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
