"""dlib's model files, as shipped in the ``face_recognition_models`` package.

Located without importing the package: its ``__init__`` imports the deprecated
``pkg_resources``. Used by the sample generator (68-point landmarks) and by the identity
encoder (5-point landmarks, ResNet face descriptor).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dfmask.errors import DfmaskError


def model_file(name: str) -> Path:
    """Path of dlib model file ``name`` inside ``face_recognition_models/models/``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DfmaskError(
            "package face-recognition-models is not installed (it ships dlib's face models); "
            "run `make setup` or pip install face-recognition-models==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise DfmaskError(f"{path}: dlib model file missing; reinstall face-recognition-models")
    return path
