"""The sentences a person is asked to say: drawn from the GRID grammar so that the letters
and digits come round evenly (each letter before any letter twice, likewise the digits)
and every other slot's words as evenly."""
from __future__ import annotations

import numpy as np

from lipread.grid import GRID_SLOTS

N_PROMPTS = 10  # about 30 s of speech: ten GRID sentences


def prompts(n: int = N_PROMPTS, seed: int = 0) -> list[str]:
    """n GRID sentences, each slot's words dealt in a shuffled round, reshuffled each round."""
    if n < 1:
        raise ValueError(f"ask for 1 or more prompts, not {n}")
    rng = np.random.default_rng(seed)
    columns = []
    for slot in GRID_SLOTS:
        rounds = -(-n // len(slot))
        dealt = [w for _ in range(rounds) for w in rng.permutation(slot)]
        columns.append(dealt[:n])
    return [" ".join(words) for words in zip(*columns)]
