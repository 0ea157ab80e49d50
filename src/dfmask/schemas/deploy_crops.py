"""The deploy crop sample: one small table per draw (``<paths.deploy_crops>/<draw>.parquet``)
of the labelled crops the deploy stages calibrate on and score on (`dfmask.deploy.calib`
reads it, `dfmask.deploy.crop_sample` writes it)."""

from __future__ import annotations

import pyarrow as pa

from dfmask.tables import IMAGE, TableSpec, field

DEPLOY_CROPS = TableSpec(
    name="deploy_crops",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "corpus part N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("frame_idx", pa.int32(), "0-based index into the decoded stream", nullable=False),
            field("track_id", pa.int32(), "face track within the original (the faces table's)", nullable=False),
            field("split", pa.string(), "the video's split: train | val | test", nullable=False),
            field("is_fake", pa.bool_(), "true for crops of FAKE videos", nullable=False),
            field(
                "seg_ok",
                pa.bool_(),
                "the mask is a usable segmentation target: a real crop (all-zero mask) or a "
                "fake whose mask row is valid; Dice is scored on these crops only",
                nullable=False,
            ),
            field("crop", IMAGE, "the faces table's crop PNG, not resized (faces.size px)", nullable=False),
            field(
                "mask",
                IMAGE,
                "the masks table's mask PNG (grey, > 0 = manipulated); null for reals and for "
                "fakes without a mask row (an all-zero target)",
            ),
        ]
    ),
    sort_key=("part", "video_id", "frame_idx", "track_id"),
    image_columns=("crop", "mask"),
)

#: The draws, by the file stem the ``deploy_crops`` stage writes and dvc.yaml names.
EXPORT_PARITY = "export_parity"  # export: torch vs ONNX Runtime parity (test)
QUANTIZE_CALIB = "quantize_calib"  # quantize: calibration of Quark, ORT and nndct (train)
QUANTIZE_EVAL = "quantize_eval"  # quantize: int8 vs fp32 parity report (test)
VAI_EVAL = "vai_eval"  # quantize_vai: the bundle check and nndct's test mode (test)
BENCH_EVAL = "bench_eval"  # benchmark: accuracy per backend (test)
