"""What the read page offers to download: the reading as JSON (Reading.as_json(), the keys
`lipread predict --json` writes), and the per-frame probabilities as CSV. No
Streamlit here."""
from __future__ import annotations

import csv
import io

import numpy as np

from lipread import reading
from lipread.app import pictures
from lipread.video import FPS


def reading_json(label: str, said: reading.Reading, truth: str | None = None) -> bytes:
    """The reading as `lipread predict --json` writes it, with its name (and the truth)."""
    extra = {"name": label, **({"truth": truth} if truth is not None else {})}
    return said.to_json(**extra).encode()


def probs_csv(probs: np.ndarray) -> bytes:
    """One row a frame: frame, second, then each token's probability (blank last)."""
    probs = np.asarray(probs, dtype=np.float64)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame", "second", *(pictures.class_label(c) for c in range(probs.shape[1]))])
    for t, row in enumerate(probs):
        writer.writerow([t, f"{t / FPS:.2f}", *(f"{p:.5f}" for p in row)])
    return out.getvalue().encode()
