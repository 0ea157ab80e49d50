"""params.yaml validation: wrong keys, types, ranges and sections fail naming the full key path."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask import params as P
from dfmask.errors import DfmaskError
from tools.stagecmd import stage_argv

REPO = Path(__file__).resolve().parents[1]


def test_repo_params_yaml_loads_every_section() -> None:
    doc = P.read_params_file(REPO / "params.yaml")
    # every section in params.yaml has a schema and validates
    for name in doc:
        cls = P.SECTIONS.get(name)
        assert cls is not None, f"params.yaml section {name!r} has no dataclass in dfmask.params.SECTIONS"
        P.load_section(cls, name, REPO / "params.yaml")


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"root": "x", "parts": [0, "1"]}, r"corpus.parts\[1\]: expected int, got str '1'"),
        ({"root": 3, "parts": [0]}, "corpus.root: expected str, got int 3"),
        (
            {"root": "x", "partz": [0]},
            "corpus.partz: unknown key; valid keys of 'corpus' are kind, label_policy, originals_root, parts, "
            "qualities, root",
        ),
        ({"root": "x", "parts": 0}, "corpus.parts: expected list of int, got int 0"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, section: dict, message: str) -> None:
    path = _write(tmp_path, {"corpus": section})
    with pytest.raises(DfmaskError, match=message):
        P.load_section(P.CorpusParams, "corpus", path)


def test_nested_literal_and_bool_checks(tmp_path: Path) -> None:
    path = _write(tmp_path, {"sample": {"profile": "huge"}})
    with pytest.raises(DfmaskError, match=r"sample.profile: expected 'default' \| 'ci' \| 'bench'"):
        P.load_section(P.SampleParams, "sample", path)
    path = _write(tmp_path, {"ingest": {"probe_decode": "yes"}})
    with pytest.raises(DfmaskError, match="ingest.probe_decode: expected bool"):
        P.load_section(P.IngestParams, "ingest", path)
    path = _write(tmp_path, {"sample": {"ci": {"fps": 1.5}}})
    with pytest.raises(DfmaskError, match="sample.ci.fps: expected int, got float 1.5"):
        P.load_section(P.SampleParams, "sample", path)


def test_ints_widen_to_float_and_defaults_fill(tmp_path: Path) -> None:
    path = _write(tmp_path, {"sample": {"ci": {"seconds": 2}}})
    sample = P.load_section(P.SampleParams, "sample", path)
    assert sample.ci.seconds == 2.0 and isinstance(sample.ci.seconds, float)
    assert sample.profile == "default"


def test_missing_section_and_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="missing section 'corpus'"):
        P.load_section(P.CorpusParams, "corpus", _write(tmp_path, {"base": {"seed": 1}}))
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus: [unclosed")
    with pytest.raises(DfmaskError, match="not valid YAML"):
        P.read_params_file(bad)


# ---------------------------------------------------------------------------- ranges (issue 14, defect 9)

ISSUE_CASES = [
    # value that crashed, hung or was silently accepted before ranges were declared
    ("faces", {"pyramid_factor": 1.5}, r"faces\.pyramid_factor: must be in \(0, 0\.95\], got 1\.5$"),
    ("faces", {"margin": -1}, r"faces\.margin: must be in \[0, 2\], got -1\.0$"),
    ("faces", {"frames": 0}, r"faces\.frames: must be >= 1, got 0$"),
    ("faces", {"size": 0}, r"faces\.size: must be in \[32, 1024\], got 0$"),
    ("faces", {"threads": -1}, r"faces\.threads: must be >= 0, got -1$"),
    ("faces", {"workers": -2}, r"faces\.workers: must be >= 1, got -2$"),
    ("faces", {"workers": 0}, r"faces\.workers: must be >= 1, got 0$"),  # threads: no 0 = auto here
    ("faces", {"shard_rows": 0}, r"faces\.shard_rows: must be >= 1, got 0$"),
    ("masks", {"win_size": 4}, r"masks\.win_size: must be odd, got 4$"),
    ("masks", {"win_size": 1}, r"masks\.win_size: must be in \[3, 31\], got 1$"),
    ("masks", {"win_size": 33}, r"masks\.win_size: must be in \[3, 31\], got 33$"),
    ("masks", {"sigma": 0}, r"masks\.sigma: must be in \(0, 4\], got 0\.0$"),
    ("masks", {"data_range": 0}, r"masks\.data_range: must be > 0, got 0\.0$"),
    ("masks", {"threshold": -1}, r"masks\.threshold: must be in \[0, 1\), got -1\.0$"),
    ("masks", {"open_px": -3}, r"masks\.open_px: must be >= 0, got -3$"),
    ("masks", {"min_area": -5}, r"masks\.min_area: must be >= 0, got -5$"),
    ("masks", {"shard_rows": 0}, r"masks\.shard_rows: must be >= 1, got 0$"),
    ("masks", {"workers": -2}, r"masks\.workers: must be >= 0, got -2$"),
    ("masks", {"sigma": float("inf")}, r"masks\.sigma: must be a finite number, got inf$"),
    # lists: each item, and the list as a whole
    ("faces", {"thresholds": [0.6, 1.2, 0.7]}, r"faces\.thresholds\[1\]: must be in \(0, 1\), got 1\.2$"),
    (
        "faces",
        {"scale_limits": [1000, 299, 1900]},
        r"faces\.scale_limits: must be increasing, got \[1000, 299, 1900\]$",
    ),
    ("split", {"ratios": [0.7, 0.2, 0.2]}, r"split\.ratios: must sum to 1, got \[0\.7, 0\.2, 0\.2\]$"),
    ("corpus", {"root": "c", "parts": [0, 0]}, r"corpus\.parts: must not repeat an entry, got \[0, 0\]$"),
    ("evaluate", {"splits": ["val", "tset"]}, r"evaluate\.splits\[1\]: must be one of train, val, test, got 'tset'$"),
    # nested sections, and rules across fields
    ("sample", {"ci": {"fakes_per_original": [3, 1]}}, r"sample\.ci\.fakes_per_original: must be \[min, max\]"),
    ("sample", {"bench": {"width": 641}}, r"sample\.bench\.width: must be even, got 641$"),
    ("sample", {"ci": {"autoencoder_scale": [0.0, 0.5]}}, r"sample\.ci\.autoencoder_scale\[0\]: must be in \(0, 1\]"),
    ("sample", {"ci": {"methods": {"mouth": 0.5}}}, r"sample\.ci\.methods\.no_change: the shares of all methods must"),
    ("sample", {"ci": {"crf_range": [18, 18], "presets": ["fast"]}}, r"sample\.ci\.encode_differs_frac: needs two"),
    ("train", {"self_blend": {"frac": 1.5}}, r"train\.self_blend\.frac: must be in \[0, 1\], got 1\.5$"),
    (
        "train",
        {"balance": False, "self_blend": {"frac": 1.0}},
        r"train\.balance: must be true when self_blend\.frac is 1 .*, got False$",
    ),
    ("train", {"augment": {"jpeg_quality": [60, 101]}}, r"train\.augment\.jpeg_quality\[1\]: must be in \[1, 100\]"),
    ("train", {"input_size": 100}, r"train\.input_size: must be a multiple of stem_stride \* 2\*\*depth"),
    ("train", {"seed": -1}, r"train\.seed: must be in \[0, 4294967295\], got -1$"),
    ("faces", {"scale_limits": [300], "scale_factors": [1.0]}, r"faces\.scale_factors: must have one entry more"),
    ("export", {"opset": 16}, r"export\.opset: must be >= 17, got 16$"),
]


@pytest.mark.parametrize(("section", "body", "message"), ISSUE_CASES)
def test_out_of_range_is_one_line_naming_the_key(tmp_path: Path, section: str, body: dict, message: str) -> None:
    path = _write(tmp_path, {section: body})
    with pytest.raises(DfmaskError) as err:
        P.load_section(P.SECTIONS[section], section, path)
    text = str(err.value)
    assert "\n" not in text
    assert re.search(r"^params: " + message, text), text


def _numeric(tp: Any) -> bool:
    """Does type ``tp`` hold an int or a float (bool is not a number here)?"""
    if tp in (int, float):
        return True
    return any(_numeric(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _fields(cls: type, key: str) -> Iterator[tuple[str, dataclasses.Field[Any], Any]]:
    """(key path, field, type) of every field of section ``cls``, nested sections included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _fields(typing.cast(type, tp), f"{key}.{f.name}")
        else:
            yield f"{key}.{f.name}", f, tp


ALL_FIELDS = [(name, *row) for name, cls in P.SECTIONS.items() for row in _fields(cls, name)]


def test_every_numeric_param_declares_a_range() -> None:
    """A new numeric param cannot skip its range: each one declares a check on its
    value (for a list: on each item), not only on the list as a whole."""
    missing = [key for _, key, f, tp in ALL_FIELDS if _numeric(tp) and not any(c.each for c in P.checks_of(f))]
    assert not missing, f"numeric params without a declared range: {missing}"
    assert len([1 for _, _, f, tp in ALL_FIELDS if _numeric(tp)]) > 100  # the walk did reach nested sections


def _nest(key: str, value: Any) -> dict:
    doc: Any = value
    for part in reversed(key.split(".")):
        doc = {part: doc}
    return doc


@pytest.mark.parametrize(("section", "key", "field", "tp"), [r for r in ALL_FIELDS if _numeric(r[3])])
def test_just_outside_each_declared_range_is_refused(
    tmp_path: Path, section: str, key: str, field: Any, tp: Any
) -> None:
    """Every declared bound holds: the nearest value beyond it fails naming the key."""
    ranges = [c for c in P.checks_of(field) if isinstance(c, P.Range)]
    is_int = all(a is int for a in (typing.get_args(tp) or (tp,)) if a not in (Ellipsis, type(None)))
    step = 1 if is_int else 1e-3
    default = field.default
    item = default[0] if isinstance(default, tuple) else default
    tried = 0
    for r in ranges:
        for bad in (
            None if r.lo is None else (r.lo if r.lo_open else r.lo - step),
            None if r.hi is None else (r.hi if r.hi_open else r.hi + step),
        ):
            if bad is None:
                continue
            bad = int(bad) if is_int else bad
            value = (bad, *default[1:]) if isinstance(default, tuple) else bad
            path = _write(tmp_path, _nest(key, list(value) if isinstance(value, tuple) else value))
            with pytest.raises(DfmaskError, match=re.escape(f"params: {key}") + r"(\[0\])?: must "):
                P.load_section(P.SECTIONS[section], section, path)
            tried += 1
    assert tried or not ranges, key
    assert item is None or all(c.problem(item) is None for c in P.checks_of(field) if c.each)


def test_defaults_satisfy_their_own_checks() -> None:
    for name, cls in P.SECTIONS.items():
        default = cls()
        assert P.from_dict(cls, P.to_dict(default), name) == default


def test_repo_params_and_every_sample_profile_load(tmp_path: Path) -> None:
    """The committed params.yaml validates, with each sample profile selected in turn."""
    doc = P.read_params_file(REPO / "params.yaml")
    for profile in ("default", "ci", "bench"):
        path = _write(tmp_path, doc | {"sample": doc["sample"] | {"profile": profile}})
        sample = P.load_section(P.SampleParams, "sample", path)
        assert sample.size() == getattr(sample, profile)
        assert sample.size().width % 2 == 0


def test_misspelt_section_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, {"corpus": {"root": "c", "parts": [0]}, "fcaes": {"frames": 8}})
    # any stage's load fails, not only the one that wanted the misspelt section
    with pytest.raises(DfmaskError, match=r"^params: fcaes: unknown section in .*; did you mean 'faces'\?"):
        P.load_section(P.CorpusParams, "corpus", path)


@pytest.mark.parametrize("where", ["/abs", "../x", "data/../../x", ""])
def test_a_path_outside_the_repo_stops_any_section_load_naming_the_key(tmp_path: Path, where: str) -> None:
    doc = P.read_params_file(REPO / "params.yaml")
    path = _write(tmp_path, doc | {"paths": doc["paths"] | {"faces": where}})
    # any stage stops, not only those that read or write faces: DVC renders every stage
    with pytest.raises(DfmaskError) as err:
        P.load_section(P.IngestParams, "ingest", path)
    assert str(err.value) == (
        "params: paths.faces: must be a relative path inside the repository (no leading /, no ..), "
        f"got {where!r}"
    )


def test_misspelt_key_gets_a_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, {"faces": {"pyramid_factr": 0.7}})
    with pytest.raises(DfmaskError, match=r"faces\.pyramid_factr: unknown key; .*did you mean 'pyramid_factor'\?$"):
        P.load_section(P.FacesParams, "faces", path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "faces:\n  frames: 8\n  size: 64\n  frames: 16\n",
            r"faces\.frames: duplicate key at line 4 of .* \(first at line 2\)",
        ),
        (
            "faces:\n  frames: 8\nmasks:\n  sigma: 1\nfaces:\n  size: 64\n",
            r"faces: duplicate key at line 5 .*first at line 1",
        ),
        (
            "train:\n  augment:\n    hflip_p: 0.5\n    hflip_p: 0.1\n",
            r"train\.augment\.hflip_p: duplicate key at line 4 .*first at line 3",
        ),
    ],
)
def test_duplicate_keys_are_refused_with_path_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(DfmaskError, match=r"^params: " + message):
        P.read_params_file(path)


def test_unreadable_params_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(DfmaskError, match="folder.yaml: cannot read the params file"):
        P.read_params_file(tmp_path / "folder.yaml")
    deep = tmp_path / "deep.yaml"
    deep.write_text("faces: " + "[" * 100_000)
    with pytest.raises(DfmaskError, match="deep.yaml: "):
        P.read_params_file(deep)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"faces:\n  frames: \xff\n")
    with pytest.raises(DfmaskError, match="binary.yaml: not UTF-8"):
        P.read_params_file(binary)


def test_stage_script_prints_the_range_error_and_exits_2(tmp_path: Path) -> None:
    """The real faces stage: one line on stderr naming the key, exit 2, no traceback, nothing written."""
    doc = P.read_params_file(REPO / "params.yaml")
    doc["faces"]["pyramid_factor"] = 1.5
    path = _write(tmp_path, doc)
    proc = subprocess.run(
        [*stage_argv("faces", 0), "--params", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "faces: error: params: faces.pyramid_factor: must be in (0, 0.95], got 1.5"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


#: Stages whose output every field of one params section shapes, and the fields left out
#: on purpose (they change speed or placement, never a byte; dvc.yaml says so).
WHOLE_SECTION_STAGES = {
    ("masks", "masks"): {"workers"},
    ("split", "split"): set(),
    ("train", "train"): set(),
}


@pytest.mark.parametrize(("stage", "section"), sorted(WHOLE_SECTION_STAGES))
def test_stages_declare_every_param_that_shapes_their_output(stage: str, section: str) -> None:
    """A key the stage reads but dvc.yaml does not declare is one `dvc exp run -S` changes
    without re-running the stage (masks.noise_factor, split.donor_min_fakes and the train
    loss weights were such keys)."""
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    spec = doc["stages"][stage]
    spec = spec.get("do", spec)
    declared = {p.split(".", 1)[1] for p in spec["params"] if isinstance(p, str) and p.startswith(section + ".")}
    fields = {f.name for f in dataclasses.fields(P.SECTIONS[section])}
    missing = fields - declared - WHOLE_SECTION_STAGES[(stage, section)]
    assert not missing, f"dvc.yaml stage {stage} does not declare {sorted(missing)}"
    assert declared <= fields, sorted(declared - fields)
