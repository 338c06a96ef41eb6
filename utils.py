"""The design card's loading and vocabulary, as the LipNet tutorial's readers know them:
a short face onto the package `lipread` (video.py, grid.py), where they live.

    from utils import load_video, load_alignments, char_to_num, num_to_char
    frames = load_video("data/s1/bbaf2n.mpg")          # float32 (75, 46, 140, 1)
    words = load_alignments("data/alignments/s1/bbaf2n.align")

char_to_num and num_to_char are the tutorial's paired Keras StringLookup layers over the
same vocabulary, built (with Keras) when first used.
"""
import functools

from lipread.grid import (
    BLANK_ID,
    NUM_CLASSES,
    VOCAB,
    ids_to_text,
    load_alignments,
    string_lookups,
    text_to_ids,
)
from lipread.video import load_video

LOOKUPS = ("char_to_num", "num_to_char")
__all__ = ["BLANK_ID", "NUM_CLASSES", "VOCAB", "ids_to_text", "load_alignments", "load_video",
           "text_to_ids", *LOOKUPS]


@functools.lru_cache(maxsize=1)
def _lookups():
    return dict(zip(LOOKUPS, string_lookups()))


def __getattr__(name):
    if name in LOOKUPS:
        return _lookups()[name]
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
