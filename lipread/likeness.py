"""How like the face the general reader learned (GRID's s1) a clip's mouth is: the
correlation of the clip's mean mouth crop with s1's (models/lipnet.face.npy), in [-1, 1].
s1's clips score 0.8 and up, other people's 0.6 and under (docs/accuracy.md): a reading
that is unsure on a face under LIKE_AT says the face has not been taught.
"""
from __future__ import annotations

import functools

import numpy as np

from lipread.model import loader

FACE_FILE = "lipnet.face.npy"  # s1's mean mouth crop, standardised (46, 140)
LIKE_AT = 0.75  # from here up, a face like s1's (python -m experiments face report)


def mean_mouth(crops: np.ndarray) -> np.ndarray:
    """A clip's (T, 46, 140) crops averaged over time, standardised."""
    m = np.asarray(crops, np.float32).mean(0)
    return (m - m.mean()) / (m.std() + 1e-6)


@functools.lru_cache(maxsize=1)
def reference() -> np.ndarray | None:
    """s1's mean mouth, shipped beside the weights (None where it is missing)."""
    try:
        return np.load(loader.MODELS_DIR / FACE_FILE).astype(np.float32)
    except (OSError, ValueError):
        return None


def likeness(crops: np.ndarray) -> float | None:
    """The clip's likeness to s1's face (None without the reference)."""
    ref = reference()
    if ref is None or ref.shape != np.shape(crops)[1:]:
        return None
    return float((mean_mouth(crops) * ref).mean())
