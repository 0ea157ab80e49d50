"""Quantize: Quark XINT8 really uses power-of-two scales; both int8 models keep accuracy."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from deploy_toy import SIZE, TINY_CONFIG, toy_batch
from torch import nn

from dfmask.deploy.accuracy import Predictions, head_metrics
from dfmask.deploy.calib import LabelledCrops, select_rows
from dfmask.deploy.export import export_model
from dfmask.deploy.quant_report import quantize_models
from dfmask.deploy.quantize import QuantScale, quant_scales


def _crops(n: int, seed: int) -> LabelledCrops:
    images, masks, is_fake = toy_batch(n, seed)
    return LabelledCrops(images, masks, is_fake, np.ones(n, bool))


@pytest.fixture(scope="module")
def quantized(tiny_model: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, object]:
    root = tmp_path_factory.mktemp("quant")
    export_model(tiny_model, TINY_CONFIG, root / "onnx", SIZE)
    report = quantize_models(root / "onnx" / "uynet.onnx", root / "int8", _crops(64, 11), _crops(128, 12))
    return report, root


@pytest.mark.slow
def test_quark_scales_are_powers_of_two_symmetric_int8(quantized: tuple[dict, object]) -> None:
    report, root = quantized
    scales = quant_scales(onnx.load(str(root / "int8" / "uynet.quark_xint8.onnx")))  # type: ignore[operator]
    assert len(scales) > 10
    for s in scales:
        assert all(math.log2(v) == round(math.log2(v)) for v in s.scales), s
        assert set(s.zero_points) == {0} and s.dtype == "int8" and len(s.scales) == 1, s
    audit = report["int8"]["quark_xint8"]["dpu_numerics"]
    assert audit["power_of_two"] == audit["qdq_nodes"] == audit["symmetric"] == audit["int8"]
    # ORT's static model is NOT power-of-two (float scales, u8 asymmetric activations).
    ort_scales = quant_scales(onnx.load(str(root / "int8" / "uynet.ort_int8.onnx")))  # type: ignore[operator]
    assert not all(s.power_of_two for s in ort_scales)


@pytest.mark.slow
def test_int8_models_keep_accuracy_on_toy_task(quantized: tuple[dict, object]) -> None:
    report, _ = quantized
    assert report["fp32"]["auc"] > 0.9 and report["fp32"]["dice"] > 0.5  # the toy model learned something
    for key in ("quark_xint8", "ort_int8"):
        entry = report["int8"][key]
        assert entry["auc_drop"] <= 0.01 and entry["dice_drop"] <= 0.02, (key, entry)
        assert entry["seg_cosine"] > 0.98 and entry["cls_cosine"] > 0.98, (key, entry)
        assert entry["meets_targets"]
        # Every conv weight is stored as int8 (not fp32 with fake-quant around it), except, in the
        # ORT model, the first conv (quantize.cpu_fp32_first_conv: it reads the 3-channel image).
        model = onnx.load(entry["path"])
        int8_weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
        convs = [n for n in model.graph.node if n.op_type in ("Conv", "ConvTranspose")]
        fp32_convs = [n.name for n in convs if n.input[0] == "image"]
        assert len(fp32_convs) == (1 if key == "ort_int8" else 0), (key, fp32_convs)
        assert entry.get("fp32_nodes", []) == fp32_convs
        assert len(int8_weights) == len(convs) - len(fp32_convs) > 0, key


def test_power_of_two_detection() -> None:
    assert QuantScale("n", "t", (0.25, 2.0**-7), (0, 0), "int8").power_of_two
    assert not QuantScale("n", "t", (0.0123,), (0,), "int8").power_of_two


def test_head_metrics_match_sklearn() -> None:
    from sklearn.metrics import f1_score, log_loss, roc_auc_score

    rng = np.random.default_rng(0)
    cls = rng.normal(size=50).astype(np.float32)
    is_fake = rng.random(50) < 0.5
    seg = rng.normal(size=(50, 1, 4, 4)).astype(np.float32)
    masks = (rng.random((50, 4, 4)) < 0.3).astype(np.uint8)
    m = head_metrics(Predictions(seg, cls), masks, is_fake)
    prob = 1 / (1 + np.exp(-cls.astype(np.float64)))
    assert m["auc"] == pytest.approx(roc_auc_score(is_fake, prob))
    assert m["log_loss"] == pytest.approx(log_loss(is_fake, prob))
    assert m["dice"] == pytest.approx(f1_score(masks.ravel(), (seg[:, 0] > 0).ravel()))  # Dice == F1 on pixels


def test_head_metrics_follow_dfdc_like_evaluate() -> None:
    """Confident logits (|x| > 16.1, beyond a 1e-7 clip): the deploy figures equal the
    evaluate report's for the same p, and confident crops are not tied for the AUC."""
    from dfmask import metrics

    cls = np.array([20.0, 25.0, 2.0, -2.0], np.float32)  # a real called FAKE for sure, a sure fake
    is_fake = np.array([False, True, True, False])
    seg, masks = np.full((4, 1, 2, 2), -1.0, np.float32), np.zeros((4, 2, 2), np.uint8)
    m = head_metrics(Predictions(seg, cls), masks, is_fake)
    report = metrics.classification_report(is_fake, 1 / (1 + np.exp(-cls.astype(np.float64))))
    # per crop: 20 (the real; ln(1e7) = 16.1 with a 1e-7 clip), ~0, and ln(1 + e^-2) twice
    assert m["log_loss"] == report["log_loss"] == pytest.approx((20 + 2 * math.log1p(math.exp(-2))) / 4, rel=1e-6)
    assert m["auc"] == report["auc"] == 0.75


def test_select_rows_is_seeded_and_ordered() -> None:
    rows = np.arange(100, 200)
    a, b = select_rows(rows, 10, seed=1), select_rows(rows, 10, seed=1)
    assert np.array_equal(a, b) and np.all(np.diff(a) > 0) and len(a) == 10
    assert np.array_equal(select_rows(rows, None, 1), rows)


def test_quark_with_relative_paths_writes_only_its_output(
    tiny_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage passes repo-relative paths; Quark must not drop files (quantized_info.csv) in the cwd.
    Off a terminal (stderr here is not a TTY) Quark says only its warnings, without colour
    codes or calibration bars."""
    from dfmask.deploy.quantize import quantize_quark_xint8

    monkeypatch.chdir(tmp_path)
    export_model(tiny_model, TINY_CONFIG, "onnx", SIZE)
    before = set(Path(".").iterdir())
    out = quantize_quark_xint8("onnx/uynet.onnx", "int8/q.onnx", toy_batch(16, 4)[0])
    assert out == Path("int8/q.onnx") and out.exists()
    assert set(Path(".").iterdir()) - before == {Path("int8")}
    # What Quark prints is checked in a fresh process, as the stage runs it: Quark binds its
    # log handler to the stderr of the moment it is first imported, which inside a test
    # session is whatever stream an earlier test had (so capfd may see nothing here).
    np.save("batch.npy", toy_batch(16, 4)[0])
    script = (
        "import numpy as np\n"
        "from dfmask.deploy.quantize import quantize_quark_xint8\n"
        "quantize_quark_xint8('onnx/uynet.onnx', 'int8/q2.onnx', np.load('batch.npy'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "QUARK_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    err = proc.stderr
    assert "[QUARK-WARNING]" in err  # still said (the deprecated `activation` key of XINT8_QCONFIG)
    assert "[QUARK-INFO]" not in err and "\x1b" not in err and "\r" not in err and "it/s]" not in err
