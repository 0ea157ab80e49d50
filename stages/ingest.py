"""DVC stage ingest@N: validate metadata.json and probe every video of one part.

Writes data/interim/videos/part=N.parquet and reports/ingest/part=N.json.
"""

import argparse

from dfmask.corpus.ingest import ingest_part, summary_line
from dfmask.params import CorpusParams, IngestParams, load_section, to_dict
from dfmask.schemas.videos import VIDEOS
from dfmask.stage import run_stage
from dfmask.tables import write_json, write_table


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/interim/videos")
    ap.add_argument("--report", default="reports/ingest")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(IngestParams, "ingest", args.params)
    result = ingest_part(corpus.root, args.part, probe_decode=params.probe_decode)
    write_table(
        result.table,
        f"{args.out}/part={args.part}.parquet",
        VIDEOS,
        stage=f"ingest@{args.part}",
        # not corpus.root: where the corpus lives does not shape the table (no paths in data)
        params={"corpus": {"parts": list(corpus.parts)}, "ingest": to_dict(params)},
    )
    write_json(f"{args.report}/part={args.part}.json", result.report)
    return summary_line(result) + f" (see {args.report}/part={args.part}.json)"


if __name__ == "__main__":
    run_stage("ingest", main)
