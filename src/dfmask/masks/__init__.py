"""SSIM real/fake masks: the kernel (`ssim`), the per-part stage (`stage`, with `pairing`
of fake and original crops, `compute` of one video's mask rows and the worker `pool`),
and its quality against the sample's truth (`quality`). The table, MASKS, is declared in
the catalogue (`dfmask.schemas.masks`)."""
