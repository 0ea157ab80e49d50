"""The catalogue: every table's spec, its typed readers, and the one join of crops.

One module per table, each holding the table's `dfmask.tables.TableSpec` (schema,
version, sort key, column descriptions) and the readers that find and version-check its
files; `crops` holds the faces ⋈ masks ⋈ splits join that the model, the deploy
calibration, the release, the forensics tool and the mask QA share; `registry.SPECS`
maps each table name to its spec, for docs and tests.

==============  ======================  ===============================================
module          spec                    files (roots are arguments, never defaults)
==============  ======================  ===============================================
`videos`        VIDEOS                  ``<videos>/part=N.parquet`` (ingest)
`faces`         FACES, FACE_VIDEOS      ``<faces>/part=N/faces-*.parquet``, ``_status/``
`embeddings`    EMBEDDINGS              ``<embeddings>/part=N.parquet``
`splits`        SPLITS                  ``<splits>`` (one file)
`masks`         MASKS                   ``<masks>/part=N/masks-*.parquet``
`ground_truth`  GROUND_TRUTH            ``<sample>/ground_truth.parquet``
`release`       release_spec(pixels)    ``<release>/data/<split>-part<N>-*.parquet``
==============  ======================  ===============================================

This ``__init__`` imports nothing, and `registry` is a module of its own, on purpose:
importing ``dfmask.schemas.faces`` runs this file, and DVC's code deps and the work
keys follow imports (`dfmask.codedeps`). A stage that reads faces therefore depends on
the faces spec only, and a change to the masks spec leaves the faces stage (and its
hours of work items) up to date.
"""
