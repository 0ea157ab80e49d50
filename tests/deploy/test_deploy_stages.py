"""The deploy stages end to end (deploy_crops → export → quantize → quantize_vai → compile → benchmark).

The crop tables are replaced by a synthetic `CropIndex` of PNG crops (the toy task), so
the stage glue — the crop draws, checkpoint loading, resizing, file layout, reports —
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

import dfmask.deploy.crop_sample
from dfmask.deploy import benchmark, export, quant_report, vck5000
from dfmask.deploy import compile as compile_stage
from dfmask.deploy.calib import Draw, deploy_draws, read_draw, select_rows
from dfmask.deploy.crop_sample import DeployCropsPaths
from dfmask.errors import DfmaskError
from dfmask.model.crop_index import CropIndex
from dfmask.model.inputs import resize_crop
from dfmask.params import BenchmarkParams, DeployParams, ExportParams, QuantizeParams
from dfmask.schemas.deploy_crops import BENCH_EVAL, DEPLOY_CROPS, EXPORT_PARITY, QUANTIZE_CALIB, QUANTIZE_EVAL, VAI_EVAL
from dfmask.tables import encode_png, read_metadata, read_table


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


def write_draws(
    index: CropIndex, folder: Path, monkeypatch: pytest.MonkeyPatch, draws: tuple[Draw, ...], seed: int = 0
) -> DeployCropsPaths:
    """The deploy_crops stage over ``index`` (its crop join replaced by the synthetic index)."""
    monkeypatch.setattr(dfmask.deploy.crop_sample, "read_crop_tables", lambda *args: index)
    paths = DeployCropsPaths(folder / "faces", folder / "masks", folder / "splits.parquet", folder / "crops")
    dfmask.deploy.crop_sample.run(draws, paths, seed, (0,))
    return paths


def test_a_draw_holds_exactly_the_seeded_crops_of_the_join(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = synthetic_index()
    draw = Draw(BENCH_EVAL, "test", 10)
    paths = write_draws(index, tmp_path, monkeypatch, (draw,), seed=3)
    crops = read_draw(draw.path(paths.out_dir), SIZE)
    # what the deploy stages computed from the full join before the table existed
    rows = select_rows(index.rows("test"), 10, 3)
    expected = np.stack([resize_crop(index.crop(int(i)), SIZE) for i in rows]).transpose(0, 3, 1, 2) / np.float32(255)
    assert crops.images.dtype == np.float32 and np.array_equal(crops.images, expected.astype(np.float32))
    assert np.array_equal(crops.masks, np.stack([index.mask(int(i), SIZE) for i in rows]))
    assert np.array_equal(crops.is_fake, index.is_fake[rows]) and np.array_equal(crops.seg_ok, index.seg_ok[rows])
    assert set(np.unique(crops.masks)) == {0, 1} and np.array_equal(crops.masks.any(axis=(1, 2)), crops.is_fake)
    table = read_table(draw.path(paths.out_dir), DEPLOY_CROPS)
    assert table["video_id"].to_pylist() == index.video_id[rows].tolist()  # table order = join order
    assert read_metadata(draw.path(paths.out_dir))["params"] == {
        "draw": BENCH_EVAL, "split": "test", "max_crops": 10, "seed": 3, "parts": [0]
    }


def test_a_changed_draw_size_rewrites_only_its_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = synthetic_index()
    sizes = [BenchmarkParams(eval_max_crops=20), BenchmarkParams(eval_max_crops=21)]
    files = []
    for k, bench in enumerate(sizes):
        draws = deploy_draws(ExportParams(), QuantizeParams(calib_crops=16), DeployParams(vai_eval_crops=12), bench)
        paths = write_draws(index, tmp_path / str(k), monkeypatch, draws)
        files.append({p.name: p.read_bytes() for p in sorted(paths.out_dir.glob("*.parquet"))})
    names = {f"{d}.parquet" for d in (EXPORT_PARITY, QUANTIZE_CALIB, QUANTIZE_EVAL, VAI_EVAL, BENCH_EVAL)}
    assert set(files[0]) == set(files[1]) == names
    changed = {name for name in names if files[0][name] != files[1][name]}
    assert changed == {f"{BENCH_EVAL}.parquet"}  # DVC re-runs benchmark only


def test_an_empty_split_stops_the_deploy_crops_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = synthetic_index()
    index.split[index.split == "test"] = "val"
    with pytest.raises(DfmaskError, match="split 'test' has no crops"):
        write_draws(index, tmp_path, monkeypatch, (Draw(EXPORT_PARITY, "test", 8),))


@pytest.mark.slow
def test_deploy_stages_end_to_end_on_cpu(
    tiny_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    quantize = QuantizeParams(calib_crops=32, eval_max_crops=None)
    bench = BenchmarkParams(threads=1, batch=8, warmup=1, latency_runs=3, throughput_runs=1, use_cuda=False)
    draws = deploy_draws(ExportParams(), quantize, DeployParams(), bench)
    crops = write_draws(synthetic_index(), tmp_path, monkeypatch, draws).out_dir
    draw = {d.name: d.path(crops) for d in draws}

    exported = export.run(ExportParams(), export.ExportPaths(ckpt, draw[EXPORT_PARITY], onnx_dir))
    assert max(exported.max_abs_diff.values()) <= 1e-4
    assert exported.summary().endswith(f"(see {onnx_dir / 'export.json'})")

    quant_paths = quant_report.QuantizePaths(
        onnx_dir, draw[QUANTIZE_CALIB], draw[QUANTIZE_EVAL], int8, tmp_path / "reports/quant.json"
    )
    report = quant_report.run(quantize, quant_paths).doc
    assert json.loads((tmp_path / "reports/quant.json").read_text()) == json.loads(json.dumps(report))
    assert report["test_crops"] == 48 and report["calib_crops"] == 32
    assert set(report["int8"]) == {"quark_xint8", "ort_int8"}
    assert report["int8"]["ort_int8"]["restore_folds"] == 0  # cpu_fold_restore on, but stem 1 has no restore block
    with np.load(int8 / "calib.npz") as calib:
        assert calib["images"].shape == (32, SIZE, SIZE, 3) and calib["images"].dtype == np.uint8

    vai_paths = vck5000.QuantizeVaiPaths(onnx_dir, int8 / "calib.npz", draw[VAI_EVAL], vai)
    vai_report = vck5000.run(DeployParams(), vai_paths).doc
    assert vai_report["nndct"].startswith("not run") and not list(vai.glob("*.xmodel"))
    assert vai_report["bundle_check"]["seg_max_abs_diff"] < 1e-4  # py3.8 model == uynet.onnx
    assert json.loads((vai / "quantize_vai.json").read_text())["command"][:2] == ["conda", "run"]

    if shutil.which("conda") is None:  # the lab-server path stops before any vendor artefact
        lab = vck5000.QuantizeVaiPaths(onnx_dir, int8 / "calib.npz", draw[VAI_EVAL], tmp_path / "vai_lab")
        with pytest.raises(DfmaskError, match="'conda' not found"):
            vck5000.run(DeployParams(target="vck5000"), lab)
        assert not list((tmp_path / "vai_lab").glob("*.xmodel"))
        with pytest.raises(DfmaskError, match="quantized xmodel not found"):
            lab_out = compile_stage.CompilePaths(onnx_dir, int8, vai, tmp_path / "compiled_lab")
            compile_stage.run(DeployParams(target="vck5000"), lab_out)

    compile_report = compile_stage.run(DeployParams(), compile_stage.CompilePaths(onnx_dir, int8, vai, compiled))
    assert set(compile_report.doc["models"]) == {"fp32", "int8"}
    assert json.loads((compiled / "compile.json").read_text())["models"].keys() == {"fp32", "int8"}

    bench_paths = benchmark.BenchmarkPaths(
        onnx_dir, int8, compiled, draw[BENCH_EVAL], tmp_path / "bench", tmp_path / "w"
    )
    doc = benchmark.run(DeployParams(), bench, bench_paths).doc
    fp32_auc = report["fp32"]["auc"]
    assert doc["backends"]["ORT fp32"]["accuracy"]["auc"] == pytest.approx(fp32_auc)  # same model, same crops
    assert (tmp_path / "bench" / "bench.md").exists()
