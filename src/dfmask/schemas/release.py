"""The released mask dataset's table: one row per face crop, faces ⋈ masks ⋈ splits ⋈
videos (`dfmask.release.build` writes it; layout and decisions are documented there)."""

from __future__ import annotations

import pyarrow as pa

from dfmask.tables import BOX, IMAGE, LANDMARKS, TableSpec, field

#: Sort key of the release rows (also the key of every crop table).
KEY = ("part", "video_id", "frame_idx", "track_id")


def release_spec(pixels: bool) -> TableSpec:
    """The release table: the full variant, or the pixel-free one without ``crop``."""
    cols = [
        field("part", pa.int32(), "corpus part N of dfdc_train_part_N"),
        field("video_id", pa.string(), "video file name without .mp4"),
        field("original_id", pa.string(), "video_id of a fake's original; null for reals"),
        field("frame_idx", pa.int32(), "0-based index of the frame in the decoded video"),
        field("track_id", pa.int32(), "0-based face track of the original video (fakes share it)"),
        field("split", pa.string(), "train / val / test (identity-disjoint, see DATASHEET.md)"),
        field("is_fake", pa.bool_(), "video label: True = FAKE (manipulated)"),
        field("group_id", pa.string(), "connected group of videos (fake↔original↔identity); never split"),
        field("identity_id", pa.string(), "identity cluster of the target face (anonymous id)"),
        field("donor_identity_id", pa.string(), "identity cluster of a fake's donor face; null if none"),
        field("frame_width", pa.int32(), "video frame width, px"),
        field("frame_height", pa.int32(), "video frame height, px"),
        field("fps", pa.float32(), "video frame rate, frames/s"),
        field("box", BOX, "detected face box x0,y0,x1,y1 in full-resolution frame px"),
        field("crop_box", BOX, "crop window x0,y0,x1,y1 in frame px (may pass the border)"),
        field("landmarks", LANDMARKS, "5 points (eyes, nose, mouth corners) x,y in frame px"),
        field("prob", pa.float32(), "face detector confidence, 0..1"),
    ]
    if pixels:
        cols.append(field("crop", IMAGE, "RGB face crop, PNG (crop_box resized to the crop size)"))
    cols += [
        field(
            "mask",
            IMAGE,
            "grey PNG, crop-aligned: 255 = manipulated, 0 = untouched; "
            "all zero for reals; null if mask_source = missing",
        ),
        field("mask_source", pa.string(), "ssim (masks stage) | real_zero (real crop) | missing"),
        field("ssim_mean", pa.float32(), "mean SSIM(real crop, fake crop) over the crop; null for reals"),
        field("manipulated_frac", pa.float32(), "share of mask pixels marked manipulated, 0..1"),
        field("mask_valid", pa.bool_(), "False: a fake whose mask is empty/unusable; null for reals"),
    ]
    image_cols = ("crop", "mask") if pixels else ("mask",)
    return TableSpec("release", 1, pa.schema(cols), KEY, image_cols)
