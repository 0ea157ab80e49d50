"""What scoring one video returns: `VideoPrediction`, as JSON or a CSV row.

``status`` is ``ok``, ``no_face`` (no face found: ``p_fake`` is the raw 0.5, the
uninformative score, through the calibration, as evaluate scores such a video), or why
the file could not be scored, with the ingest stage's names (`dfmask.corpus.ingest`):
``empty``, ``truncated``, ``corrupt``, ``not_mp4`` (the content is not an MP4/ISO-BMFF
container, whatever the file's extension), plus ``missing`` (no such file) and
``unreadable`` (the file exists but cannot be read, e.g. no read permission). A failed
video has ``p_fake`` and ``label`` null.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

#: Statuses of a video that was scored (the others are failures: exit code 1).
SCORED = ("ok", "no_face")

CSV_COLUMNS = (
    "file",
    "status",
    "p_fake",
    "label",
    "faces",
    "tracks",
    "aggregation",
    "threshold",
    "sha256",
    "model_id",
    "detail",
)


@dataclass(frozen=True)
class FramePrediction:
    """One face crop of one sampled frame.

    Attributes:
        frame_idx: 0-based index into the decoded stream.
        time_s: ``frame_idx / fps`` in seconds.
        track_id: the face track (`dfmask.faces.tracks`) the crop belongs to.
        box: face box x0, y0, x1, y1 in full-resolution pixels.
        crop_box: the square crop window in the same pixels (may pass the frame border).
        p_fake: the crop's probability of FAKE (calibrated like the video's score).
        manipulated_area: fraction of the crop the mask head calls manipulated
            (sigmoid(seg) >= 0.5), in [0, 1].
    """

    frame_idx: int
    time_s: float
    track_id: int
    box: list[float]
    crop_box: list[int]
    p_fake: float
    manipulated_area: float


@dataclass(frozen=True)
class VideoPrediction:
    """The score of one video (`to_json` is the document `dfmask predict` and the server give)."""

    file: str
    status: str
    sha256: str | None
    p_fake: float | None
    label: str | None
    threshold: float
    aggregation: str
    calibration: dict[str, Any]
    models: list[dict[str, Any]]
    model_id: str
    detail: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    duration_s: float = 0.0
    frames_sampled: int = 0
    tracks: int = 0
    frames: list[FramePrediction] = field(default_factory=list)
    faces_params: str = "defaults"  # the params file whose faces: section cut the crops; "defaults"; "given"
    faces_exact: bool = True  # False: MTCNN ran in float32 on every core (Detector's FAST_FACES), not as the stage
    schema_version: int = SCHEMA_VERSION

    @property
    def failed(self) -> bool:
        return self.status not in SCORED

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        return {"schema_version": doc.pop("schema_version"), **doc}

    def csv_row(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "p_fake": "" if self.p_fake is None else f"{self.p_fake:.6f}",
            "label": self.label or "",
            "faces": len(self.frames),
            "tracks": self.tracks,
            "aggregation": self.aggregation,
            "threshold": self.threshold,
            "sha256": self.sha256 or "",
            "model_id": self.model_id,
            "detail": self.detail or "",
        }
