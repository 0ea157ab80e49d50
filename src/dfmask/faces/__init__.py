"""Face extraction: detect (MTCNN on originals) / track (IoU) / crop (aligned real+fake).

Modules: `detect` (rescaled batched MTCNN), `tracks` (IoU linking, gap filling,
smoothing), `crops` (square margin windows, zero padding), `extract` (one video),
`stage` (one part: resumable, sharded output, report), `schema` (FACES and
FACE_VIDEOS table specs), `quality` (recall against ground-truth boxes, preview).
"""

from dfmask.faces.schema import FACE_VIDEOS, FACES

__all__ = ["FACES", "FACE_VIDEOS"]
