"""How far a reading is from the truth: word and character error rates as the LipNet
paper defines them, and which words differ."""
from __future__ import annotations

import difflib

import numpy as np


def edit_distance(ref, hyp) -> int:
    """Levenshtein distance between two sequences (words or characters)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_counts(truth: str, predicted: str) -> tuple[int, int, int, int]:
    """(word edits, words in truth, char edits, chars in truth) for one clip."""
    return (edit_distance(truth.split(), predicted.split()), len(truth.split()),
            edit_distance(truth, predicted), len(truth))


def error_rates(truths, predictions) -> tuple[float, float]:
    """Corpus WER and CER: total edits over total reference length."""
    totals = np.zeros(4)
    for t, p in zip(truths, predictions):
        totals += error_counts(t, p)
    return totals[0] / max(totals[1], 1), totals[2] / max(totals[3], 1)


def word_diff(truth: str, predicted: str) -> tuple[list, list]:
    """Each side's words as (word, matched) pairs: False marks a word that differs."""
    ref, hyp = truth.split(), predicted.split()
    ref_ok, hyp_ok = [False] * len(ref), [False] * len(hyp)
    for block in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            ref_ok[block.a + k] = hyp_ok[block.b + k] = True
    return list(zip(ref, ref_ok)), list(zip(hyp, hyp_ok))
