"""Rehearsal: clips of the general reader's own speaker (GRID's s1, its training split)
mixed into a person's adaptation, so that the letters and digits the person's few clips
never say keep their place (adapt.Settings.rehearse).

A person's network speeds its input up by their tempo (model/personal.Tempo); adapt.py
slows these clips by as much, so only clips whose speech ends early enough to survive
that are drawn.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lipread import grid
from lipread.enroll import adapt
from lipread.video import N_FRAMES

COUNT = 64  # clips drawn (each epoch then mixes adapt.Settings.rehearse of them)
LAST_FRAME = int(N_FRAMES / max(adapt.TEMPOS))  # speech must end by here (57 at tempo 1.3)
SEED = 0


def speech_end(data_dir, name: str) -> float:
    """The frame at which the clip's last word ends (its alignment, silences left out)."""
    from lipread.training import dataset

    segments = grid.load_alignment_segments(grid.alignment_path(data_dir, name))
    return max(end for _, end, word in segments if word not in dataset.SILENCE_TOKENS)


def own_clips(data_dir, count: int = COUNT, seed: int = SEED):
    """(uint8 crops with margin, sentences) of `count` training-split clips of the general
    reader's speaker in `data_dir` (a GRID folder with splits/train.txt), speech ending by
    LAST_FRAME, drawn at random (`seed`)."""
    from lipread.training import dataset

    names = grid.read_names(Path(data_dir) / "splits" / "train.txt")
    early = [n for n in names if speech_end(data_dir, n) <= LAST_FRAME]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(early, min(count, len(early)), replace=False))
    arrays = dataset.load_clip_arrays(data_dir, chosen, log=None)
    sentences = [grid.load_sentence(grid.alignment_path(data_dir, n)) for n in arrays.names]
    return np.asarray(arrays.frames), sentences
