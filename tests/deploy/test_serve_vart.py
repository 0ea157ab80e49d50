"""`VartRunner` and ``vai/serve_vart.py``: scoring on the VCK5000 through a process in the
Vitis AI env, tested up to the vendor calls (a stand-in conda, xir and vart: fake_vitis/)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from dfmask.deploy.dpu_runner import VartRunner
from dfmask.deploy.vai import bench_vart, serve_vart
from dfmask.errors import DfmaskError
from dfmask.params import DeployParams

FAKE = Path(__file__).parent / "fake_vitis"
sys.path.insert(0, str(FAKE))
from vart import dpu_function  # noqa: E402  (the fake card's arithmetic, to check against)

SPEC = {"size": 16, "batch": 4, "in_fix": 6, "seg_fix": 3, "cls_fix": 2, "dpus": 1}


@pytest.fixture
def vitis_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake conda first on PATH, running this Python with the fake xir/vart."""
    monkeypatch.setenv("PATH", f"{FAKE}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FAKE_VITIS_PYTHON", sys.executable)
    monkeypatch.setenv("FAKE_VITIS_DIR", str(FAKE))


def _xmodel(path: Path, **changes: int) -> Path:
    with path.open("wb") as handle:  # a file handle: np.savez would append .npz to a name
        np.savez(handle, **{k: np.array(v) for k, v in (SPEC | changes).items()})
    return path


def _expected(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    feed = bench_vart.to_dpu_input(images, SPEC["in_fix"])
    seg, cls = dpu_function(feed)
    seg_f = bench_vart.from_dpu_output(seg, SPEC["seg_fix"]).transpose(0, 3, 1, 2)
    return seg_f, bench_vart.from_dpu_output(cls, SPEC["cls_fix"]).reshape(-1)


def test_framing_round_trip_and_clean_end() -> None:
    stream = io.BytesIO()
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([7, 2], np.int64)]
    for a in arrays:
        serve_vart.write_array(stream, a)
    stream.seek(0)
    for a in arrays:
        got = serve_vart.read_array(stream)
        assert got is not None and got.dtype == a.dtype and np.array_equal(got, a)
    assert serve_vart.read_array(stream) is None
    with pytest.raises(ValueError):  # a pickled object array is refused, never loaded
        serve_vart.read_array(io.BytesIO(b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, "
                                         b"'shape': (1,), }" + b" " * 60 + b"\n" + b"\x80\x04N."))


def test_runner_scores_like_the_card_in_batches(vitis_env: None, tmp_path: Path) -> None:
    runner = VartRunner(_xmodel(tmp_path / "uynet.xmodel"))
    assert (runner.input_size, runner.batch) == (SPEC["size"], SPEC["batch"])
    rng = np.random.default_rng(0)
    for n in (1, 4, 10):  # under, at and over the runner batch (padded, then cut)
        images = rng.random((n, 3, 16, 16), dtype=np.float32)
        seg, cls = runner.run(images)
        want_seg, want_cls = _expected(images)
        assert seg.shape == (n, 1, 16, 16) and cls.shape == (n,)
        np.testing.assert_array_equal(seg, want_seg)
        np.testing.assert_array_equal(cls, want_cls)
    runner.close()
    assert runner._proc.returncode == 0


def test_scorer_errors_are_one_line(vitis_env: None, tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="2 DPU subgraphs, expected 1") as err:
        VartRunner(_xmodel(tmp_path / "two.xmodel", dpus=2))
    assert "\n" not in str(err.value) and "the VART scorer stopped" in str(err.value)
    runner = VartRunner(_xmodel(tmp_path / "uynet.xmodel"))
    with pytest.raises(DfmaskError, match=r"expected N x 3 x 16 x 16"):
        runner.run(np.zeros((2, 3, 8, 8), np.float32))  # the scorer refuses, exits, and says why


def test_no_vitis_env_or_docker_launcher_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no conda here
    with pytest.raises(DfmaskError, match="'conda' not found on PATH.*Vitis AI 3.0 docker"):
        VartRunner(tmp_path / "uynet.xmodel")
    with pytest.raises(DfmaskError, match="deploy.launcher=conda; got docker"):
        VartRunner(tmp_path / "uynet.xmodel", DeployParams(launcher="docker"))
