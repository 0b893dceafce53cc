"""Shared fixtures of the circuit tests."""

from __future__ import annotations

import pytest

from tests.offchain.circuits.validity_openings import fresh_tags


@pytest.fixture
def tags() -> list[int]:
    """Two fresh assignment tags (a validity proof's k = 2 nodes)."""
    return fresh_tags()
