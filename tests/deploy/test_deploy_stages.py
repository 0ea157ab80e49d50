"""The deploy stages end to end (export → quantize → quantize_vai → compile → benchmark).

The crop tables are replaced by a synthetic `CropIndex` of PNG crops (the toy task), so
the stage glue — checkpoint loading, split selection, resizing, file layout, reports —
runs for real without the upstream pipeline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from deploy_toy import SIZE, TINY_CONFIG, toy_batch
from torch import nn

import dfmask.model.data
from dfmask.deploy.benchmark import run_benchmark_stage
from dfmask.deploy.calib import CropTables, read_split
from dfmask.deploy.compile import compile_model
from dfmask.deploy.export import run_export
from dfmask.deploy.quant_report import run_quantize
from dfmask.deploy.vck5000 import run_quantize_vai
from dfmask.errors import DfmaskError
from dfmask.model.data import CropIndex
from dfmask.params import BenchmarkParams, DeployParams, QuantizeParams
from dfmask.tables import encode_png


def synthetic_index(n_per_split: int = 48) -> CropIndex:
    """Toy crops at 2× the model size (so resizing runs), as a CropIndex over 3 splits."""
    images, masks, is_fake = toy_batch(3 * n_per_split, seed=21, size=2 * SIZE)
    crops = [encode_png((img.transpose(1, 2, 0) * 255).round().astype(np.uint8)) for img in images]
    mask_png = [encode_png(m * 255) if f else None for m, f in zip(masks, is_fake, strict=True)]
    n = len(images)
    return CropIndex(
        part=np.zeros(n, np.int64),
        video_id=np.array([f"v{i:04d}" for i in range(n)], dtype=object),
        original_id=np.array([None] * n, dtype=object),
        frame_idx=np.zeros(n, np.int64),
        track_id=np.zeros(n, np.int64),
        is_fake=is_fake,
        split=np.array(["train", "val", "test"] * n_per_split, dtype=object),
        crop_box=np.zeros((n, 4), np.float32),
        box=np.zeros((n, 4), np.float32),
        landmarks=np.full((n, 5, 2), np.nan),
        has_mask_row=is_fake.copy(),
        mask_valid=is_fake.copy(),
        crop_png=pa.array(crops, pa.binary()),
        mask_png=pa.array(mask_png, pa.binary()),
    )


@pytest.fixture()
def tables(monkeypatch: pytest.MonkeyPatch) -> CropTables:
    index = synthetic_index()
    monkeypatch.setattr(dfmask.model.data, "read_crop_tables", lambda *args: index)
    return CropTables()


def test_read_split_resizes_and_selects(tables: CropTables) -> None:
    crops = read_split(tables, "test", SIZE, max_crops=10, seed=0)
    assert crops.images.shape == (10, 3, SIZE, SIZE) and crops.images.dtype == np.float32
    assert crops.masks.shape == (10, SIZE, SIZE) and set(np.unique(crops.masks)) <= {0, 1}
    assert np.array_equal(crops.masks.any(axis=(1, 2)), crops.is_fake)  # fakes have masks, reals none
    again = read_split(tables, "test", SIZE, max_crops=10, seed=0)
    assert np.array_equal(crops.images, again.images)


@pytest.mark.slow
def test_deploy_stages_end_to_end_on_cpu(
    tiny_model: nn.Module, tables: CropTables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = tmp_path / "uynet.ckpt"  # the Lightning layout the train stage writes
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in tiny_model.state_dict().items()},
            "hyper_parameters": {"model_config": TINY_CONFIG},
        },
        ckpt,
    )
    onnx_dir, int8, vai, compiled = (tmp_path / d for d in ("onnx", "int8", "vai", "compiled"))

    exported = run_export(ckpt, onnx_dir, 17, None, 1e-4, 8, tables)
    assert max(exported.max_abs_diff.values()) <= 1e-4

    report = run_quantize(QuantizeParams(calib_crops=32, eval_max_crops=None), onnx_dir, int8, 0, tables)
    assert report["test_crops"] == 48 and report["calib_crops"] == 32
    assert set(report["int8"]) == {"quark_xint8", "ort_int8"}
    assert report["int8"]["ort_int8"]["restore_folds"] == 0  # cpu_fold_restore on, but stem 1 has no restore block
    with np.load(int8 / "calib.npz") as calib:
        assert calib["images"].shape == (32, SIZE, SIZE, 3) and calib["images"].dtype == np.uint8

    vai_report = run_quantize_vai(DeployParams(), onnx_dir, int8, vai, 0, tables)
    assert vai_report["nndct"].startswith("not run") and not list(vai.glob("*.xmodel"))
    assert vai_report["bundle_check"]["seg_max_abs_diff"] < 1e-4  # py3.8 model == uynet.onnx
    assert json.loads((vai / "quantize_vai.json").read_text())["command"][:2] == ["conda", "run"]

    if shutil.which("conda") is None:  # the lab-server path stops before any vendor artefact
        with pytest.raises(DfmaskError, match="'conda' not found"):
            run_quantize_vai(DeployParams(target="vck5000"), onnx_dir, int8, tmp_path / "vai_lab", 0, tables)
        assert not list((tmp_path / "vai_lab").glob("*.xmodel"))
        with pytest.raises(DfmaskError, match="quantized xmodel not found"):
            compile_model(DeployParams(target="vck5000"), onnx_dir, int8, vai, tmp_path / "compiled_lab")

    compile_report = compile_model(DeployParams(), onnx_dir, int8, vai, compiled)
    assert set(compile_report["models"]) == {"fp32", "int8"}

    params = BenchmarkParams(threads=1, batch=8, warmup=1, latency_runs=3, throughput_runs=1, use_cuda=False)
    doc = run_benchmark_stage(
        DeployParams(), params, onnx_dir, int8, compiled, tmp_path / "bench", tmp_path / "w", 0, tables
    )
    fp32_auc = report["fp32"]["auc"]
    assert doc["backends"]["ORT fp32"]["accuracy"]["auc"] == pytest.approx(fp32_auc)  # same model, same crops
    assert (tmp_path / "bench" / "bench.md").exists()
