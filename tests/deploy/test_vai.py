"""Vitis AI path up to the vendor call: py3.8 model parity, py3.8 lint, commands, errors, parsers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from deploy_toy import TINY_CONFIG, tiny_uynet, toy_batch

from dfmask.deploy.estimate import dpu_build, estimate_vck5000_fps
from dfmask.deploy.vai import bench_vart
from dfmask.deploy.vai.uynet_py38 import UYNetVai, load_model
from dfmask.deploy.vck5000 import (
    compile_vck5000,
    parse_arch_output,
    parse_compile_log,
    quantize_vai_command,
    vai_c_xir_command,
)
from dfmask.deploy.vitis import require_environment, vendor_command
from dfmask.errors import DfmaskError
from dfmask.params import DeployParams

VAI_DIR = Path("src/dfmask/deploy/vai")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"upsample": "nearest", "activation": "leaky_relu", "depth": 3},
        {"stem_stride": 2, "cls_input": "joint"},
    ],
)
def test_py38_model_is_output_identical_to_uynet(overrides: dict, tmp_path: Path) -> None:
    torch.manual_seed(1)
    real = tiny_uynet(**overrides)
    for module in real.modules():  # non-trivial BN statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    real.eval()
    torch.save(real.state_dict(), tmp_path / "sd.pt")
    copy = load_model(str(tmp_path / "sd.pt"), {**TINY_CONFIG, **overrides})  # strict load: same names
    images = torch.from_numpy(toy_batch(3, seed=5)[0])
    with torch.no_grad():
        seg_a, cls_a = real(images)
        seg_b, cls_b = copy(images)
    assert torch.equal(seg_a, seg_b)
    assert torch.equal(cls_a, cls_b.reshape(-1))
    assert cls_b.shape == (3, 1, 1, 1)  # the DPU-side head ends on the 1×1 conv


class _RunsCommand:
    """Pickles as a call of ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        import os

        return (os.system, (self.command,))


def test_py38_load_model_refuses_a_pickle_that_runs_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch 1.13 (the Vitis AI env) unpickles anything unless told weights_only=True; the
    env variable gives this torch the same default, so only an explicit argument protects."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    evil = tmp_path / "sd.pt"
    torch.save({"stem.0.weight": _RunsCommand(f"touch '{marker}'")}, evil)
    with pytest.raises(Exception) as caught:  # its type is checked below, after the marker
        load_model(str(evil), dict(TINY_CONFIG))
    assert not marker.exists(), "loading the state_dict ran its command"
    assert caught.type is ValueError and str(evil) in str(caught.value) and "\n" not in str(caught.value)


def test_py38_model_rejects_unknown_config() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        UYNetVai({**TINY_CONFIG, "width": 3})
    with pytest.raises(ValueError, match="stem_stride 3"):
        UYNetVai({**TINY_CONFIG, "stem_stride": 3})


def test_vai_entry_points_are_python38_clean_and_self_contained() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [str(ruff), "check", "--target-version", "py38", str(VAI_DIR)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
    for path in VAI_DIR.glob("*.py"):
        source = path.read_text()
        assert "import dfmask" not in source and "from dfmask" not in source, path


def test_vendor_commands_for_conda_and_docker() -> None:
    conda = DeployParams()
    cmd = quantize_vai_command(conda, Path("models/onnx"), Path("models/int8/calib.npz"), Path("models/vai/quant"))
    assert cmd[:5] == ["conda", "run", "--no-capture-output", "-n", "vitis-ai-pytorch"]
    assert cmd[5:7] == ["python", "src/dfmask/deploy/vai/quantize_vai.py"]
    assert cmd[cmd.index("--state-dict") + 1] == "models/onnx/uynet.state_dict.pt"
    assert "--fast-finetune" not in cmd
    docker = DeployParams(launcher="docker", target="vck5000")
    dcmd = vai_c_xir_command(docker, Path("models/vai/quant/UYNetVai_int.xmodel"), Path("models/compiled"))
    assert dcmd[:2] == ["docker", "run"] and docker.docker_image in dcmd
    assert dcmd[dcmd.index("-w") + 1] == "/workspace"
    tail = dcmd[dcmd.index(docker.docker_image) + 1 :]
    assert tail[5:] == [
        "vai_c_xir",
        "-x",
        "models/vai/quant/UYNetVai_int.xmodel",
        "-a",
        docker.arch_json,
        "-o",
        "models/compiled",
        "-n",
        "uynet",
    ]
    assert vendor_command(conda, ["true"])[-1] == "true"


def test_missing_tools_give_a_clear_error() -> None:
    with pytest.raises(DfmaskError, match=r"'conda' not found.*vitis-ai-pytorch-cpu"):
        require_environment(DeployParams(target="vck5000"), which=lambda name: None)
    with pytest.raises(DfmaskError, match="'docker' not found"):
        require_environment(DeployParams(launcher="docker"), which=lambda name: None)


@pytest.mark.skipif(shutil.which("conda") is not None, reason="a conda is installed here")
def test_compile_vck5000_stops_without_writing_an_artifact(tmp_path: Path) -> None:
    quant = tmp_path / "quant"
    quant.mkdir()
    with pytest.raises(DfmaskError, match="quantized xmodel not found"):
        compile_vck5000(DeployParams(target="vck5000"), quant, tmp_path / "out")
    (quant / "UYNetVai_int.xmodel").write_bytes(b"")  # only to get past the first check
    with pytest.raises(DfmaskError, match="not found on PATH"):
        compile_vck5000(DeployParams(target="vck5000"), quant, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_arch_and_compile_log_parsers() -> None:
    out = "ab" * 32 + '  /opt/arch.json\n{\n  "target": "DPUCVDX8H_ISA1_F2W4_4PE"\n}\n'
    assert parse_arch_output(out, "/opt/arch.json") == {"sha256": "ab" * 32, "target": "DPUCVDX8H_ISA1_F2W4_4PE"}
    with pytest.raises(DfmaskError, match="checksum"):
        parse_arch_output("sha256sum: /x: No such file", "/x")
    log = (
        "[UNILOG][INFO] Target architecture: DPUCVDX8H_ISA1_F2W4_4PE\n"
        "[UNILOG][INFO] Total device subgraph number 3, DPU subgraph number 1\n"
    )
    assert parse_compile_log(log) == {"target": "DPUCVDX8H_ISA1_F2W4_4PE", "dpu_subgraphs": 1, "device_subgraphs": 3}


def test_dpu_fixed_point_round_trip() -> None:
    images = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)
    q = bench_vart.to_dpu_input(images, fix_point=6)  # scale 2^6: [0, 1] → [0, 64]
    assert q.dtype == np.int8 and q.shape == (2, 4, 4, 3)
    back = bench_vart.from_dpu_output(q, 6).transpose(0, 3, 1, 2)
    assert np.max(np.abs(back - images)) <= 2.0**-7 + 1e-7  # half a quantization step
    assert bench_vart.to_dpu_input(np.full((1, 3, 1, 1), 10.0, np.float32), 6).max() == 127  # saturates
    seg = np.zeros((2, 4, 4, 1), np.float32)
    cls = np.ones((2, 1), np.float32)
    s, c = bench_vart.split_outputs([cls, seg], size=4)
    assert s.shape == (2, 1, 4, 4) and np.array_equal(c, [1.0, 1.0])


def test_estimate_scales_anchors_by_gops() -> None:
    assert dpu_build("/opt/vitis_ai/compiler/arch/DPUCVDX8H/VCK50008PE/arch.json") == "8PE"
    est = estimate_vck5000_fps(5.3, "/opt/vitis_ai/compiler/arch/DPUCVDX8H/VCK50004PE/arch.json")
    assert est["fps_by_anchor"]["2D-UNet 128x128"] == pytest.approx(915)  # same GOPs ⇒ the anchor itself
    assert est["fps_by_anchor"]["UNet 512x512"] == pytest.approx(129 * 23.3 / 5.3)
    assert "ESTIMATE" in est["label"]
    half = estimate_vck5000_fps(5.3 / 2, "/x/VCK50004PE/arch.json")
    assert half["fps_mid"] == pytest.approx(2 * est["fps_mid"])
