"""What teaching a face gives, said before anyone records: held-out words right out of ten,
and the minutes it takes, for a number of sentences, from the curve measured on GRID's s4
(a speaker no setting was chosen on; docs/teaching.md has the table and its command).
"""
from __future__ import annotations

import numpy as np

# Sentences taught -> held-out grammar WER on s4 (the shipped teaching, 10 clips held out).
CURVE = {0: 0.667, 5: 0.717, 9: 0.700, 20: 0.400, 40: 0.350}
# Sentences taught -> seconds teaching took on 2 cores.
SECONDS = {9: 155.0, 20: 326.0, 40: 619.0}


def words_right(n: int) -> float:
    """Of ten words, how many a reader taught n sentences reads right (interpolated)."""
    xs = sorted(CURVE)
    return 10 * (1 - float(np.interp(n, xs, [CURVE[x] for x in xs])))


def minutes(n: int) -> float:
    xs = sorted(SECONDS)
    slope = (SECONDS[xs[-1]] - SECONDS[xs[0]]) / (xs[-1] - xs[0])
    return (SECONDS[xs[0]] + slope * (n - xs[0])) / 60


def plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def what_to_expect(n: int) -> str:
    """One sentence for the page: with n sentences, about X of 10 words right, and how long."""
    untaught, taught = words_right(0), words_right(n)
    gain = ("no better than untaught: a few sentences teach the sentences, not the face"
            if taught <= untaught + 0.5 else f"against about {untaught:.0f} untaught")
    return (f"With {n} sentences, expect about {taught:.0f} of 10 words right on new "
            f"sentences ({gain}), and about {plural(max(1, round(minutes(n))), 'minute')} of "
            "teaching on a 2-core computer. Measured on a GRID speaker the reader had never seen.")
