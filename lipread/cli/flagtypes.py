"""The argparse types of lipread's numeric flags: each a number in its range, or one line.

Plain functions, not closures made at import, so that `make mutate` can change them.
"""
from __future__ import annotations

import argparse
import math


def _checked(kind, text: str, ok, rule: str):
    """`text` as `kind` (int or float), finite, where ok(value) holds; else argparse's error."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
    return value


def positive_int(text: str) -> int:
    return _checked(int, text, lambda v: v >= 1, "1 or more")


def non_negative_int(text: str) -> int:
    return _checked(int, text, lambda v: v >= 0, "0 or more")


def non_negative(text: str) -> float:
    return _checked(float, text, lambda v: v >= 0, "0 or more")


def positive(text: str) -> float:
    return _checked(float, text, lambda v: v > 0, "more than 0")


def fraction(text: str) -> float:
    return _checked(float, text, lambda v: 0 <= v < 1, "from 0 up to (not including) 1")


def probability(text: str) -> float:
    return _checked(float, text, lambda v: 0 <= v <= 1, "from 0 to 1")
