"""Shared helpers for the reader tests."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not put the project on the path
    sys.path.insert(0, str(ROOT))

EXPORTS = ROOT / "tests" / "fixtures" / "exports"


@pytest.fixture
def exports() -> Path:
    return EXPORTS
