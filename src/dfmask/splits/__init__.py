"""Identity-disjoint train/val/test splits: grouping, stable assignment, leak audit.

Why: DFDC has many originals per actor, and every fake shows a second actor (the
donor). A split by ``original`` alone lets a face seen in training reappear in test.
So the unit of assignment is a *group*: a connected component of

* fake → original links (from metadata.json),
* original → identity links (face tracks clustered by `dfmask.identity.cluster`), and
* with ``split.donor_aware``: fake → donor identity links (fake crops matched to the
  identities), so a donor's face never crosses splits either.

Assignment is stable: each group sits at ``u = sha256(seed:key)`` in [0, 1), where the
key is its smallest video_id, and goes to train/val/test by the ``split.ratios``
intervals. A group's split therefore depends only on its own key, and adding parts
does not move videos whose group did not change. Only when the hash alone leaves a
split without REAL videos, without FAKE videos or with too few groups, a minimal,
deterministic repair moves the groups nearest that split's interval (counted in the
report; with many groups it is rarely needed). Moves against the last run's
assignment (kept in ``<paths.work>/split/``, since DVC deletes outputs before a run) are
reported with their cause.

The audit re-checks the finished table independently: no group, no fake/original pair
and no identity (as target or donor) spans two splits; a failure stops the stage.
The table itself, SPLITS, is declared in the catalogue (`dfmask.schemas.splits`).
"""

from dfmask.splits.assign import SPLIT_NAMES, Assignment, Group, assign_groups, group_position
from dfmask.splits.audit import audit
from dfmask.splits.build import build_splits
from dfmask.splits.groups import (
    DonorMatch,
    Identities,
    UnionFind,
    Video,
    build_identities,
    check_unique_names,
    group_videos,
    match_donors,
)

__all__ = [
    "SPLIT_NAMES",
    "Assignment",
    "DonorMatch",
    "Group",
    "Identities",
    "UnionFind",
    "Video",
    "assign_groups",
    "audit",
    "build_identities",
    "build_splits",
    "check_unique_names",
    "group_position",
    "group_videos",
    "match_donors",
]
