"""`Detector`: score one video file with the faces stage's code and a trained U-YNet.

``Detector.load(model=..., backend=...)`` loads the face detector and the model once;
``.predict(path)`` then runs, per video, exactly what the faces stage runs on an
original (`dfmask.faces.extract.process_original`: the same frame sampling, decode,
MTCNN, tracking, crop windows and PNG crops), decodes the crops and scores them
(`dfmask.inference.backends.Ensemble`). The video's raw score is made exactly as the
evaluate stage makes it (`dfmask.model.predict.video_scores`): each face track scored
from its frames by the frame rule, then the tracks by the track rule (``max`` by
default: one swapped face makes a fake video), both recorded in ``calibration.json``;
then calibrated (`dfmask.model.calibration.OperatingPoint`).

The face settings must be those the model's training crops were made with (the
project's ``params.yaml`` ``faces:`` section, passed as ``faces=``): another crop
margin or size shows the model faces it never saw.

Only how the detector runs differs by default (`FAST_FACES`): the faces stage runs
MTCNN in float64 on one thread per video, so that every CPU stores the same bytes,
which costs about 1.3x float32's detection time at 1080p on one thread (3.2x before the
CPU's P-Net was screened by float32, `dfmask.faces.pnet`; `dfmask.faces.detect`). One video scored
on its own needs neither, so scoring runs MTCNN in float32 on every core with FFmpeg's
own decode threads: the boxes move slightly, which now and then moves a crop window
(by up to 2 px on 40 sample videos; docs/predict.md gives the measured effect on p_fake).
``exact_faces=True`` (``--exact-faces``) keeps the stage's settings bit for bit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.inference.backends import Ensemble, default_backend
from dfmask.inference.result import FramePrediction, VideoPrediction
from dfmask.model.calibration import UNCALIBRATED, OperatingPoint, read_calibration
from dfmask.params import DeployParams, FacesParams, load_section

#: What scoring changes in the ``faces:`` settings unless ``exact_faces`` (module
#: docstring): none of these is a crop setting (size, margin, frames, thresholds...).
FAST_FACES = {"precision": "float32", "threads": 0, "decode_threads": 0}

#: The score of a video without any face: uninformative, as in evaluate.
NO_FACE_SCORE = 0.5
#: sigmoid(seg) at or above this is a manipulated pixel (evaluate.mask_threshold's default).
MASK_THRESHOLD = 0.5
#: First-box types of an ISO-BMFF (MP4/MOV) file; anything else is ``not_mp4``.
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def sniff_status(path: Path) -> tuple[str, str | None]:
    """``("ok", None)`` when ``path`` looks like an MP4 container, else a status and why."""
    if not path.is_file():
        return "missing", f"{path}: no such file"
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError as err:  # no read permission, an I/O error: this file's status, not the run's
        return "unreadable", f"{path.name}: cannot be read: {err.strerror or err}"
    if not head:
        return "empty", "empty file (0 bytes)"
    if len(head) < 8 or head[4:8] not in _MP4_BOXES:
        return "not_mp4", "not an MP4 container (no ISO-BMFF box at the start), whatever its extension"
    return "ok", None


@dataclass
class Scored:
    """A prediction plus what the overlay needs: the mask probability maps (N, S, S)."""

    prediction: VideoPrediction
    seg_prob: np.ndarray


class Detector:
    """Face detector + model + calibration, loaded once; `predict` scores one video."""

    def __init__(
        self,
        ensemble: Ensemble,
        faces: FacesParams,
        calibration: OperatingPoint,
        faces_source: str = "defaults",
        faces_exact: bool = True,
    ) -> None:
        from dfmask.faces.detect import FaceDetector

        self.ensemble = ensemble
        self.faces = faces
        self.faces_source = faces_source
        self.faces_exact = faces_exact  # False: `FAST_FACES` replaced how the detector runs
        self.calibration = calibration
        self.face_detector = FaceDetector(faces)

    @classmethod
    def load(
        cls,
        model: str | Path | Sequence[str | Path] = "models",
        backend: str | None = None,
        calibration: str | Path | OperatingPoint | None = None,
        faces: FacesParams | str | Path | None = None,
        frames: int | None = None,
        threads: int = 1,
        registry: str | Path | None = None,
        exact_faces: bool = False,
    ) -> Detector:
        """Load the model(s) and the face detector.

        Args:
            model: a model file, a models folder (the pipeline's ``models/``; the
                backend's file is taken from it), a released model ``NAME@vX.Y.Z`` or
                ``NAME@latest`` (`dfmask.inference.registry`), or a list of them (an
                ensemble).
            backend: ``torch`` | ``onnx`` | ``onnx-int8`` | ``vart``; default
                ``onnx-int8`` when present under the (first) models folder.
            calibration: a ``calibration.json`` path (or an `OperatingPoint`); None:
                the (first) released model's own calibration when it has one, else
                uncalibrated, threshold 0.5, mean per track, max over tracks.
            faces: the faces stage's settings the model was trained on: a `FacesParams`,
                or a params file whose ``faces:`` section is read (`dfmask.params`);
                None: the (first) released model's params.yaml when it has one, else
                the `FacesParams` defaults.
            frames: frames sampled per video (overrides ``faces.frames``).
            threads: intra-op threads of the model runtime.
            registry: the DVC project (path or git URL) whose releases ``NAME@VERSION``
                names; default: this directory's.
            exact_faces: run MTCNN exactly as the faces stage does (float64, its threads),
                so a video's crops are the stage's bytes; default: `FAST_FACES` (float32
                on every core; per thread ~1.3x faster detection at 1080p).
        """
        from dfmask.inference import registry as releases

        models = [model] if isinstance(model, str | Path) else list(model)
        fetched = []
        for i, item in enumerate(models):
            if releases.is_release(item):
                fetched.append(releases.resolve(item, registry))
                models[i] = fetched[-1].model
        if fetched and calibration is None and fetched[0].calibration is not None:
            calibration = fetched[0].calibration
        release_faces = fetched and faces is None and fetched[0].params is not None
        if release_faces:
            faces = fetched[0].params
        if backend is None:
            first = Path(models[0]) if models else Path("models")
            if first.is_dir():
                backend = default_backend(first)
            elif first.suffix == ".onnx":
                backend = "onnx-int8" if "int8" in first.name else "onnx"
            elif first.suffix == ".xmodel":
                backend = "vart"
            else:
                backend = "torch"
        deploy = None  # the deploy: section (the Vitis AI env) matters to vart only
        if backend == "vart" and isinstance(faces, str | Path):
            deploy = load_section(DeployParams, "deploy", faces)
        if faces is None:
            faces, faces_source = FacesParams(), "defaults"
        elif isinstance(faces, FacesParams):
            faces_source = "given"
        else:
            faces_source = f"{fetched[0].spec} params.yaml" if release_faces else str(faces)
            faces = load_section(FacesParams, "faces", faces)
        if frames is not None:
            if frames < 1:
                raise DfmaskError(f"--frames must be >= 1, got {frames}")
            faces = dataclasses.replace(faces, frames=frames)
        if not exact_faces:
            faces = dataclasses.replace(faces, **FAST_FACES)  # type: ignore[arg-type]
        if isinstance(calibration, OperatingPoint):
            calib = calibration
        else:
            calib = UNCALIBRATED if calibration is None else read_calibration(calibration)
        ensemble = Ensemble(models, backend, threads, deploy)
        named = {str(release.model): release.spec for release in fetched}
        for member in ensemble.members:  # a release is named by its name@version, not its file
            if member.info.path in named:
                member.info = dataclasses.replace(member.info, id=named[member.info.path])
        return cls(ensemble, faces, calib, faces_source, faces_exact=exact_faces)

    # -- scoring ---------------------------------------------------------------------

    def frame_probabilities(self, crops: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw p(FAKE) (N,) float64 and mask probabilities (N, S, S) float32 of uint8 crops."""
        if not crops:
            s = self.ensemble.input_size
            return np.zeros(0), np.zeros((0, s, s), np.float32)
        cls_logit, seg_logits = self.ensemble.logits(crops)
        return sigmoid(cls_logit), sigmoid(seg_logits).astype(np.float32)

    def aggregate(self, track_id: np.ndarray, p: np.ndarray) -> float:
        """The video's raw score of its crops' raw p(FAKE) and face tracks: evaluate's
        `dfmask.model.predict.video_scores` under the calibration's frame and track rules."""
        from dfmask.model.predict import video_scores

        point = self.calibration
        scores, _ = video_scores(
            ["video"],
            ["video"] * len(p),
            np.asarray(p, np.float64),
            point.frame_aggregation,
            point.confident_threshold,
            point.confident_min_frac,
            crop_track_ids=[int(t) for t in track_id],
            over_tracks=point.aggregation,
        )
        return float(scores[0])

    def _result(self, path: Path, status: str, detail: str | None, **fields: object) -> VideoPrediction:
        base = {
            "file": path.name,
            "status": status,
            "detail": detail,
            "sha256": None,
            "p_fake": None,
            "label": None,
            "threshold": self.calibration.threshold,
            "aggregation": self.calibration.aggregation,
            "calibration": self.calibration.describe(),
            "faces_params": self.faces_source,
            "faces_exact": self.faces_exact,
            "models": [dataclasses.asdict(i) | {"path": Path(i.path).name} for i in self.ensemble.infos],
            "model_id": self.ensemble.model_id,
        }
        return VideoPrediction(**(base | fields))  # type: ignore[arg-type]

    def predict(self, path: str | Path) -> VideoPrediction:
        """Score one video file (never raises for a bad video: see its ``status``)."""
        return self.score(path).prediction

    def score(self, path: str | Path) -> Scored:
        """`predict` plus the mask maps of every crop (for overlays)."""
        from dfmask.corpus.ingest import _probe_status
        from dfmask.faces.extract import process_original
        from dfmask.tables import decode_png, file_sha256
        from dfmask.video import probe

        path = Path(path)
        empty = np.zeros((0, self.ensemble.input_size, self.ensemble.input_size), np.float32)
        status, detail = sniff_status(path)
        if status != "ok":
            sha = file_sha256(path) if status not in ("missing", "unreadable") else None
            return Scored(self._result(path, status, detail, sha256=sha), empty)
        sha = file_sha256(path)
        info = probe(path, decode=False)
        if not info.error and info.frames == 0:  # no declared count (fragmented MP4): count by decoding
            info = probe(path, decode=True)
        facts = {
            "sha256": sha,
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 6),
            "duration_s": round(info.duration, 6),
        }
        if info.error:
            return Scored(self._result(path, _probe_status(info.error), info.error, **facts), empty)
        row = {
            "part": 0,
            "video_id": path.stem,
            "original_id": None,
            "is_fake": False,
            "status": "ok",
            "frames": info.frames,
            "path": path.name,
        }
        if not self.faces_exact:  # every core for MTCNN (the torch backend's runner sets its own per call)
            import os

            import torch

            torch.set_num_threads(os.cpu_count() or 1)
        faces = process_original(row, path.parent, self.face_detector, self.faces)
        st = faces.status
        facts["frames_sampled"] = st.frames_sampled
        if st.status == "decode_failed":
            why = "truncated" if st.frames_decoded else "corrupt"
            return Scored(self._result(path, why, st.detail, **facts), empty)
        if st.status == "no_faces":  # 0.5 raw, calibrated as evaluate calibrates a video without faces
            p_none = float(self.calibration.apply(NO_FACE_SCORE))
            return Scored(
                self._result(path, "no_face", st.detail, p_fake=p_none, label=self._label(p_none), **facts), empty
            )
        table = faces.rows
        crops = [decode_png(c["bytes"]) for c in table.column("crop").to_pylist()]
        p_raw, seg = self.frame_probabilities(crops)
        frame_idx = np.asarray(table.column("frame_idx").to_numpy(), np.int64)
        track_id = np.asarray(table.column("track_id").to_numpy(), np.int64)
        p_video = float(self.calibration.apply(self.aggregate(track_id, p_raw)))
        p_frames = self.calibration.apply(p_raw)
        area = (seg >= MASK_THRESHOLD).reshape(len(seg), -1).mean(axis=1)
        fps = info.fps or 1.0
        frames = [
            FramePrediction(
                frame_idx=int(f),
                time_s=round(float(f) / fps, 6),
                track_id=int(t),
                box=[round(float(v), 3) for v in box],
                crop_box=[int(v) for v in cbox],
                p_fake=float(p),
                manipulated_area=round(float(a), 6),
            )
            for f, t, box, cbox, p, a in zip(
                frame_idx,
                track_id,
                table.column("box").to_pylist(),
                table.column("crop_box").to_pylist(),
                p_frames,
                area,
                strict=True,
            )
        ]
        status, detail = "ok", None
        if st.frames_decoded < st.frames_sampled:
            status = "truncated"
            detail = f"scored on {st.frames_decoded} of {st.frames_sampled} sampled frames: the rest do not decode"
        pred = self._result(
            path,
            status,
            detail,
            p_fake=p_video,
            label=self._label(p_video),
            tracks=st.tracks,
            frames=frames,
            **facts,
        )
        return Scored(pred, seg)

    def _label(self, p: float) -> str:
        return "FAKE" if p >= self.calibration.threshold else "REAL"
