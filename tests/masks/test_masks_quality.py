"""Mask quality against true swap masks: the crop mapping and the scores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from dfmask import metrics
from dfmask.cli import main
from dfmask.faces.crops import mask_in_crop
from dfmask.masks.stage import MasksPaths, MasksResult
from dfmask.masks.stage import run as run_masks
from dfmask.params import MasksParams
from dfmask.schemas.ground_truth import GROUND_TRUTH
from dfmask.tables import decode_png, encode_png, write_table
from tools.bench.masks import write_synthetic_faces
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[2]


def test_mask_in_crop_follows_the_crop_window_and_padding():
    truth = np.zeros((100, 200), bool)
    truth[20:60, 40:80] = True
    # A 80 px window from (20, 0) resized to 40 px: the 40 px square maps to 20 px at (10, 10).
    crop = mask_in_crop(truth, (20, 0, 100, 80), 40)
    expected = np.zeros((40, 40), np.uint8)
    expected[10:30, 10:30] = 1
    assert metrics.iou(crop, expected) > 0.95
    # A window hanging off the top-left corner: the outside is untouched (zero padding).
    corner = mask_in_crop(truth, (-40, -40, 60, 60), 100)
    assert corner[:40].sum() == 0 and corner[:, :40].sum() == 0
    assert corner[60:100, 80:100].all()
    # Growing (window smaller than the crop) keeps the geometry too.
    grown = mask_in_crop(truth, (40, 20, 80, 60), 80)
    assert grown.all()


def masks_part(faces: Path, part: int, params: MasksParams, out: Path, work: Path) -> MasksResult:
    """The masks stage on one part; its report is written next to ``out``."""
    return run_masks(params, MasksPaths(faces, out, out.with_name(f"{out.name}.json"), work), part)


#: The synthetic fakes' CRF per swap kind: three bands (`dfmask.corpus.groundtruth.CRF_BANDS`).
CRF_OF_KIND = {"full": 20, "mouth": 27, "failed": 31}


def _ground_truth(path, truths, size, crf=None):
    """A version-2 ground truth of the synthetic fakes: method and crf per video (``crf``:
    one CRF for every video, else `CRF_OF_KIND`)."""
    rows = []
    for (video, frame, _track), truth in sorted(truths.items()):
        kind = ("full", "mouth", "failed")[int(video.split("_")[1])]
        rows.append(
            dict(
                part=0,
                video_id=video,
                frame_idx=frame,
                face_idx=0,
                label="FAKE",
                is_fake=True,
                original_id="r" + video[1:4],
                swap_kind=kind,
                method={"full": "classical", "mouth": "mouth", "failed": "no_change"}[kind],
                crf=CRF_OF_KIND[kind] if crf is None else crf,
                preset="medium",
                encode_differs=False,
                width=size,
                height=size,
                fps=10,
                n_frames=4,
                source="synthetic",
                actor_id="a",
                donor_actor_id=None,
                face_swap_kind=kind,
                box=[0.0, 0.0, float(size), float(size)],
                landmarks=None,
                mask={"bytes": encode_png(truth * np.uint8(255)), "path": None},
            )
        )
    write_table(pa.Table.from_pylist(rows, schema=GROUND_TRUTH.schema), path, GROUND_TRUTH, stage="test")


def _splits(path, videos, test_originals=("r001",)):
    """A splits table: fakes of ``test_originals`` in test, the others in train."""
    from dfmask.schemas.splits import SPLITS

    rows = [
        dict(
            part=0,
            video_id=v,
            original_id="r" + v[1:4],
            is_fake=True,
            group_id="g-r" + v[1:4],
            identity_id=None,
            donor_identity_id=None,
            split="test" if "r" + v[1:4] in test_originals else "train",
        )
        for v in sorted(videos)
    ]
    write_table(pa.Table.from_pylist(rows, schema=SPLITS.schema), path, SPLITS, stage="test")


def test_quality_cli_on_synthetic_swaps(tmp_path):
    size = 96
    truths = write_synthetic_faces(
        tmp_path / "faces" / "part=0", 0, originals=2, fakes_per_original=3, frames=4, size=size
    )
    _ground_truth(tmp_path / "gt.parquet", truths, size)
    _splits(tmp_path / "splits.parquet", {v for v, _, _ in truths})
    params = MasksParams(workers=1, threshold=0.1, dilate_px=0)  # hard-edged synthetic swaps
    masks_part(tmp_path / "faces" / "part=0", 0, params, tmp_path / "masks" / "part=0", tmp_path / "work")
    (tmp_path / "params.yaml").write_text("masks: {threshold: 0.1, dilate_px: 0}\ncorpus: {parts: [0]}\n")
    main(
        [
            "quality",
            "masks",
            "--params",
            str(tmp_path / "params.yaml"),
            "--masks",
            str(tmp_path / "masks"),
            "--faces",
            str(tmp_path / "faces"),
            "--ground-truth",
            str(tmp_path / "gt.parquet"),
            "--splits",
            str(tmp_path / "splits.parquet"),
            "--out",
            str(tmp_path / "q.json"),
            "--preview",
            str(tmp_path / "p.png"),
            "--sweep",
            str(tmp_path / "sweep.md"),
        ]
    )
    report = json.loads((tmp_path / "q.json").read_text())
    every = report["all_splits"]["by_case"]  # the same cells over every split
    assert report["crops_by_kind"] == {"full": 8, "mouth": 8, "failed": 8}
    assert report["crops_by_split"] == {"train": 12, "val": 0, "test": 12, "none": 0}
    assert every["full"]["mean_iou"] >= 0.6 and every["mouth"]["mean_iou"] >= 0.5
    assert every["failed_or_no_change"]["invalid_unswapped"] == 1.0
    assert "ours" not in report and "mean_iou" not in report["targets"]  # the old all-splits block is gone
    # the baseline is fitted on the 8 non-empty train crops (r000's full and mouth fakes)
    base = report["baseline_mean_true_mask"]
    assert base["train_crops"] == 8 and 0.05 <= base["threshold"] <= 0.95
    test = report["test"]
    # method and band come from the truth's method and crf columns
    assert set(test["by_method"]) == {"classical", "mouth", "no_change"}
    assert set(test["by_band"]) == {"18-22", "27-29", "30-32"}
    assert test["by_method_and_band"]["mouth"].keys() == {"27-29"}
    assert set(test["by_case"]) == {"full", "mouth", "failed_or_no_change"}
    full = test["by_method"]["classical"]
    assert full["videos"] == 1 and full["crops"] == 4 and not full["pooled_enough"]
    assert full["mean_iou"] > full["baseline_mean_iou"]
    assert test["by_case"]["failed_or_no_change"]["invalid_unswapped"] == 1.0
    assert test["by_case"]["failed_or_no_change"]["mean_area_unswapped"] == 0.0
    # one test video per cell: no target is decided, and no codec-noise fixture
    statuses = {c["name"]: c["status"] for c in report["targets"]["checks"]}
    assert set(statuses.values()) == {"insufficient"}, statuses
    assert report["codec_pairs"]["available"] is False and not report["targets"]["met"]
    sweep = (tmp_path / "sweep.md").read_text()
    # the defaults of fill_hull, colour, noise_factor, temporal_frames, colour_union, edge_width_px and
    # dilate_tail_px are swept
    assert sweep.count("(default)") == 7 and "| noise_factor | 2.0 |" in sweep and "| edge_width_px | 2.2 |" in sweep
    assert "| dilate_tail_px | 0.0 (default) |" in sweep and "| dilate_tail_px | 3.5 |" in sweep
    preview = cv2.imread(str(tmp_path / "p.png"))
    assert preview.shape[0] == 16 + 3 * 2 * size  # header + 2 rows of each of 3 cases
    # a failed row's caption is red (BGR on disk): its caption strip holds red text
    failed_row = preview[16 + 4 * size : 16 + 4 * size + 14]
    assert ((failed_row[:, :, 2] > 200) & (failed_row[:, :, 0] < 120)).any()


def _run_stage(tmp_path, params: str):
    import subprocess

    (tmp_path / "params.yaml").write_text(params)
    return subprocess.run(
        stage_argv("masks_quality"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stage_on_a_real_corpus_writes_a_not_applicable_report(tmp_path):
    proc = _run_stage(tmp_path, "corpus: {root: /data/dfdc, parts: [0]}\nmasks: {}\n")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "reports/masks_quality.json").read_text())
    # the reason does not name where the corpus lies (no absolute paths in outputs)
    assert report["applicable"] is False and "/data/dfdc" not in report["reason"]
    assert report["reason"] == "corpus.root (outside the repository) has no ground truth"
    assert cv2.imread(str(tmp_path / "reports/masks_preview.png")) is not None


def test_stage_on_the_sample_scores_its_masks_and_names_missing_truth(tmp_path):
    size = 96
    sample = tmp_path / "data/sample"
    truths = write_synthetic_faces(
        tmp_path / "data/interim/faces/part=0", 0, originals=2, fakes_per_original=3, frames=4, size=size
    )
    _splits(tmp_path / "data/interim/splits.parquet", {v for v, _, _ in truths})
    params = MasksParams(workers=1, threshold=0.1, dilate_px=0)
    masks_part(
        tmp_path / "data/interim/faces/part=0", 0, params, tmp_path / "data/processed/masks/part=0", tmp_path / "w"
    )
    text = "corpus: {root: data/sample/corpus, parts: [0]}\nmasks: {threshold: 0.1, dilate_px: 0, workers: 1}\n"
    proc = _run_stage(tmp_path, text)  # no ground truth yet: one line naming the file
    assert proc.returncode == 2 and "data/sample/ground_truth.parquet: no ground truth" in proc.stderr
    _ground_truth(sample / "ground_truth.parquet", truths, size, crf=32)
    proc = _run_stage(tmp_path, text)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "reports/masks_quality.json").read_text())
    assert report["crops_by_kind"] == {"full": 8, "mouth": 8, "failed": 8}
    every = report["all_splits"]["by_case"]
    assert every["full"]["mean_iou"] >= 0.6 and every["failed_or_no_change"]["invalid_unswapped"] == 1.0
    assert set(report["test"]["by_band"]) == {"30-32"}  # every video's crf is 32: one band
    assert (tmp_path / "reports/masks_preview.png").stat().st_size > 1000


def test_preview_shows_the_stage_diff(tmp_path):
    """The preview's diff panel is the masks stage's own diff (`mask_pair`, in the params'
    dtype), not a float32 recomputation that follows the CPU's SIMD path."""
    from dfmask.masks.compute import mask_pair
    from dfmask.masks.preview import write_preview
    from dfmask.masks.truth import QualityItem
    from tools.bench.masks import synthetic_real

    params = MasksParams(dtype="float64")
    items, diffs = [], []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        real = np.clip(synthetic_real(rng, 64), 0, 255).astype(np.uint8)
        fake = real.copy()
        fake[16:48, 16:48] = cv2.GaussianBlur(real, (0, 0), 2)[16:48, 16:48]
        pm = mask_pair(real, fake, params)
        zero = np.zeros((64, 64), np.uint8)
        items.append(QualityItem(f"v{seed}", 0, 0, "full", encode_png(real), encode_png(fake), zero, zero, True))
        diffs.append(pm.diff)
    path = write_preview(items, params, tmp_path / "preview.png", per_kind=12)
    sheet = decode_png(path.read_bytes())[16:]  # below the header
    for i, diff in enumerate(diffs):
        panel = sheet[i * 64 + 16 : (i + 1) * 64, 128:192, 0]  # below the caption
        assert np.array_equal(panel, diff[16:]), i


def test_the_sweep_recomputes_the_stage_masks_exactly(tmp_path):
    """`dfmask.masks.sweep.recompute` (the sweep's and the dev tools' masks) makes the
    stage's stored masks and valid flags byte for byte, with the repo's mask params (the
    colour cues included) on multi-crop tracks."""
    from dfmask.masks.sweep import recompute
    from dfmask.masks.truth import load_items
    from dfmask.params import load_section

    params = dataclasses.replace(load_section(MasksParams, "masks", REPO / "params.yaml"), workers=1)
    assert params.colour_union and params.edge_width_px > 0
    size = 96
    truths = write_synthetic_faces(
        tmp_path / "faces" / "part=0", 0, originals=2, fakes_per_original=3, frames=4, size=size
    )
    _ground_truth(tmp_path / "gt.parquet", truths, size)
    masks_part(tmp_path / "faces" / "part=0", 0, params, tmp_path / "masks" / "part=0", tmp_path / "work")
    items = load_items(tmp_path / "masks", tmp_path / "faces", tmp_path / "gt.parquet", [0])
    assert len(items) == 24 and len({(it.video_id, it.track_id) for it in items}) == 6
    masks, valid = recompute(items, params)
    assert valid == [it.valid for it in items]
    assert all(np.array_equal(m, it.mask) for m, it in zip(masks, items, strict=True))
