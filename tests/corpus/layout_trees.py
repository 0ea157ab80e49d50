"""Tiny corpus trees in the published layouts, written from the generated sample.

The sample generator's videos (its faces, swaps and ground truth) are copied under the
names and folders that FaceForensics++, Celeb-DF v2, DeeperForensics-1.0 and FakeAVCeleb
use; FaceForensics++ trees also get mask videos made from the sample's true swap masks.
Written from the datasets' documentation, independently of `dfmask.corpus.adapters`
(nothing here imports them): each tree returns what it wrote (`Tree.files`), which is
what an adapter must find.

`awkward=True` adds the files a real download may hold and the adapters must name:
a stray text file, a misnamed video, an unknown folder, a fake without its original and
a symlink that leaves the tree.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dfmask.corpus.groundtruth import load_ground_truth, true_mask, videos
from dfmask.video import encode_video


@dataclass(frozen=True)
class Written:
    """One video a tree holds: its label, its original's path (fakes), the sample video it
    copies, and its mask video (FF++)."""

    label: str
    original: str | None
    sample_id: str
    method: str | None = None
    mask: str | None = None
    quality: str | None = None


@dataclass
class Tree:
    root: Path
    files: dict[str, Written] = field(default_factory=dict)  # path relative to root → what it is
    awkward: dict[str, str] = field(default_factory=dict)  # path relative to root → expected status
    extra_roots: dict[str, Path] = field(default_factory=dict)


def sample_videos(sample: Path) -> pd.DataFrame:
    """The sample's videos (ground truth) with the path of each mp4."""
    table = videos(load_ground_truth(sample / "ground_truth.parquet"))
    table["file"] = [
        sample / "corpus" / f"dfdc_train_part_{p}" / f"{v}.mp4" for p, v in zip(table.part, table.video_id, strict=True)
    ]
    return table


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _originals_and_fakes(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    reals = table[~table.is_fake].sort_values("video_id").reset_index(drop=True)
    fakes = table[table.is_fake & table.original_id.isin(set(reals.video_id))].sort_values("video_id")
    return reals, fakes.reset_index(drop=True)


def write_mask_video(sample: Path, video_id: str, n_frames: int, fps: int, dst: Path) -> None:
    """The sample fake's true masks as an FF++-style mask video (white = manipulated)."""
    gt = load_ground_truth(sample / "ground_truth.parquet")
    frames = []
    for i in range(n_frames):
        mask = true_mask(gt, video_id, i)
        frames.append(np.repeat((mask.astype(np.uint8) * 255)[:, :, None], 3, axis=2))
    encode_video(frames, dst, fps, crf=0)


# ----------------------------------------------------------------------------- FaceForensics++

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")


def write_ffpp(sample: Path, root: Path, qualities: tuple[str, ...] = ("c23", "c40"), awkward: bool = False) -> Tree:
    """FF++: originals as youtube/<q>/videos/NNN.mp4, fakes as <method>/<q>/videos/NNN_MMM.mp4,
    masks once per fake under <method>/masks/videos/, official splits as id pairs."""
    tree = Tree(root)
    table = sample_videos(sample)
    reals, fakes = _originals_and_fakes(table)
    number = {v: f"{i:03d}" for i, v in enumerate(reals.video_id)}
    for q in qualities:
        for v, src in zip(reals.video_id, reals.file, strict=True):
            rel = f"original_sequences/youtube/{q}/videos/{number[v]}.mp4"
            _copy(src, root / rel)
            tree.files[rel] = Written("REAL", None, v, quality=q)
    used: set[tuple[str, str, str]] = set()
    for k, row in enumerate(fakes.itertuples()):
        target = number[row.original_id]
        donor = f"{(int(target) + 1 + k % 3) % len(number):03d}"
        method = FFPP_METHODS[k % len(FFPP_METHODS)]
        while (method, target, donor) in used:
            donor = f"{(int(donor) + 1) % len(number):03d}"
        used.add((method, target, donor))
        name = f"{target}_{donor}.mp4"
        mask = None
        if method != "FaceShifter":
            mask = f"manipulated_sequences/{method}/masks/videos/{name}"
            write_mask_video(sample, row.video_id, int(row.n_frames), int(row.fps), root / mask)
        for q in qualities:
            rel = f"manipulated_sequences/{method}/{q}/videos/{name}"
            _copy(row.file, root / rel)
            tree.files[rel] = Written(
                "FAKE", f"original_sequences/youtube/{q}/videos/{target}.mp4", row.video_id, method, mask, q
            )
    ids = sorted(number.values())
    pairs = [ids[i : i + 2] for i in range(0, len(ids), 2)]
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, chunk in (("train", pairs[:-2]), ("val", pairs[-2:-1]), ("test", pairs[-1:])):
        (root / "splits" / f"{split}.json").write_text(json.dumps(chunk))
    if awkward:
        q = qualities[0]
        _copy(reals.file[0], root / f"original_sequences/youtube/{q}/videos/12.mp4")
        tree.awkward[f"original_sequences/youtube/{q}/videos/12.mp4"] = "bad_name"
        (root / f"manipulated_sequences/Deepfakes/{q}/videos/notes.txt").write_text("not a video")
        tree.awkward[f"manipulated_sequences/Deepfakes/{q}/videos/notes.txt"] = "not_mp4"
        _copy(fakes.file[0], root / f"manipulated_sequences/Morphing/{q}/videos/000_001.mp4")
        tree.awkward[f"manipulated_sequences/Morphing/{q}/videos/000_001.mp4"] = "unknown_folder"
        _copy(fakes.file[0], root / f"manipulated_sequences/Deepfakes/{q}/videos/099_098.mp4")
        tree.awkward[f"manipulated_sequences/Deepfakes/{q}/videos/099_098.mp4"] = "original_missing"
        outside = root.parent / "outside.mp4"
        _copy(reals.file[0], outside)
        os.symlink(outside, root / f"original_sequences/youtube/{q}/videos/098.mp4")
        tree.awkward[f"original_sequences/youtube/{q}/videos/098.mp4"] = "link_outside_corpus"
    return tree


# ----------------------------------------------------------------------------- Celeb-DF v2


def write_celebdf(sample: Path, root: Path, awkward: bool = False) -> Tree:
    """Celeb-DF v2: Celeb-real/id<A>_<NNNN>.mp4, Celeb-synthesis/id<A>_id<B>_<NNNN>.mp4,
    YouTube-real/<NNNNN>.mp4 and List_of_testing_videos.txt ("1 path" = real)."""
    tree = Tree(root)
    table = sample_videos(sample)
    reals, fakes = _originals_and_fakes(table)
    actors = sorted({a for ids in table.actor_ids for a in ids} | {a for ids in table.donor_actor_ids for a in ids})
    person = {a: i for i, a in enumerate(actors)}
    clips: dict[int, int] = {}
    name_of: dict[str, tuple[int, int]] = {}
    for v, ids, src in zip(reals.video_id, reals.actor_ids, reals.file, strict=True):
        who = person[ids[0]] if ids else len(actors)
        clip = clips.get(who, 0)
        clips[who] = clip + 1
        name_of[v] = (who, clip)
        rel = f"Celeb-real/id{who}_{clip:04d}.mp4"
        _copy(src, root / rel)
        tree.files[rel] = Written("REAL", None, v)
    seen: set[str] = set()
    for row in fakes.itertuples():
        who, clip = name_of[row.original_id]
        donor = person[row.donor_actor_ids[0]] if row.donor_actor_ids else (who + 1) % len(actors)
        rel = f"Celeb-synthesis/id{who}_id{donor}_{clip:04d}.mp4"
        while rel in seen:
            donor = (donor + 1) % (len(actors) + 1)
            rel = f"Celeb-synthesis/id{who}_id{donor}_{clip:04d}.mp4"
        seen.add(rel)
        _copy(row.file, root / rel)
        tree.files[rel] = Written("FAKE", f"Celeb-real/id{who}_{clip:04d}.mp4", row.video_id, "celeb-df")
    for i, (v, src) in enumerate(zip(reals.video_id[:2], reals.file[:2], strict=True)):
        rel = f"YouTube-real/{i:05d}.mp4"
        _copy(src, root / rel)
        tree.files[rel] = Written("REAL", None, v)
    listed = ["1 YouTube-real/00001.mp4", f"1 {next(iter(tree.files))}"]
    listed += [f"0 {rel}" for rel, w in list(tree.files.items()) if w.label == "FAKE"][:2]
    (root / "List_of_testing_videos.txt").write_text("\n".join(listed) + "\n")
    if awkward:
        _copy(reals.file[0], root / "Celeb-real/obama.mp4")
        tree.awkward["Celeb-real/obama.mp4"] = "bad_name"
        _copy(fakes.file[0], root / "Celeb-synthesis/id90_id1_0007.mp4")
        tree.awkward["Celeb-synthesis/id90_id1_0007.mp4"] = "original_missing"
    return tree


# ----------------------------------------------------------------------------- DeeperForensics-1.0


def write_deeperforensics(sample: Path, root: Path, ffpp_root: Path | None, awkward: bool = False) -> Tree:
    """DeeperForensics-1.0: manipulated_videos/<variant>/<NNN>_<M|W><NNN>.mp4 in two variants,
    lists/splits/*.txt; its real targets as FF++ youtube c23 videos under ``ffpp_root``."""
    tree = Tree(root)
    table = sample_videos(sample)
    reals, fakes = _originals_and_fakes(table)
    number = {v: f"{i:03d}" for i, v in enumerate(reals.video_id)}
    if ffpp_root is not None:
        tree.extra_roots["ffpp"] = ffpp_root
        for v, src in zip(reals.video_id, reals.file, strict=True):
            _copy(src, ffpp_root / f"original_sequences/youtube/c23/videos/{number[v]}.mp4")
    names = []
    for k, row in enumerate(fakes.itertuples()):
        target = number[row.original_id]
        name = f"{target}_{'MW'[k % 2]}{100 + k:03d}.mp4"
        names.append(name)
        for variant in ("end_to_end", "end_to_end_level_3"):
            rel = f"manipulated_videos/{variant}/{name}"
            _copy(row.file, root / rel)
            original = (
                os.path.relpath(ffpp_root / f"original_sequences/youtube/c23/videos/{target}.mp4", root)
                if ffpp_root is not None
                else None
            )
            tree.files[rel] = Written("FAKE", original, row.video_id, f"DF-VAE/{variant}")
    (root / "lists/splits").mkdir(parents=True, exist_ok=True)
    (root / "lists/splits/train.txt").write_text("\n".join(names[:-1]) + "\n")
    (root / "lists/splits/test.txt").write_text(names[-1] + "\n")
    if awkward:
        _copy(fakes.file[0], root / "manipulated_videos/end_to_end/000-M101.mp4")
        tree.awkward["manipulated_videos/end_to_end/000-M101.mp4"] = "bad_name"
        _copy(fakes.file[0], root / "manipulated_videos/upscaled/000_M101.mp4")
        tree.awkward["manipulated_videos/upscaled/000_M101.mp4"] = "unknown_folder"
    return tree


# ----------------------------------------------------------------------------- FakeAVCeleb

FAV_RACES = ("African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)")


def write_fakeavceleb(sample: Path, root: Path, awkward: bool = False) -> Tree:
    """FakeAVCeleb: <category>/<race>/<gender>/id<NNNNN>/<clip>.mp4 for originals,
    <clip>_id<donor>_wavtolip.mp4 for fakes, one RealVideo-FakeAudio copy, meta_data.csv."""
    tree = Tree(root)
    table = sample_videos(sample)
    reals, fakes = _originals_and_fakes(table)
    actors = sorted({a for ids in table.actor_ids for a in ids} | {a for ids in table.donor_actor_ids for a in ids})
    person = {a: f"id{100 + 7 * i:05d}" for i, a in enumerate(actors)}
    rows = []
    where: dict[str, tuple[str, str, str, str]] = {}
    for k, (v, ids, src) in enumerate(zip(reals.video_id, reals.actor_ids, reals.file, strict=True)):
        who = person[ids[0]] if ids else "id09999"
        race, gender = FAV_RACES[k % len(FAV_RACES)], ("men", "women")[k % 2]
        clip = f"{10 * k + 1:05d}"
        # one folder per (person, race, gender): a person's clips stay together
        where[v] = (race, gender, who, clip)
        rel = f"RealVideo-RealAudio/{race}/{gender}/{who}/{clip}.mp4"
        _copy(src, root / rel)
        tree.files[rel] = Written("REAL", None, v)
        rows.append([who, "-", "-", "real", "A", "RealVideo-RealAudio", race, gender, f"{clip}.mp4"])
        if k == 0:
            rel_b = f"RealVideo-FakeAudio/{race}/{gender}/{who}/{clip}.mp4"
            _copy(src, root / rel_b)
            tree.files[rel_b] = Written("REAL", None, v, "rtvc")
            rows.append([who, "-", "-", "rtvc", "B", "RealVideo-FakeAudio", race, gender, f"{clip}.mp4"])
    for k, row in enumerate(fakes.itertuples()):
        race, gender, who, clip = where[row.original_id]
        donor = person[row.donor_actor_ids[0]] if row.donor_actor_ids else "id08888"
        category, code, method = (
            ("FakeVideo-FakeAudio", "D", "wav2lip") if k % 2 else ("FakeVideo-RealAudio", "C", "faceswap")
        )
        name = f"{clip}_{k}_{donor}_wavtolip.mp4" if k % 3 == 0 else f"{clip}_{donor}_wavtolip.mp4"
        rel = f"{category}/{race}/{gender}/{who}/{name}"
        _copy(row.file, root / rel)
        tree.files[rel] = Written("FAKE", f"RealVideo-RealAudio/{race}/{gender}/{who}/{clip}.mp4", row.video_id, method)
        rows.append([who, donor, "-", method, code, category, race, gender, name])
    with (root / "meta_data.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["source", "target1", "target2", "method", "category", "type", "race", "gender", "path", ""])
        for r in rows:
            out.writerow([*r, f"FakeAVCeleb/{r[5]}/{r[6]}/{r[7]}/{r[0]}"])
    if awkward:
        _copy(fakes.file[0], root / "FakeVideo-FakeAudio/African/men/id07777/00999_id00100_wavtolip.mp4")
        tree.awkward["FakeVideo-FakeAudio/African/men/id07777/00999_id00100_wavtolip.mp4"] = "original_missing"
        _copy(fakes.file[0], root / "FakeVideo-FakeAudio/Martian/men/id07777/00001_id00100_wavtolip.mp4")
        tree.awkward["FakeVideo-FakeAudio/Martian/men/id07777/00001_id00100_wavtolip.mp4"] = "unknown_folder"
    return tree
