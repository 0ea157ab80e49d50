"""Face-recognition encoders: embeddings of face crops (clustered by `dfmask.identity.cluster`).

Why: DFDC has many originals per paid actor, so a split by ``original`` alone leaks
faces between train and test. The split stage therefore needs to know who is who.
This module embeds a few crops per face track with a real face-recognition model and
clusters the ORIGINAL tracks into identities. Fakes show the donor's face, so a few
fake crops are embedded too; `dfmask.splits` matches them to the identities.

Models (``embed.model``), both run offline:

* ``dlib`` (default): dlib's ResNet face encoder (128-d, 99.38 % on LFW) with its
  5-point shape predictor for alignment; both ship in ``face_recognition_models``.
  About 0.13 s per embedding on one CPU core. Euclidean distance < 0.6 means "same
  person" in dlib's own calibration.
* ``facenet``: facenet-pytorch's InceptionResnetV1 with vggface2 weights loaded from a
  local file (``embed.weights_path``; nothing is downloaded at run time). 512-d unit
  vectors; same person is roughly euclidean < 1.0.

Per-crop failures are a status, counted in the report (see `STATUSES`).

Geometry: the faces table gives the face box and landmarks in full-resolution frame
pixels and the square crop window ``crop_box``; a frame point (x, y) maps into the
``size``-px crop at ``(x - x0 + 0.5) * size / side - 0.5`` (see `dfmask.faces.crops`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from dfmask.dlib_models import model_file
from dfmask.errors import DfmaskError
from dfmask.params import EmbedParams

#: Per-crop status values of the embeddings table.
STATUSES = {
    "ok": "embedded",
    "no_landmarks": "the faces row has no (finite) landmarks, so the face cannot be aligned",
    "face_too_small": "the face box inside the crop is smaller than embed.min_face_px",
    "landmark_mismatch": "dlib's eye centres disagree with MTCNN's by more than "
    "embed.max_landmark_shift inter-ocular distances (the box does not hold the face)",
    "bad_crop": "the crop PNG could not be decoded",
}

# ============================================================================ encoders


@dataclass(frozen=True)
class FaceCrop:
    """One face crop with its geometry in CROP pixels.

    Attributes:
        image: (S, S, 3) uint8 RGB crop.
        box: (4,) face box x0, y0, x1, y1 in crop px.
        landmarks: (5, 2) MTCNN points (eyes, nose, mouth corners) in crop px, or None.
    """

    image: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray | None


class Encoder(Protocol):
    """A face-recognition model: crops in, (status, embedding or None) out."""

    name: str
    dim: int

    def embed(self, faces: Sequence[FaceCrop]) -> list[tuple[str, np.ndarray | None]]: ...


def _precheck(face: FaceCrop, min_face_px: int) -> str | None:
    """A failure status that needs no model, or None."""
    lm = face.landmarks
    if lm is None or not np.all(np.isfinite(lm)):
        return "no_landmarks"
    x0, y0, x1, y1 = face.box
    if min(x1 - x0, y1 - y0) < min_face_px:
        return "face_too_small"
    return None


class DlibEncoder:
    """dlib ResNet face encoder, aligned by dlib's 5-point shape predictor.

    The predictor runs inside the MTCNN box (as face_recognition does with dlib's own
    detector boxes). Its eye centres are checked against MTCNN's: a large shift means
    the box does not hold an alignable face, which becomes ``landmark_mismatch``.
    """

    name = "dlib_face_recognition_resnet_model_v1"
    dim = 128

    def __init__(self, params: EmbedParams):
        import dlib

        self._dlib = dlib
        self.params = params
        self._predictor = dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))
        self._model = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def _eye_shift(self, shape: Any, landmarks: np.ndarray) -> float:
        """Distance between dlib's and MTCNN's eye centres, in inter-ocular distances."""
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(4)], np.float64)
        dlib_eyes = np.stack([pts[0:2].mean(0), pts[2:4].mean(0)])
        dlib_eyes = dlib_eyes[np.argsort(dlib_eyes[:, 0])]
        mtcnn_eyes = landmarks[:2][np.argsort(landmarks[:2, 0])]
        iod = max(float(np.linalg.norm(mtcnn_eyes[1] - mtcnn_eyes[0])), 1.0)
        return float(np.linalg.norm(dlib_eyes - mtcnn_eyes, axis=1).max() / iod)

    def embed(self, faces: Sequence[FaceCrop]) -> list[tuple[str, np.ndarray | None]]:
        dlib = self._dlib
        out: list[tuple[str, np.ndarray | None]] = []
        for face in faces:
            status = _precheck(face, self.params.min_face_px)
            if status is not None:
                out.append((status, None))
                continue
            assert face.landmarks is not None
            x0, y0, x1, y1 = (round(float(v)) for v in face.box)
            shape = self._predictor(face.image, dlib.rectangle(x0, y0, x1, y1))
            if self._eye_shift(shape, face.landmarks) > self.params.max_landmark_shift:
                out.append(("landmark_mismatch", None))
                continue
            chip = dlib.get_face_chip(face.image, shape, size=150, padding=0.25)
            vec = np.asarray(self._model.compute_face_descriptor(chip), np.float32)
            out.append(("ok", vec))
        return out


class FacenetEncoder:
    """facenet-pytorch InceptionResnetV1 with vggface2 weights from a local file.

    Input: the MTCNN box cut from the crop (clamped to it), resized to 160 px and
    standardised as facenet-pytorch does ((x - 127.5) / 128). Output: 512-d unit vectors.
    """

    name = "facenet_inception_resnet_v1_vggface2"
    dim = 512

    def __init__(self, params: EmbedParams):
        path = params.weights_path
        if path is None:
            raise DfmaskError(
                "params: embed.weights_path: embed.model is 'facenet' but no weights file is "
                "set; point it at a local InceptionResnetV1 vggface2 state_dict (.pt) or use "
                "embed.model: dlib"
            )
        if not Path(path).is_file():
            raise DfmaskError(
                f"params: embed.weights_path: {path}: no such file; facenet weights are never "
                "downloaded at run time, copy the vggface2 state_dict there or use "
                "embed.model: dlib"
            )
        if importlib.util.find_spec("facenet_pytorch") is None:
            raise DfmaskError(
                "embed.model is 'facenet' but facenet-pytorch is not installed; install it "
                "from requirements-nodeps.txt (pip install --no-deps) or use embed.model: dlib"
            )
        import torch
        from facenet_pytorch import InceptionResnetV1

        self._torch = torch
        self.params = params
        if params.threads > 0:
            torch.set_num_threads(params.threads)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for a bad file
            lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
            # one line: torch's refusal opens with advice to load unsafely; keep the line saying why
            why = next((line for line in lines if "Unsupported" in line or "GLOBAL" in line), lines[0])
            raise DfmaskError(f"embed.weights_path: {path}: not a torch state_dict: {why[:200]}") from err
        if not isinstance(state, dict):
            raise DfmaskError(f"embed.weights_path: {path}: holds a {type(state).__name__}, not a state_dict")
        state = {k: v for k, v in state.items() if not k.startswith("logits.")}
        model = InceptionResnetV1(pretrained=None, classify=False)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise DfmaskError(
                f"embed.weights_path: {path}: not InceptionResnetV1 weights "
                f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
            )
        self._model = model.eval()

    def embed(self, faces: Sequence[FaceCrop]) -> list[tuple[str, np.ndarray | None]]:
        torch = self._torch
        out: list[tuple[str, np.ndarray | None]] = []
        batch: list[np.ndarray] = []
        slots: list[int] = []
        for face in faces:
            status = _precheck(face, self.params.min_face_px)
            out.append((status or "ok", None))
            if status is not None:
                continue
            h, w = face.image.shape[:2]
            x0, y0, x1, y1 = (round(float(v)) for v in face.box)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            patch = cv2.resize(face.image[y0:y1, x0:x1], (160, 160), interpolation=cv2.INTER_AREA)
            batch.append((patch.astype(np.float32) - 127.5) / 128.0)
            slots.append(len(out) - 1)
        if batch:
            x = torch.from_numpy(np.stack(batch).transpose(0, 3, 1, 2).copy())
            with torch.no_grad():
                vecs = self._model(x).numpy().astype(np.float32)
            for slot, vec in zip(slots, vecs, strict=True):
                out[slot] = ("ok", vec)
        return out


def make_encoder(params: EmbedParams) -> Encoder:
    """The encoder ``embed.model`` names (clear DfmaskError when it cannot be loaded)."""
    if params.model == "facenet":
        return FacenetEncoder(params)
    return DlibEncoder(params)
