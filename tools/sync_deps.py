"""Rewrite dvc.yaml's code deps to exactly the files each stage runs (`dfmask.codedeps`).

``python -m tools.sync_deps`` (``make sync-deps``) replaces, inside every stage's
``deps:`` list, the lines naming ``stages/`` or ``src/`` files with the stage script
followed by the sorted files `dfmask.codedeps.stage_deps` finds; every other line (data
deps, comments, params, outs) is kept as written. ``--check`` only reports and exits 1
when dvc.yaml would change. tests/test_codedeps.py holds the same rule.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dfmask.codedeps import stage_deps

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = re.compile(r"\bpython3?\s+(stages/\S+\.py)\b")
_CODE_DEP = re.compile(r"^(\s*)- (stages|src)/\S+\s*$")


def synced(text: str, root: Path = REPO) -> str:
    """dvc.yaml ``text`` with each stage's code deps replaced by what the stage runs."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    script: str | None = None
    in_deps = False
    written = False
    for line in lines:
        match = _SCRIPT.search(line)
        if line.lstrip().startswith("cmd:") and match:
            script, written = match.group(1), False
        stripped = line.strip()
        if stripped == "deps:":
            in_deps = True
            out.append(line)
            continue
        if in_deps and stripped and not stripped.startswith(("-", "#")):
            in_deps = False
        code = _CODE_DEP.match(line)
        if in_deps and code and script:
            if not written:
                indent = code.group(1)
                files = stage_deps(script, root)
                rest = sorted(f for f in files if f != script)
                out += [f"{indent}- {f}\n" for f in [script, *rest]]
                written = True
            continue
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.sync_deps", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report only; exit 1 if dvc.yaml would change")
    ap.add_argument(
        "--dvc-yaml", type=Path, default=REPO / "dvc.yaml", help="the file to rewrite (default: %(default)s)"
    )
    args = ap.parse_args(argv)
    before = args.dvc_yaml.read_text()
    after = synced(before, args.dvc_yaml.parent)
    if before == after:
        print(f"{args.dvc_yaml}: code deps already match the stages' imports")
        return 0
    if args.check:
        print(f"{args.dvc_yaml}: code deps differ from the stages' imports (run make sync-deps)")
        return 1
    args.dvc_yaml.write_text(after)
    print(f"{args.dvc_yaml}: code deps rewritten from the stages' imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
