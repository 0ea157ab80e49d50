"""params.yaml validation: wrong keys and types fail naming the full key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dfmask import params as P
from dfmask.errors import DfmaskError

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
        ({"root": "x", "partz": [0]}, "corpus.partz: unknown key; valid keys of 'corpus' are parts, root"),
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
