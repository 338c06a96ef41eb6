"""What the read page offers to download: the reading as JSON (words, confidences, timings,
as `lipread predict --json` says them), and the per-frame probabilities as CSV. No
Streamlit here."""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from lipread import confidence, decoding
from lipread.app import pictures
from lipread.video import FPS


def reading_json(label: str, probs: np.ndarray, decoder: str, start_s: float = 0.0,
                 truth: str | None = None) -> bytes:
    """The reading of `probs` as predict's JSON has it, with where in the video it was read."""
    judged = confidence.assess(probs)
    out = {"name": label, "sentence": decoding.decode(probs, decoder), "decoder": decoder,
           **judged.as_json(), "start_s": round(start_s, 2),
           "tokens": pictures.token_chars(decoding.raw_tokens(probs).tolist())}
    if truth is not None:
        out["truth"] = truth
    return (json.dumps(out, indent=2) + "\n").encode()


def probs_csv(probs: np.ndarray) -> bytes:
    """One row a frame: frame, second, then each token's probability (blank last)."""
    probs = np.asarray(probs, dtype=np.float64)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame", "second", *(pictures.class_label(c) for c in range(probs.shape[1]))])
    for t, row in enumerate(probs):
        writer.writerow([t, f"{t / FPS:.2f}", *(f"{p:.5f}" for p in row)])
    return out.getvalue().encode()
