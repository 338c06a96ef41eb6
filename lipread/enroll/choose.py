"""`--method auto`: which way of adapting suits this person, chosen on their own clips.

The enrollment study (experiments/) chose the adapters on GRID's s26 and full fine-tuning
on s31, so here each candidate is trained on all the person's clips but the last, and
scored by its CTC loss on that last one (a sentence it never saw); the lowest is trained
again on every clip. Three adaptations in all; nothing but the person's clips is
used. Measured, one clip judges too noisily: on both speakers it read worse than full
fine-tuning alone (the default), so it is an option, not the default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from lipread.enroll import adapt

AUTO = "auto"
# The candidates: the configurations the study chose on s26 and on s31, each for a fixed
# 40 epochs (early stopping on one clip was noise: experiments/README.md).
CANDIDATES = (adapt.Settings(method="adapters", lr=1e-3, max_epochs=40),
              adapt.Settings(method="full", lr=1e-4, max_epochs=40))
MIN_CLIPS = 3  # two to train on and one to judge by; with fewer, FALLBACK alone
FALLBACK = next(c for c in CANDIDATES if c.method == adapt.METHOD)  # the default's method


@dataclass
class Trial:
    adapted: adapt.Adapted  # trained on every clip but the last
    held_loss: float  # its CTC loss on the last clip


@dataclass
class Choice:
    adapted: adapt.Adapted  # the pick, trained on every clip
    picked: adapt.Settings
    trials: dict[str, Trial]  # by method; empty when too few clips to choose


def candidates(max_epochs=None, tempo=None, seed=adapt.SEED) -> tuple[adapt.Settings, ...]:
    """CANDIDATES with what the command line sets for all of them (None: their own)."""
    extra = {"tempo": tempo, "seed": seed}
    if max_epochs is not None:
        extra["max_epochs"] = max_epochs
    return tuple(dataclasses.replace(c, **extra) for c in CANDIDATES)


def held_loss(model, clip, sentence) -> float:
    """CTC loss of `model` on one uint8 crop with margin, read centred as inference does."""
    from lipread.training import losses
    from lipread.training.cropstore import center

    probs = np.asarray(model.predict_on_batch(center(clip)[None]))  # float32
    return float(np.asarray(losses.ctc_loss(adapt.labels_of([sentence]), probs))[0])


def choose(clips, sentences, options=CANDIDATES, base=None, log=print,
           progress=None) -> Choice:
    """Each of `options` adapted on clips[:-1], judged on the last clip; the best adapted
    again on every clip. progress(fraction, what) after each epoch of each run."""
    say = progress or (lambda fraction, what: None)
    runs = len(options) + 1 if len(clips) >= MIN_CLIPS else 1

    def run_progress(k, what):
        return lambda epoch, epochs: say((k + epoch / max(epochs, 1)) / runs,
                                         f"{what}: epoch {epoch} of {epochs}")
    if runs == 1:
        picked = next((o for o in options if o.method == FALLBACK.method), options[0])
        if log:
            log(f"{len(clips)} clip(s): too few to choose a method; {picked.method}")
        result = adapt.adapt(clips, sentences, picked, base, log=log,
                             progress=run_progress(0, f"adapting ({picked.method})"))
        return Choice(result, picked, {})
    trials = {}
    for k, option in enumerate(options):
        result = adapt.adapt(clips[:-1], sentences[:-1], option, base, log=log,
                             progress=run_progress(k, f"trying {option.method} "
                                                      f"({k + 1} of {len(options)})"))
        trials[option.method] = Trial(result, held_loss(result.model, clips[-1],
                                                        sentences[-1]))
    picked = min(options, key=lambda o: trials[o.method].held_loss)
    if log:
        log("chose " + picked.method + " by the loss on the last clip (" + ", ".join(
            f"{m} {t.held_loss:.1f}" for m, t in trials.items()) + ")")
    result = adapt.adapt(clips, sentences, picked, base, log=log,
                         progress=run_progress(len(options), f"adapting ({picked.method}) "
                                                             "on every clip"))
    return Choice(result, picked, trials)
