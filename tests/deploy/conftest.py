"""Session fixtures for the deploy tests (helpers live in deploy_toy.py)."""

from __future__ import annotations

import pytest
from deploy_toy import train_tiny
from torch import nn


@pytest.fixture(scope="session")
def tiny_model() -> nn.Module:
    return train_tiny()
