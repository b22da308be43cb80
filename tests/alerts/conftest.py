"""The alert tests share one migrated store per module (tests/conftest.py, SharedStore)."""

from __future__ import annotations

import pytest


@pytest.fixture
def store(shared_store):
    return shared_store
