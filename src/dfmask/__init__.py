"""dfmask: from a DFDC-layout deepfake corpus to aligned face crops, SSIM masks,
identity-disjoint splits and a deployable U-YNet. See README.md and docs/."""

__version__ = "0.1.0"

__all__ = ["Detector", "__version__"]


def __getattr__(name: str) -> object:
    """``dfmask.Detector`` without importing numpy/torch on ``import dfmask``."""
    if name == "Detector":
        from dfmask.inference.detector import Detector

        return Detector
    raise AttributeError(f"module 'dfmask' has no attribute {name!r}")
