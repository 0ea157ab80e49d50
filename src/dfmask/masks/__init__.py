"""SSIM real/fake masks: the kernel (`ssim`), the per-part stage (`stage`, table MASKS)
and its quality against the sample's truth (`quality`)."""
