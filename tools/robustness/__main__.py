"""``python -m tools.robustness [--out reports/robustness.json]``: run the hostile-input
catalogue (docs/robustness.md). Exit 0 when every case passes, 1 otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.robustness.harness import main_run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="reports/robustness.json", help="report JSON")
    ap.add_argument("--work", help="folder for the temp runs (default: the system temp folder)")
    ap.add_argument("--sample", help="reuse a generated sample folder (holding corpus/) instead of generating one")
    ap.add_argument("--only", help="comma-separated groups to run (default: all)")
    ap.add_argument("--keep", action="store_true", help="keep the temp runs (to inspect them)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    report = main_run(
        Path(args.out),
        Path(args.work) if args.work else None,
        Path(args.sample) if args.sample else None,
        only,
        args.keep,
    )
    for case in report["cases"]:
        mark = {True: "pass", False: "FAIL", None: "----"}[case["pass"]]
        if case.get("known_limit") and case["pass"] is False:
            mark = "LIMIT"  # fails for a tool's own limit, listed apart (docs/robustness.md)
        lost = "  LOST: " + "; ".join(case["lost"]) if case["lost"] else ""
        print(f"{mark}  {case['case']:<24} expected {case['expected']}\n{'':30}actual   {case['actual']}{lost}")
    s = report["summary"]
    print(
        f"robustness: {s['pass']}/{s['cases']} cases pass; crash: {', '.join(s['crash']) or 'none'}; "
        f"lost: {', '.join(s['lost']) or 'none'}; known limits: "
        f"{', '.join(f'{k} ({v})' for k, v in s['known_limit'].items()) or 'none'} (see {args.out})"
    )
    return 0 if s["fail"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
