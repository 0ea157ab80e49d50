"""Fixtures of the model tests (synthetic tables: see model_synthetic.py)."""

from __future__ import annotations

from typing import Any

import pytest
from model_synthetic import synthetic_tables


@pytest.fixture(scope="session")
def tables() -> dict[str, Any]:
    return synthetic_tables()
