"""Face extraction: detect (MTCNN on originals) / track (IoU) / crop (aligned real+fake).

Modules: `detect` (rescaled batched MTCNN), `tracks` (IoU linking, gap filling,
smoothing), `crops` (square margin windows, zero padding), `extract` (one video),
`stage` (one part: resumable, sharded output, report), `quality` (recall against
ground-truth boxes, preview). The tables it writes, FACES and FACE_VIDEOS, are
declared in the catalogue, `dfmask.schemas.faces`.
"""
