"""Whether teaching helped: which takes are held out of training to judge it, how the
general reader and the taught one read them, the verdict, and when a teaching that passed
learns its held-out takes too. teach.py runs a teaching; this is its check.
"""
from __future__ import annotations

import numpy as np

from lipread import reading, scoring
from lipread.constants import CROP_H, CROP_W
from lipread.enroll import adapt

MIN_HELD_OUT = 3  # clips needed before any is held out to check the teaching
HOLD_OUT_EVERY = 5  # one take in five held out: 10 takes hold out 2, 40 hold 8
TWO_HELD_FROM = 6  # takes from which at least two are held out (one take judges by chance)
ALLOWED_WORSE = 1  # words a held-out take may read wrong beyond the general reader's


def held_out(n: int) -> list[int]:
    """Which of n takes are held out of training to judge it: the last n // 5, at least one
    from MIN_HELD_OUT takes on (none below), at least two from TWO_HELD_FROM on."""
    if n < MIN_HELD_OUT:
        return []
    return list(range(n - max(1 if n < TWO_HELD_FROM else 2, n // HOLD_OUT_EVERY), n))


def verdict(before: list[dict], after: list[dict]) -> dict:
    """Held-out readings of the general reader and the taught one. The taught one is kept
    when it is surer of the takes' true sentences (a lower CTC loss: a smooth measure, where
    a few takes' word counts are mostly noise) and gets at most ALLOWED_WORSE more of their
    words wrong a take."""
    general = sum(r["word_errors"] for r in before)
    taught = sum(r["word_errors"] for r in after)
    general_loss = round(sum(r["loss"] for r in before), 2)  # (rounded: the same reader
    taught_loss = round(sum(r["loss"] for r in after), 2)  # does not win)
    better = taught_loss < general_loss and taught <= general + ALLOWED_WORSE * len(before)
    return {"takes": len(before), "words": sum(r["words"] for r in before),
            "general_errors": general, "taught_errors": taught,
            "general_loss": general_loss, "taught_loss": taught_loss,
            "kept": bool(before) and better}


def read_take(model, frames, truth: str) -> dict:
    """A clip's crops (with training's margin) read as any video is read, and scored."""
    from lipread.training.cropstore import MARGIN

    from lipread.training import losses

    crops = frames[:, MARGIN:MARGIN + CROP_H, MARGIN:MARGIN + CROP_W]
    read = reading.read_crops(crops, model, "grammar")
    edits, words = scoring.error_counts(truth, read.sentence)[:2]
    loss = losses.ctc_loss(adapt.labels_of([truth]), np.asarray(read.probs)[None])
    return {"said": read.sentence, "word_errors": edits, "words": words,
            "loss": float(np.sum(loss))}  # the one take's


def trains_again(settings: adapt.Settings, trained: int, n: int, held: list[int]) -> bool:
    """Whether a teaching that passed its check trains again on every take, the held-out
    ones too: when both runs together stay within adapt.MAX_SAMPLES clips (up to 13 takes
    with the default; a held-out take is then a large share of what it learns from), and
    the run is not stopped early."""
    return bool(held) and settings.patience is None and (
        adapt.samples(settings, trained) + adapt.samples(settings, n) <= adapt.MAX_SAMPLES)


def no_better(name: str, judged: dict) -> str:
    """Why no profile was made, in one line that says what to do."""
    if not judged["takes"]:
        return (f"{name}: too few takes to check that teaching helps (held out: none; give "
                f"{MIN_HELD_OUT} or more); no profile made, the general reader stays")
    return (f"{name}: the taught reader read the {judged['takes']} held-out take(s) no better "
            f"than the general one ({judged['taught_errors']} of {judged['words']} words "
            f"wrong, against {judged['general_errors']}; CTC loss {judged.get('taught_loss')} "
            f"against {judged.get('general_loss')}); no profile made, the general "
            "reader stays. Teach it more sentences: 20 or more help most")


def instead(judged: dict) -> str:
    """Why a profile holds the face's statistics (methods.STATS), not what was taught: the
    verdict of a teaching that failed its check, whose statistics passed (teach.learn)."""
    taught = judged["taught"]
    return (f"the taught reader read the {taught['takes']} held-out take(s) no better than the "
            f"general one ({taught['taught_errors']} of {taught['words']} words wrong, against "
            f"{taught['general_errors']}), so the profile is the general reader told the face's "
            f"statistics (method stats), which read them better ({judged['taught_errors']} "
            "wrong). Teach it more sentences: 20 or more help most")
