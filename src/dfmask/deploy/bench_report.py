"""Write the benchmark document as reports/bench/{bench.json, bench.md, bench.png}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from dfmask.tables import write_json


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(doc: dict[str, Any]) -> str:
    """bench.md: one row per backend, then the VCK5000 estimate (clearly labelled)."""
    m = doc["machine"]
    p = doc["params"]
    lines = [
        "# U-YNet benchmark",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores visible, {m['threads']} intra-op threads for every backend; "
        f"onnxruntime {m['onnxruntime']}, torch {m['torch']}. Input {p['input_size']}×{p['input_size']}; "
        f"latency over {p['latency_runs']} batch-1 runs, "
        f"throughput over {p['throughput_runs']} batch-{p['batch']} runs; "
        f"accuracy on {p['test_crops']} test crops. Model: {doc['model']['gops']:.3f} GOPs/image, "
        f"{doc['model']['params']:,.0f} parameters.",
        "",
        "| backend | precision | device | p50 ms (b1) | p99 ms (b1) | images/s | AUC | Dice | log loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in doc["backends"].items():
        acc = row["accuracy"]
        lines.append(
            f"| {name} | {row['precision']} | {row['device']} | {row['latency_ms_b1']['p50']:.2f} | "
            f"{row['latency_ms_b1']['p99']:.2f} | {row['throughput_ips']:.1f} | {_fmt(acc['auc'])} | "
            f"{_fmt(acc['dice'])} | {_fmt(acc['log_loss'])} |"
        )
    lines += ["", f"ORT int8 / ORT fp32 throughput: **{doc['ort_int8_speedup']:.2f}×** (same run, same options)."]
    est = doc.get("vck5000_estimate")
    if est:
        lines += [
            "",
            f"## VCK5000: ESTIMATE, not a measurement ({est['dpu_build']} DPU build)",
            "",
            f"{est['label']}: {est['fps_low']:.0f}–{est['fps_high']:.0f} fps (geometric mid {est['fps_mid']:.0f}). "
            f"{est['caveat']}.",
        ]
    return "\n".join(lines) + "\n"


def figure(doc: dict[str, Any]) -> Figure:
    """Throughput and p50 latency per backend, one row per backend in both panels.

    The two panels share their rows and labels (``sharey``), so each latency bar sits
    beside its own throughput bar. The VCK5000 row, when present, is an estimate of
    throughput only: hatched in the throughput panel, "no measurement" in the latency
    panel. The title names the model input, and the machine the figures were measured on.
    """
    names = list(doc["backends"])
    ips = [doc["backends"][n]["throughput_ips"] for n in names]
    p50 = [doc["backends"][n]["latency_ms_b1"]["p50"] for n in names]
    est = doc.get("vck5000_estimate")
    rows = names + (["VCK5000 (ESTIMATE)"] if est else [])
    y = list(range(len(rows)))[::-1]  # first backend on top
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 1.2 + 0.55 * len(rows)), sharey=True)
    ax1.barh(y[: len(names)], ips, color="tab:blue")
    for yi, v in zip(y, ips, strict=False):
        ax1.annotate(f"{v:.0f}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    if est:
        ax1.barh([y[-1]], [est["fps_mid"]], color="white", edgecolor="tab:red", hatch="//")
        ax1.annotate(
            f"{est['fps_low']:.0f}-{est['fps_high']:.0f} (estimate)",
            (est["fps_mid"], y[-1]),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="tab:red",
        )
        ax2.annotate(
            "no measurement (estimate is throughput only)",
            (0, y[-1]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="tab:red",
        )
    ax1.set_xscale("log")
    ax1.set_xlabel(f"images/s, batch {doc['params']['batch']} (log scale)")
    ax1.set_yticks(y, rows)
    ax1.set_xlim(right=max(ips + ([est["fps_high"]] if est else [])) * 30)  # room for the labels (log axis)
    ax2.barh(y[: len(names)], p50, color="tab:orange")
    for yi, v in zip(y, p50, strict=False):
        ax2.annotate(f"{v:.2f}", (v, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax2.set_xlabel("p50 latency, batch 1 (ms)")
    ax2.margins(x=0.2)
    ax2.tick_params(axis="y", labelleft=True)
    m, p = doc["machine"], doc["params"]
    fig.suptitle(
        f"U-YNet benchmark, input {p['input_size']}×{p['input_size']}, {doc['model']['gops']:.3f} GOPs/image\n"
        f"measured on {m['cpu']}, {m['cores']} cores visible, {m['threads']} intra-op threads",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot(doc: dict[str, Any], path: Path) -> None:
    """Write `figure` as a PNG (no timestamps or versions in it)."""
    fig = figure(doc)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def write_bench_reports(doc: dict[str, Any], out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "bench.json", doc)
    (out_dir / "bench.md").write_text(markdown(doc))
    plot(doc, out_dir / "bench.png")
    return out_dir / "bench.json"
