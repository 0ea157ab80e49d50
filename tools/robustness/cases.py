"""The robustness catalogue: every hostile case and its EXPECTED outcome, in one table.

Outcome strings (``expected`` and ``actual`` in reports/robustness.json):

* ``status:<name>``: the video ended in that per-video status (ingest's, else the faces
  stage's; ``status:ok`` means it went through ingest, faces and, for a fake, masks, with
  a mask row for every fake crop). ``NonOk(...)`` below expects some non-ok status and
  names the one we expect (the fixing branch may choose another name); ``exclude``
  lists non-ok statuses that would still be wrong (e.g. a link outside the corpus must
  not be probed at all, so ``corrupt`` does not count).
* ``error:<one line>``: a stage stopped with its one-line ``DfmaskError`` (exit 2).
  ``Error(key)`` expects such a line that names ``key``.
* ``crash``: a traceback, a kill, a timeout, or a non-zero exit without the one-line form.
* ``violated:<what>``: a measured property broke: a video's rows differ from what they
  must be (a renamed copy vs its source, a rerun vs a fresh run), a checkpoint's pickle
  ran, a report is too big, output bytes depend on where the corpus lives.
* ``ok``: a property-only case held.

Per-video cases live in hostile parts (``group``) next to the clean base videos; the
clean videos of each group must keep the rows of a clean-only run (``lost``).
Stage-wide cases (params, metadata.json itself) get their own small runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exact:
    """This exact outcome string."""

    outcome: str

    def matches(self, actual: str) -> bool:
        return actual == self.outcome

    def __str__(self) -> str:
        return self.outcome


@dataclass(frozen=True)
class NonOk:
    """Any non-ok per-video status; ``name`` is the status we expect the fix to use."""

    name: str
    exclude: tuple[str, ...] = ()

    def matches(self, actual: str) -> bool:
        if not actual.startswith("status:") or actual == "status:ok":
            return False
        return actual.removeprefix("status:") not in self.exclude

    def __str__(self) -> str:
        extra = f", not {'/'.join(self.exclude)}" if self.exclude else ""
        return f"status:<any non-ok> (expected name: {self.name}{extra})"


@dataclass(frozen=True)
class Error:
    """A one-line stage error whose text names ``key``."""

    key: str

    def matches(self, actual: str) -> bool:
        return actual.startswith("error:") and self.key in actual

    def __str__(self) -> str:
        return f"error:<one line naming {self.key}>"


Expectation = Exact | NonOk | Error


def status(name: str) -> Exact:
    return Exact(f"status:{name}")


OK = status("ok")


@dataclass(frozen=True)
class Case:
    """One hostile input.

    Attributes:
        name: the case id in the report.
        group: the run it belongs to (see `GROUPS`).
        issue: the issue-14 defect it reproduces ("14.3"), "review" for a defect a later
            review found (fixed with its case), or "handled" for a case the pipeline
            already handled before issue 14.
        what: the hostile input, in words.
        expect: per subject (the file name as listed in metadata.json, or a key of the
            case's own run) its expected outcome.
        same_rows_as: for renamed copies, per subject the base video (role) whose rows
            it must carry under its own name.
        covered_by: for a case this catalogue does not run, the test that covers it.
        known_limit: why a case still fails for a reason outside this project (a tool's
            own limit, named with its upstream issue). Its expectation stays what the issue
            requires; the report lists it apart, and the slow test requires it to still
            fail, so that the day the tool changes, the case is looked at again.
    """

    name: str
    group: str
    issue: str
    what: str
    expect: dict[str, Expectation]
    same_rows_as: dict[str, str] | None = None
    covered_by: str | None = None
    known_limit: str | None = None


#: Groups: the per-video hostile parts (run through ingest -> faces -> masks, plus
#: embed -> split for "split"; the links group's ingest runs under `dvc repro`, since
#: DVC itself hashes the part folder) and the stage-wide runs. Base videos: O1, O2 (originals)
#: and their fakes F1 (of O1) and F2 (of O2), taken from the generated ci sample.
GROUPS = {
    "files": "broken, odd-format and odd-geometry videos next to the clean base (one part)",
    "names": "names that collide in one part, a name listed twice",
    "legal_names": "legal but unusual file names (fakes that must get masks)",
    "long_name": "a 255-character file name (its own run: it crashed masks before the fix)",
    "name_twin": "a name equal to another video's hashed work-item name; a unicode name with a space",
    "links": "symlinks in a part whose corpus root is itself a symlink (data on another disk)",
    "dangling_link": "a dangling symlink in a part, stages run directly",
    "dangling_link_dvc": "a dangling symlink in a part, ingest under dvc repro (DVC hashes the part folder itself)",
    "split": "videos of unknown label, run on to embed and split (with the rest of the sample's part 0, "
    "so that three groups hold fakes)",
    "stale": "a video whose bytes change after a first run, probe unchanged",
    "location": "the same corpus at two paths",
    "metadata": "metadata.json itself broken (stage-wide)",
    "params": "bad params (stage-wide): each its own run of the stage that reads the key",
    "checkpoint": "a checkpoint whose pickle would create a marker file",
}

#: Groups of per-video cases: each must end in a ``status:``, never a stage-wide error.
PER_VIDEO_GROUPS = (
    "files",
    "names",
    "legal_names",
    "long_name",
    "name_twin",
    "links",
    "dangling_link",
    "dangling_link_dvc",
    "split",
    "stale",
)

FILES = [
    Case("empty_file", "files", "handled", "0-byte mp4", {"empty.mp4": status("empty")}),
    Case("truncated", "files", "handled", "first 60% of an original's bytes", {"truncated.mp4": status("truncated")}),
    Case("random_bytes", "files", "handled", "64 kB of random bytes named .mp4", {"random.mp4": status("corrupt")}),
    Case(
        "no_face",
        "files",
        "handled",
        "a smooth moving gradient (no face), and a fake of it",
        {"noface.mp4": status("no_faces"), "noface_fake.mp4": status("original_no_faces")},
    ),
    Case(
        "tiny_frames",
        "files",
        "review",
        "originals of 8x8 and 2048x2 px frames, smaller than any face MTCNN looks for (it raised on its empty "
        "image pyramid and stopped the faces stage)",
        {"tiny.mp4": status("no_faces"), "sliver.mp4": status("no_faces")},
    ),
    Case(
        "broken_headers",
        "files",
        "review",
        "O2 with its frame count flipped past int32 (the ingest table could not hold it: the stage crashed), "
        "and O2 with an unknown codec tag (PyAV gave no decoder: the stage crashed)",
        {"huge_count.mp4": status("corrupt"), "unknown_codec.mp4": status("corrupt")},
    ),
    Case(
        "concat_list",
        "files",
        "review",
        "a text file named .mp4 that FFmpeg reads as a concat list of an unlisted file next to it (decoded, "
        "hashed as its 43 bytes of text: a change of the payload went unseen)",
        {"concat.mp4": status("corrupt")},
    ),
    Case(
        "thumbnail_first",
        "files",
        "review",
        "O2 behind a one-frame, face-free MJPEG thumbnail track listed first (read as a one-frame video "
        "without a face)",
        {"thumb_first.mp4": OK},
    ),
    Case(
        "resolution_mismatch",
        "files",
        "handled",
        "F1 re-encoded at half size, as a fake of O1",
        {"small_fake.mp4": status("resolution_mismatch")},
    ),
    Case(
        "shorter_fake",
        "files",
        "handled",
        "the first half of F1's frames, as a fake of O1 (frames past its end are counted, not failed)",
        {"short_fake.mp4": OK},
    ),
    Case("mpeg4", "files", "handled", "O2 re-encoded as MPEG-4 part 2, a new original", {"mpeg4.mp4": OK}),
    Case("vp9", "files", "handled", "F1 re-encoded as VP9 in mp4, a fake of O1", {"vp9_fake.mp4": OK}),
    Case(
        "path_traversal",
        "files",
        "handled",
        "listed names '../escape.mp4' (the file exists there), '/etc/abs.mp4', 'sub/x.mp4' (exists), '..\\\\w.mp4'",
        {
            "../escape.mp4": status("bad_name"),
            "/etc/abs.mp4": status("bad_name"),
            "sub/x.mp4": status("bad_name"),
            "..\\w.mp4": status("bad_name"),
        },
    ),
    Case("missing_file", "files", "handled", "listed, no such file", {"missing.mp4": status("missing_file")}),
    Case(
        "fake_of_fake",
        "files",
        "handled",
        "a FAKE whose original is F1 (itself FAKE)",
        {"fake_of_fake.mp4": status("original_is_fake")},
    ),
    Case(
        "rotation_90",
        "files",
        "14.6",
        "O2's frames coded sideways with a 90° display rotation (a phone clip)",
        {"rot90.mp4": OK},
    ),
    Case(
        "rotation_fake_180",
        "files",
        "14.6",
        "F1 remuxed with a 180° display rotation (its original O1 has 0°)",
        {"rot180_fake.mp4": NonOk("rotation_mismatch")},
    ),
]

NAMES = [
    Case(
        "case_collision",
        "names",
        "14.3",
        "'dup.mp4' (copy of O2) and 'dup.MP4' (copy of O1) listed REAL, 'dupfake.mp4' a fake of 'dup.mp4'",
        {
            "dup.mp4": NonOk("duplicate_name"),
            "dup.MP4": NonOk("duplicate_name"),
            "dupfake.mp4": NonOk("original_unusable"),
        },
    ),
    Case(
        "stem_collision",
        "names",
        "14.3",
        "'x' (copy of O1) and 'x.mp4' (copy of O2), both listed REAL: same video id",
        {"x": NonOk("duplicate_name"), "x.mp4": NonOk("duplicate_name")},
    ),
    Case(
        "duplicate_json_key",
        "names",
        "14.3",
        "'dupkey.mp4' listed twice in metadata.json (REAL, then FAKE of O1); the file is F1",
        {"dupkey.mp4": NonOk("duplicate_key")},
    ),
]

LEGAL_NAMES = [
    Case(
        "hidden_name",
        "legal_names",
        "14.4",
        "'.hidden.mp4': F1 copied, a fake of O1",
        {".hidden.mp4": OK},
        {".hidden.mp4": "F1"},
    ),
    Case(
        "unicode_name",
        "name_twin",
        "handled",
        "'sp ace é.mp4': F2 copied, a fake of O2",
        {"sp ace é.mp4": OK},
        {"sp ace é.mp4": "F2"},
    ),
    Case(
        "long_name",
        "long_name",
        "14.4",
        "a 255-character file name (251 + '.mp4'): F1 copied, a fake of O1",
        {"<long>": OK},
        {"<long>": "F1"},
    ),
    Case(
        "hashed_name_twin",
        "name_twin",
        "14.4",
        "'a b.mp4' (F2 copied, a fake of O2) and a video named after the hashed work-item name of 'a b' "
        "(dfmask.faces.stage.item_name; F1 copied, a fake of O1): each keeps its own rows",
        {"a b.mp4": OK, "<twin>": OK},
        {"a b.mp4": "F2", "<twin>": "F1"},
    ),
]

LINKS = [
    Case(
        "symlinked_root",
        "links",
        "14.5",
        "corpus.root is a symlink to the real folder: the base videos must work (and keep their rows)",
        {"O1": OK, "F1": OK},
    ),
    Case(
        "link_outside_mp4",
        "links",
        "14.5",
        "a symlink to an mp4 outside the corpus, listed REAL",
        {"link_out.mp4": NonOk("link_outside_corpus")},
    ),
    Case(
        "link_outside_jpeg",
        "links",
        "14.5",
        "a symlink to a face JPEG outside the corpus, listed REAL",
        {"link_jpeg.mp4": NonOk("link_outside_corpus")},
    ),
    Case(
        "link_etc_passwd",
        "links",
        "14.5",
        "a symlink to /etc/passwd, listed REAL: must not even be probed",
        {"passwd.mp4": NonOk("link_outside_corpus", exclude=("corrupt", "truncated", "empty"))},
    ),
    Case(
        "link_dangling",
        "dangling_link",
        "14.5",
        "a dangling symlink, listed REAL, stages run directly: one status, not the whole part",
        {"gone.mp4": NonOk("dangling_link")},
    ),
    Case(
        "link_dangling_dvc",
        "dangling_link_dvc",
        "14.5",
        "the same under `dvc repro` (DVC hashes the part folder itself and stops on the link): "
        "the issue asks for one status, not the part",
        {"gone.mp4": NonOk("dangling_link")},
        known_limit="DVC 3.67 hashes every file of a dependency folder, following links, and stops on "
        "a dangling one with no option to skip it (DVC issue 9971, open); `dvc repro` names the link in "
        "one line. Workaround in docs/corpus.md: remove such links, or .dvcignore them in-repo.",
    ),
]

SPLIT = [
    Case(
        "unlisted_fake",
        "split",
        "14.7",
        "F1 copied as 'unlisted.mp4', not in metadata.json: never a REAL video in splits.parquet",
        {"unlisted.mp4": status("unlisted_file")},
    ),
    Case(
        "bad_label",
        "split",
        "14.7",
        "'lower.mp4' (F1) labelled 'fake': an unknown label is not a label, never REAL in splits.parquet",
        {"lower.mp4": status("bad_label")},
    ),
]

STALE = [
    Case(
        "stale_crops",
        "stale",
        "14.1",
        "XOR 20 bytes in O1's mdat after a first run (same size, frames, resolution), rerun: "
        "O1's and its fakes' rows must equal a fresh run's",
        {"O1": OK, "F1": OK},
    ),
]

LOCATION = [
    Case(
        "corpus_location",
        "location",
        "14.8",
        "ingest of one corpus (with a listed, missing file) at two absolute paths: same rows",
        {"missing.mp4": status("missing_file")},
    ),
    Case(
        "big_report",
        "location",
        "14.12",
        "20,000 listed, missing files: reports/ingest/part=0.json must stay <= 100 kB",
        {"report": Exact("ok")},
    ),
]

METADATA = [
    Case("malformed_json", "metadata", "handled", "a trailing comma", {"ingest": Error("metadata.json")}),
    Case("json_not_object", "metadata", "handled", "a JSON array", {"ingest": Error("metadata.json")}),
    Case("no_metadata", "metadata", "handled", "no metadata.json", {"ingest": Error("metadata.json")}),
    Case("not_utf8", "metadata", "handled", "Latin-1 bytes", {"ingest": Error("metadata.json")}),
    Case("metadata_folder", "metadata", "14.10", "metadata.json is a folder", {"ingest": Error("metadata.json")}),
    Case("deep_json", "metadata", "14.10", "an entry nested 100,000 deep", {"ingest": Error("metadata.json")}),
    Case(
        "readonly_output",
        "metadata",
        "14.10",
        "data/interim/videos is read-only (run as an unprivileged user when we are root)",
        {"ingest": Error("data/interim/videos")},
    ),
]

#: (case, issue, stage, dotted key or raw edit, value): one run each.
PARAM_EDITS: list[tuple[str, str, str, str, object]] = [
    ("faces_pyramid_factor", "14.9", "faces", "faces.pyramid_factor", 1.5),
    ("faces_margin", "14.9", "faces", "faces.margin", -1),
    ("faces_frames", "14.9", "faces", "faces.frames", 0),
    ("faces_size", "14.9", "faces", "faces.size", 0),
    ("faces_threads", "14.9", "faces", "faces.threads", -1),
    ("faces_shard_rows", "14.9", "faces", "faces.shard_rows", 0),
    ("faces_workers", "handled", "faces", "faces.workers", -2),
    ("masks_win_size", "14.9", "masks", "masks.win_size", 4),
    ("masks_sigma", "14.9", "masks", "masks.sigma", 0),
    ("masks_data_range", "14.9", "masks", "masks.data_range", 0),
    ("masks_threshold", "14.9", "masks", "masks.threshold", -1),
    ("masks_open_px", "14.9", "masks", "masks.open_px", -3),
    ("masks_min_area", "14.9", "masks", "masks.min_area", -5),
    ("masks_shard_rows", "14.9", "masks", "masks.shard_rows", 0),
    ("masks_workers", "14.9", "masks", "masks.workers", -2),
    ("misspelt_section", "14.9", "faces", "raw:fcaes", "an extra section 'fcaes:' (a copy of faces: with size 64)"),
    ("duplicate_yaml_key", "14.9", "faces", "raw:dupkey", "'size:' twice in the faces section (128, then 64)"),
    ("wrong_type", "handled", "faces", "faces.size", "big"),
]


def _param_case(name: str, issue: str, stage: str, key: str, value: object) -> Case:
    if key == "raw:fcaes":
        return Case(name, "params", issue, f"{stage}: {value}", {stage: Error("fcaes")})
    if key == "raw:dupkey":
        return Case(name, "params", issue, f"{stage}: {value}", {stage: Error("faces.size")})
    return Case(name, "params", issue, f"{stage}: {key}: {value!r}", {stage: Error(key)})


PARAMS = [_param_case(*edit) for edit in PARAM_EDITS]

CHECKPOINT = [
    Case(
        "checkpoint_load",
        "checkpoint",
        "14.2",
        "dfmask.model.uynet.load_checkpoint on a .ckpt whose pickle opens a marker file for writing",
        {"load_checkpoint": Error("ckpt")},
    ),
    Case(
        "checkpoint_export_stage",
        "checkpoint",
        "14.2",
        "stages/export.py with that file as models/train/uynet.ckpt",
        {"export": Error("ckpt")},
    ),
]

NOT_RUN = [
    Case(
        "memory_4k",
        "not_run",
        "14.11",
        "two 4096x2160 originals x 32 frames: <= 1.5 GB RSS per faces worker",
        {},
        covered_by="tests/faces/test_memory.py::test_faces_peak_rss_at_4k_is_bounded_per_worker (slow; the faces "
        "fix's branch), too slow and memory-hungry for this catalogue",
    ),
]

CASES: list[Case] = [*FILES, *NAMES, *LEGAL_NAMES, *LINKS, *SPLIT, *STALE, *LOCATION, *METADATA, *PARAMS, *CHECKPOINT]
CASES_NOT_RUN: list[Case] = NOT_RUN


def cases_of(group: str) -> list[Case]:
    return [c for c in CASES if c.group == group]
