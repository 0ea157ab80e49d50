"""Across CPUs: the faces stage stores the same bytes under another instruction set and
another thread count (docs/architecture.md, "Reproducibility").

Another CPU is emulated by capping what torch's kernels may use: ATen's own kernels
(``ATEN_CPU_CAPABILITY``), oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``), MKL's GEMMs
(``MKL_ENABLE_INSTRUCTIONS``) and OpenCV's resize (``OPENCV_CPU_DISABLE``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask.schemas.faces import STATUS_PATH
from dfmask.tables import file_sha256, shard_paths
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]

#: A machine without AVX (SSE4.1 at most), as far as torch and OpenCV can be told.
OLD_CPU = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    "OPENCV_CPU_DISABLE": "AVX512F,AVX512BW,AVX512CD,AVX512DQ,AVX512VL,AVX2,FMA3,FP16,AVX,POPCNT",
}

#: Raw MTCNN boxes of a few frames in float32 (the control: the emulation must change them).
_FLOAT32_PROBE = """
import dataclasses, hashlib, sys
import numpy as np
from dfmask.faces.detect import FaceDetector
from dfmask.params import FacesParams
from dfmask.video import read_frames
frames, _ = read_frames(sys.argv[1], range(0, 30, 5))
det = FaceDetector(FacesParams(device="cpu", precision="float32", threads=int(sys.argv[2])))
faces = det.detect(frames)
print(hashlib.sha256(b"".join(f.boxes.tobytes() + f.landmarks.tobytes() for f in faces)).hexdigest())
"""


def _workspace(base: Path, corpus: Any, threads: int) -> Path:
    base.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["corpus"] = {"root": str(corpus.root), "parts": [0]}
    params["faces"].update(frames=8, device="cpu", shard_rows=40, threads=threads)  # precision: params.yaml's
    (base / "params.yaml").write_text(yaml.safe_dump(params))
    (base / "data/interim/videos").mkdir(parents=True)
    shutil.copy(corpus.videos, base / "data/interim/videos/part=0.parquet")
    return base


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **extra}


def _outputs(base: Path) -> dict[str, str]:
    out = base / "data/interim/faces/part=0"
    files = [*shard_paths(out), out / STATUS_PATH, base / "reports/faces/part=0.json"]
    return {str(p.relative_to(base)): file_sha256(p) for p in files}


@pytest.mark.slow
def test_faces_bytes_do_not_depend_on_the_cpu_or_threads(faces_corpus: Any, tmp_path: Path) -> None:
    here = _workspace(tmp_path / "here", faces_corpus, threads=1)
    other = _workspace(tmp_path / "other", faces_corpus, threads=2)
    cmd = stage_argv("faces", 0)
    subprocess.run(cmd, cwd=here, env=_env({}), check=True, capture_output=True, timeout=600)
    subprocess.run(cmd, cwd=other, env=_env(OLD_CPU), check=True, capture_output=True, timeout=600)
    a, b = _outputs(here), _outputs(other)
    assert len(a) >= 3 and a == b

    # Control: the same two set-ups do change float32 arithmetic, so the equality above
    # is float64's doing (faces.precision), not an emulation that changed nothing.
    video = str(faces_corpus.root / "dfdc_train_part_0" / "aaorigwolf.mp4")
    probes = [
        subprocess.run(
            [sys.executable, "-c", _FLOAT32_PROBE, video, threads],
            env=_env(env),
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout.strip()
        for threads, env in (("1", {}), ("2", OLD_CPU))
    ]
    assert probes[0] != probes[1]


#: A float64 GEMM the size of MTCNN's O-Net layers, hashed (MKL's code path decides its bits).
_MKL_PROBE = """
import hashlib, sys
if sys.argv[1] == "dfmask":
    import dfmask.faces.detect  # sets MKL_CBWR, before any MKL call
import torch
g = torch.Generator().manual_seed(0)
a = torch.randn(256, 1152, dtype=torch.float64, generator=g)
b = torch.randn(1152, 256, dtype=torch.float64, generator=g)
print(hashlib.sha256((a @ b).numpy().tobytes()).hexdigest())
"""


def _mkl_probe(importing: str, env: dict[str, str]) -> str:
    clean = {k: v for k, v in _env({}).items() if k != "MKL_CBWR"}
    cmd = [sys.executable, "-c", _MKL_PROBE, importing]
    return subprocess.run(cmd, env=clean | env, check=True, capture_output=True, text=True, timeout=300).stdout.strip()


def test_detection_pins_mkl_to_its_cpu_independent_path() -> None:
    """MKL chooses its GEMM kernels by CPU vendor and model: on an Intel Xeon (Sapphire
    Rapids) its fast path rounds float64 products otherwise than the path an AMD EPYC runs,
    which moved one MTCNN box by 0.06 px and 7 crops of the sample's faces@1 by 1 px
    (docs/architecture.md, "Reproducibility"). Importing the detector sets
    ``MKL_CBWR=COMPATIBLE`` (unless the user set it), so the GEMMs follow that path.
    On a CPU whose default path already is that one (the AMD EPYC), the control below
    shows no difference and the equality holds either way."""
    pinned = _mkl_probe("dfmask", {})
    assert pinned == _mkl_probe("plain", {"MKL_CBWR": "COMPATIBLE"})
    assert _mkl_probe("dfmask", {"MKL_CBWR": "AUTO"}) == _mkl_probe("plain", {})  # the user's choice is kept
