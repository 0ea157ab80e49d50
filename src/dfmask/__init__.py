"""dfmask: from a DFDC-layout deepfake corpus to aligned face crops, SSIM masks,
identity-disjoint splits and a deployable U-YNet. See README.md and docs/."""

__version__ = "0.1.0"

__all__ = ["Detector", "__version__"]


def __getattr__(name: str) -> object:
    """``dfmask.Detector``, imported on first use: ``import dfmask`` stays free of numpy and
    torch. Every stage imports this package, so the module name is built at run time:
    `dfmask.codedeps` (which counts literal names only) then does not make
    ``dfmask.inference`` a code dependency of every stage; no stage uses it."""
    if name == "Detector":
        import importlib

        return importlib.import_module(f"{__name__}.inference.detector").Detector
    raise AttributeError(f"module 'dfmask' has no attribute {name!r}")
