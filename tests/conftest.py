"""Shared fixtures: the real GRID data beside the project, and the repo on sys.path."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Absolute: CI passes a relative LIPREAD_DATA_DIR, and tests link to it from tmp folders.
GRID_DIR = Path(os.environ.get("LIPREAD_DATA_DIR") or ROOT.parent / "shared" / "grid").resolve()


@pytest.fixture(scope="session")
def grid_dir() -> Path:
    if not (GRID_DIR / "s1").is_dir():
        pytest.skip(f"GRID data not found at {GRID_DIR}: set LIPREAD_DATA_DIR")
    return GRID_DIR


@pytest.fixture(scope="session")
def test_names(grid_dir) -> list[str]:
    return (grid_dir / "splits" / "test.txt").read_text().split()
