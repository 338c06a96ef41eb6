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


@pytest.fixture(scope="session")
def shipped_probs(grid_dir, test_names) -> dict:
    """The shipped network's (75, 41) output for each test clip, through the CLI's pipeline."""
    import numpy as np

    import modelutil
    import transcribe
    import utils

    if not modelutil.DEFAULT_WEIGHTS["lipnet"].is_file():
        pytest.fail(f"{modelutil.DEFAULT_WEIGHTS['lipnet']} is missing: the shipped weights")
    model = modelutil.load_model("lipnet")
    frames = np.stack([utils.load_video(utils.video_path(grid_dir, n)) for n in test_names])
    return dict(zip(test_names, transcribe.predict_probs(model, frames)))


@pytest.fixture(scope="session")
def shipped_readings(shipped_probs) -> dict[str, str]:
    """What the shipped network reads (greedy) in each test clip: the page must show it."""
    import decoding

    return {n: decoding.decode(p, "greedy") for n, p in shipped_probs.items()}


@pytest.fixture(scope="session")
def read_right_clip(grid_dir, shipped_probs) -> tuple[str, str]:
    """(clip, decoder): a test clip the shipped network reads right, greedy first."""
    import decoding
    import utils

    for decoder in decoding.DECODERS:
        for name, probs in shipped_probs.items():
            truth = utils.load_sentence(utils.alignment_path(grid_dir, name))
            if decoding.decode(probs, decoder) == truth:
                return name, decoder
    pytest.skip("the shipped weights read no test clip right with any decoder "
                "(models/README.md has their measured WER): nothing to check against")
