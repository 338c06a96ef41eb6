"""What teaching a face gives, said before anyone records: held-out words right out of ten,
and the minutes it takes, for a number of sentences, from the curve measured on GRID's s4
(a speaker no setting was chosen on; docs/teaching.md has the table and its command).
"""
from __future__ import annotations

import numpy as np

# Sentences taught -> held-out grammar WER on s4: the shipped teaching (the face's statistics,
# else the general reader, kept when the taught one is no better), three folds of 10 clips
# held out (python -m experiments curve).
CURVE = {0: 0.644, 5: 0.589, 9: 0.478, 15: 0.400, 20: 0.411, 30: 0.322, 40: 0.317}
# Sentences taught -> seconds the teaching took on 2 cores (the same runs), and what the
# page adds around it: the mouth found in each take, the profile written.
SECONDS = {5: 79.0, 9: 89.0, 15: 72.0, 20: 92.0, 30: 132.0, 40: 140.0}
EXTRA_S, PER_TAKE_S = 10.0, 0.3
MIN_GAIN = 0.5  # words of ten: less than this is said as no better than untaught


def words_right(n: int) -> float:
    """Of ten words, how many a reader taught n sentences reads right (interpolated)."""
    xs = sorted(CURVE)
    return 10 * (1 - float(np.interp(n, xs, [CURVE[x] for x in xs])))


def minutes(n: int) -> float:
    """About how long teaching n sentences takes on 2 cores."""
    xs = sorted(SECONDS)
    taught = float(np.interp(n, xs, [SECONDS[x] for x in xs]))
    return (taught + EXTRA_S + PER_TAKE_S * n) / 60


def plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def what_to_expect(n: int) -> str:
    """One sentence for the page: with n sentences, about X of 10 words right, and how long."""
    untaught, taught = words_right(0), words_right(n)
    gain = ("no better than untaught: a few sentences teach the sentences, not the face"
            if taught - untaught < MIN_GAIN else f"against about {untaught:.0f} untaught")
    return (f"With {plural(n, 'sentence')}, expect about {taught:.0f} of 10 words right on new "
            f"sentences ({gain}), and about {plural(max(1, round(minutes(n))), 'minute')} of "
            "teaching on a 2-core computer. Measured on a GRID speaker the reader had never seen.")
