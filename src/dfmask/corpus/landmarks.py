"""dlib 68-point landmarks on the sample's SOURCE material (photos and source video frames).

These landmarks are the generator's own geometry: the swap is drawn from them and the
ground-truth boxes are their bounding boxes. They are found once on the source pixels
and then moved with the exact camera transform the generator applies, never re-detected
on the rendered or encoded video.

The model files ship in the ``face_recognition_models`` package; we locate them
without importing it (its ``__init__`` needs ``pkg_resources``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from dfmask.dlib_models import model_file
from dfmask.errors import DfmaskError

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


@functools.lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    try:
        import dlib
    except ImportError as err:
        raise DfmaskError("dlib is not installed; pip install dlib-bin==20.0.1.post1") from err
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(model_file(PREDICTOR_FILE)))


def detect_landmarks(image: np.ndarray, upsample: int = 1) -> list[np.ndarray]:
    """68-point landmarks, (68, 2) float64 in ``image`` pixels, of every face dlib's
    HOG detector finds in RGB ``image``, largest face first.

    Tries without upsampling first (fast) and upsamples up to ``upsample`` times only
    when nothing is found.
    """
    detector, predictor = _models()
    image = np.ascontiguousarray(image)
    rects: Any = []
    for up in range(upsample + 1):
        rects = detector(image, up)
        if len(rects):
            break
    faces = []
    for rect in sorted(rects, key=lambda r: (-r.area(), r.left(), r.top())):
        shape = predictor(image, rect)
        faces.append(np.array([(p.x, p.y) for p in shape.parts()], np.float64))
    return faces
