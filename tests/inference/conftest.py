"""Fixtures of the inference tests (helpers: inference_fixtures.py)."""

from __future__ import annotations

import pytest
from inference_fixtures import Models, Videos, build_videos, export_onnx, save_checkpoint


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    base = tmp_path_factory.mktemp("models")
    ckpt = save_checkpoint(base / "a.ckpt", 0)
    ckpt2 = save_checkpoint(base / "b.ckpt", 1)
    return Models(ckpt, ckpt2, export_onnx(ckpt, base / "a.onnx"))


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    return build_videos(tmp_path_factory)
