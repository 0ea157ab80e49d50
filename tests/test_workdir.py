"""dfmask.workdir: item names."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from dfmask.workdir import WorkDir, item_name


def test_item_names_are_one_to_one_even_for_an_id_spelling_a_hash(tmp_path: Path) -> None:
    """A video literally named like another id's hashed file name must not share its work
    item (make robustness, hashed_name_twin: one fake got 0 mask rows, the other 20)."""
    odd = ".hidden"
    twin = item_name(odd)  # 'h' + 24 hex digits: a legal, plain-looking video id
    assert item_name(twin) != twin
    names = [odd, twin, "plain_id-1", "x" * 252, "a b/../c"]
    files = [item_name(n) for n in names]
    assert len(set(files)) == len(names)
    assert item_name("plain_id-1") == "plain_id-1"  # ordinary ids keep their name
    work = WorkDir("test", "part=0", {"k": 1}, tmp_path)
    for i, name in enumerate(names):
        work.save(name, pa.table({"i": [i]}))
    assert [work.load(n).column("i").to_pylist() for n in names] == [[i] for i in range(len(names))]
    assert all(not p.name.startswith(".") and len(p.name) < 255 for p in work.path.iterdir())
