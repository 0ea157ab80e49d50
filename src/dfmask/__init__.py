"""dfmask: from a DFDC-layout deepfake corpus to aligned face crops, SSIM masks,
identity-disjoint splits and a deployable U-YNet. See README.md and docs/."""

__version__ = "0.1.0"
