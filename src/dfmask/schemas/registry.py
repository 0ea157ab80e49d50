"""`SPECS`: every table of the pipeline by name, for docs, datasheets and tests.

A module of its own, not the package ``__init__``: see `dfmask.schemas` for why. Only
code that wants every table (docs, tests) imports it; a stage imports the module of
each table it reads or writes.
"""

from __future__ import annotations

from types import MappingProxyType

from dfmask.schemas.deploy_crops import DEPLOY_CROPS
from dfmask.schemas.embeddings import EMBEDDINGS
from dfmask.schemas.faces import FACE_VIDEOS, FACES
from dfmask.schemas.ground_truth import CODEC_PAIRS, GROUND_TRUTH
from dfmask.schemas.masks import MASKS
from dfmask.schemas.release import release_spec
from dfmask.schemas.splits import SPLITS
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import TableSpec

#: Table name → spec. ``release`` is the full variant; the pixel-free one
#: (``release_spec(False)``) has the same name and version, without the ``crop`` column.
SPECS: MappingProxyType[str, TableSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            VIDEOS,
            FACES,
            FACE_VIDEOS,
            EMBEDDINGS,
            SPLITS,
            MASKS,
            GROUND_TRUTH,
            CODEC_PAIRS,
            DEPLOY_CROPS,
            release_spec(True),
        )
    }
)
