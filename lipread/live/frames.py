"""A camera's frames, delivered at 15-30 fps and unevenly, to the 75 frames at 25 fps the
network reads: each 25 fps instant takes the frame shown at that moment (as files are read,
video.read_clip), and a capture shorter than 3 s gets GRID's silence around it.
"""
from __future__ import annotations

import numpy as np

from lipread.constants import FPS, N_FRAMES

LEAD_S = 0.36  # kept before the lips start moving (segment.py): where GRID's clips first
# show that motion, 9 frames in (median of 40 s1 training clips; p10-p90 7-19 frames)


def instants(start: float, end: float, fps: int = FPS, limit: int = N_FRAMES) -> np.ndarray:
    """The 25 fps instants from `start` up to `end` (at most `limit` of them)."""
    n = min(limit, max(0, int(np.floor((end - start) * fps + 1e-6)) + 1))
    return start + np.arange(n) / fps


def resample(stamps, wanted: np.ndarray) -> np.ndarray:
    """Indices into `stamps` (seconds, increasing) of the frame shown at each instant of
    `wanted`: the nearest one, an earlier one winning a tie."""
    stamps = np.asarray(stamps, dtype=np.float64)
    if len(stamps) == 0:
        raise ValueError("no frames to resample")
    right = np.clip(np.searchsorted(stamps, wanted, side="left"), 0, len(stamps) - 1)
    left = np.clip(right - 1, 0, len(stamps) - 1)
    nearer_left = np.abs(wanted - stamps[left]) <= np.abs(stamps[right] - wanted)
    return np.where(nearer_left, left, right)


def grid_window(picked: list, lead: int = 0, n: int = N_FRAMES) -> list:
    """A capture's frames placed as GRID places a sentence in its 3 s: `lead` copies of the
    first frame before (still face, as GRID's leading silence), the last repeated after."""
    if not picked:
        raise ValueError("an empty capture")
    lead = max(0, min(lead, n - len(picked)))
    out = [picked[0]] * lead + list(picked[: n - lead])
    return out + [out[-1]] * (n - len(out))


def kept(buffer, first: float, end: float) -> list:
    """The (time, frame) pairs of `buffer` (oldest first) a window from `first` to `end`
    reads from: a tenth of a second's slack either side."""
    return [(t, y) for t, y in buffer if first - 0.1 <= t <= end + 0.1]


def pick(buffer, first: float, end: float, n: int) -> list:
    """The n frames of a window of `buffer` from `first` (seconds) to `end`: the one shown
    at each 25 fps instant, the last repeated to n (grid_window). [] when none is kept."""
    pairs = kept(buffer, first, end)
    if not pairs:
        return []
    wanted = instants(first, end, limit=n)
    chosen = [pairs[i][1] for i in resample([t for t, _ in pairs], wanted)]
    return grid_window(chosen, n=n)
