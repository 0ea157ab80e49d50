"""Leak audit of a finished split, and moves against the previous assignment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any


def audit(
    rows: Sequence[dict[str, Any]],
    identity_links: Iterable[tuple[str, str, str]],
    donors_count: bool = True,
) -> dict[str, Any]:
    """Independent leak check of a finished assignment.

    Args:
        rows: split-table rows (video_id, original_id, group_id, split).
        identity_links: (video_id, identity_id, role) with role ``target`` (the video
            shows that identity's own face: originals and their fakes), ``donor`` or
            ``donor_weak`` (a donor match too rare to join groups, ``split.donor_min_fakes``:
            never a leak, counted in ``donor_crossings``).
        donors_count: whether donor links count as leaks (``split.donor_aware``);
            if not they are reported as ``donor_crossings`` only.
    Returns:
        ``{"ok", "leaks", "group_leaks", "fake_original_leaks", "identity_leaks",
        "donor_crossings", "examples"}``; ``ok`` is False when anything leaks.
    """
    split_of = {r["video_id"]: r["split"] for r in rows}
    examples: list[str] = []

    def spans(pairs: Iterable[tuple[str, str]], what: str) -> int:
        seen: dict[str, set[str]] = defaultdict(set)
        for key, video_id in pairs:
            if video_id in split_of:
                seen[key].add(split_of[video_id])
        bad = sorted(k for k, v in seen.items() if len(v) > 1)
        examples.extend(f"{what} {k} spans {sorted(seen[k])}" for k in bad[:5])
        return len(bad)

    group_leaks = spans(((r["group_id"], r["video_id"]) for r in rows), "group")
    fake_original = [r for r in rows if r.get("original_id") in split_of and split_of[r["original_id"]] != r["split"]]
    examples.extend(
        f"fake {r['video_id']} ({r['split']}) vs original {r['original_id']} ({split_of[r['original_id']]})"
        for r in fake_original[:5]
    )
    links = list(identity_links)
    target_leaks = spans(((i, v) for v, i, role in links if role == "target"), "identity")
    strong = spans(((i, v) for v, i, role in links if role != "donor_weak"), "identity (target or donor)")
    with_donors = spans(((i, v) for v, i, _ in links), "identity (any donor match)")
    donor_leaks = strong - target_leaks if donors_count else 0
    leaks = group_leaks + len(fake_original) + target_leaks + donor_leaks
    return {
        "ok": leaks == 0,
        "leaks": leaks,
        "group_leaks": group_leaks,
        "fake_original_leaks": len(fake_original),
        "identity_leaks": target_leaks + donor_leaks,
        "donor_crossings": with_donors - target_leaks,
        "examples": examples[:10],
    }


def compare_assignments(previous: Sequence[dict[str, Any]] | None, current: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Moves of videos between splits against the previous run's rows.

    A moved video's cause is ``group_changed`` when its group key differs from last
    time (its group merged with or split from others as parts were added), else
    ``rebalanced`` (same key, same hash position: only a stratification repair moves
    such a group; see `dfmask.splits.assign`).
    """
    if previous is None:
        return {"previous": False}
    before = {r["video_id"]: r for r in previous}
    moved: list[dict[str, Any]] = []
    for r in current:
        old = before.get(r["video_id"])
        if old is not None and old["split"] != r["split"]:
            cause = "group_changed" if old["group_id"] != r["group_id"] else "rebalanced"
            moved.append({"video_id": r["video_id"], "from": old["split"], "to": r["split"], "cause": cause})
    now = {r["video_id"] for r in current}
    return {
        "previous": True,
        "moved": len(moved),
        "moved_group_changed": sum(m["cause"] == "group_changed" for m in moved),
        "moved_rebalanced": sum(m["cause"] == "rebalanced" for m in moved),
        "added": len(now - set(before)),
        "removed": len(set(before) - now),
        "examples": moved[:20],
    }
