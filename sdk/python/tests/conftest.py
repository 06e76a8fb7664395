"""Shared fixtures."""

from __future__ import annotations

import pytest

from harness import Manager


@pytest.fixture
def manager(tmp_path):
    """A manager stand-in with one slot; instances are killed at the end."""
    m = Manager(tmp_path)
    yield m
    m.close()
