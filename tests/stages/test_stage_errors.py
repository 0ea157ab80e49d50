"""Stage scripts turn user errors into one line naming the key or file, and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _run_ingest(tmp_path: Path, params: dict) -> subprocess.CompletedProcess[str]:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / "ingest.py"), "--part", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )


def test_wrong_param_type_is_one_line_naming_the_key(tmp_path: Path) -> None:
    proc = _run_ingest(tmp_path, {"corpus": {"root": "c", "parts": ["zero"]}, "ingest": {"probe_decode": True}})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "ingest: error: params: corpus.parts[0]: expected int, got str 'zero'"
    ]
    assert not (tmp_path / "data").exists()  # nothing written on a params error


def test_malformed_metadata_is_one_line_naming_the_file(tmp_path: Path) -> None:
    part = tmp_path / "c" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    (part / "metadata.json").write_text('{"a.mp4": {"label": "REAL"},}')
    proc = _run_ingest(tmp_path, {"corpus": {"root": "c", "parts": [0]}, "ingest": {"probe_decode": True}})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("ingest: error: c/dfdc_train_part_0/metadata.json: malformed JSON at line 1")
