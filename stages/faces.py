"""faces@part: face crops of one corpus part (see dfmask.faces.stage)."""

from __future__ import annotations

import argparse

from dfmask.faces.stage import run_part
from dfmask.params import CorpusParams, FacesParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", type=int, required=True, help="corpus part N")
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--videos", help="ingest table (default data/interim/videos/part=N.parquet)")
    parser.add_argument("--out", help="output folder (default data/interim/faces/part=N)")
    parser.add_argument("--report", help="report JSON (default reports/faces/part=N.json)")
    args = parser.parse_args()
    n = args.part
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(FacesParams, "faces", args.params)
    report = args.report or f"reports/faces/part={n}.json"
    s = run_part(
        n,
        corpus.root,
        args.videos or f"data/interim/videos/part={n}.parquet",
        args.out or f"data/interim/faces/part={n}",
        report,
        params,
    )
    no_face = s.status_counts.get("no_faces", 0)
    failed = s.videos - s.status_counts.get("ok", 0) - no_face
    return (
        f"part={n}: {s.videos:,} videos, {s.crops:,} crops, {no_face:,} video"
        f"{'' if no_face == 1 else 's'} without faces, {failed:,} failed "
        f"({s.reused:,} reused, {s.computed:,} computed; see {report})"
    )


if __name__ == "__main__":
    run_stage("faces", main)
