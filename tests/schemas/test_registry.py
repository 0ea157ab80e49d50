"""The catalogue owns every table spec: each is declared once, in dfmask.schemas, and registered."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pyarrow as pa

import dfmask.schemas
from dfmask.schemas.registry import SPECS
from dfmask.schemas.release import release_spec
from dfmask.tables import IMAGE, TableSpec

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "src" / "dfmask" / "schemas"


def _spec_constructions() -> list[tuple[Path, int]]:
    """Every ``TableSpec(...)`` call in the code that ships or runs the pipeline."""
    found = []
    for root in ("src", "stages", "tools"):
        for path in sorted((REPO / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if name == "TableSpec":
                        found.append((path, node.lineno))
    return found


def _module_specs() -> dict[str, TableSpec]:
    """Module-level TableSpec objects of the dfmask.schemas modules, by ``module.NAME``."""
    out = {}
    for info in pkgutil.iter_modules(dfmask.schemas.__path__):
        module = importlib.import_module(f"dfmask.schemas.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, TableSpec) and not attr.startswith("_"):
                out[f"{info.name}.{attr}"] = value
    return out


def test_every_table_spec_is_declared_in_the_catalogue() -> None:
    constructions = _spec_constructions()
    assert constructions, "the scan found no TableSpec at all: it is broken"
    outside = [f"{p.relative_to(REPO)}:{line}" for p, line in constructions if p.parent != SCHEMAS]
    assert not outside, f"TableSpec declared outside src/dfmask/schemas: {outside}"


def test_every_declared_spec_is_registered_once() -> None:
    declared = _module_specs()
    # the registry module re-exports what it registers; count each spec at its own module
    owned = {k: v for k, v in declared.items() if not k.startswith("registry.")}
    for name, spec in owned.items():
        assert SPECS.get(spec.name) is spec, f"{name} ({spec.name!r}) is not SPECS[{spec.name!r}]"
    names = [spec.name for spec in owned.values()] + ["release"]
    assert sorted(names) == sorted(SPECS), "a table name is declared twice, or registered without a module"
    # one TableSpec(...) call per module-level spec, plus release_spec's
    assert len(_spec_constructions()) == len(owned) + 1


def test_release_variants_share_name_and_version() -> None:
    full, free = release_spec(True), release_spec(False)
    assert SPECS["release"] == full
    assert (free.name, free.version, free.sort_key) == (full.name, full.version, full.sort_key)
    assert free.schema.names == [n for n in full.schema.names if n != "crop"]
    assert free.image_columns == ("mask",)


def test_specs_are_self_consistent() -> None:
    for spec in [*SPECS.values(), release_spec(False)]:
        names = spec.schema.names
        assert len(set(names)) == len(names), spec.name
        assert set(spec.sort_key) <= set(names), f"{spec.name}: sort key not in schema"
        for column in spec.image_columns:
            assert spec.schema.field(column).type == IMAGE, f"{spec.name}.{column} is not an IMAGE column"
        undocumented = [n for n, d in spec.describe().items() if not d]
        assert not undocumented, f"{spec.name}: columns without description {undocumented}"
        assert isinstance(spec.schema, pa.Schema) and spec.version >= 1
