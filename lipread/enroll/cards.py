"""A profile's card and weights, checked before they are used: a card written by hand or
damaged (a method that is no name, a tempo that is no finite number in range, JSON nested
past the parser's depth, a file of megabytes) and weights that are no plain file (a link
to /dev/zero reads forever) are each a reason in a few words, which profiles.py turns into
one line naming the profile. No paths in the reasons: the page shows them to visitors.
"""
from __future__ import annotations

import json
import math
import os
import stat

MAX_CARD_BYTES = 1 << 20  # a card is a few kB
MAX_WEIGHTS_BYTES = 200_000_000  # a profile's weights: ~4 MB (lipnet's, widened: ~4x)
TEMPOS = (0.5, 2.0)  # the tempos a card may hold, as `lipread enroll --tempo` allows


class Damaged(ValueError):
    """What is wrong with a card or weights file, in a few words without a path."""


def read(file) -> dict:
    """The card in `file`, checked (Damaged: why not)."""
    try:
        with open(file, "rb") as f:
            text = f.read(MAX_CARD_BYTES + 1)
        if len(text) > MAX_CARD_BYTES:
            raise Damaged("too big")
        data = json.loads(text)
    except RecursionError:
        raise Damaged("nested too deep") from None
    except OSError as err:
        raise Damaged(err.strerror or "unreadable") from None
    except ValueError as err:
        raise Damaged(str(err).splitlines()[0][:120]) from None
    check(data)
    return data


def check(data) -> None:
    """Damaged unless the card's method is a known one and its tempo (if any) a finite
    number within TEMPOS."""
    from lipread.enroll import methods

    if not isinstance(data, dict) or "method" not in data:
        raise Damaged("no method")
    if not isinstance(data["method"], str) or data["method"] not in methods.REGISTRY:
        raise Damaged(f"method {str(data['method'])[:40]!r} is not one of "
                      f"{', '.join(methods.REGISTRY)}")
    tempo = data.get("tempo", 1.0)
    if isinstance(tempo, bool) or not isinstance(tempo, (int, float)) or \
            not math.isfinite(tempo) or not TEMPOS[0] <= tempo <= TEMPOS[1]:
        raise Damaged(f"tempo {str(tempo)[:40]!r} is not a number from {TEMPOS[0]:g} to "
                      f"{TEMPOS[1]:g}")


def check_weights(path) -> None:
    """Damaged unless `path` is a plain file (not a link, a device, a pipe) of at most
    MAX_WEIGHTS_BYTES."""
    try:
        st = os.lstat(path)
    except OSError as err:
        raise Damaged(f"cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise Damaged("are not a plain file")
    if st.st_size > MAX_WEIGHTS_BYTES:
        raise Damaged(f"are over {MAX_WEIGHTS_BYTES // 1_000_000} MB")
