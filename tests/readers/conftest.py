"""Shared helpers for the reader tests."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPORTS = ROOT / "tests" / "fixtures" / "exports"


@pytest.fixture
def exports() -> Path:
    return EXPORTS
