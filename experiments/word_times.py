"""Where a reading says each word is, against when it is said: `start_s` and `end_s` of
every word read right on the test split, minus the alignments' times of that word.

    python -m experiments times --data-dir "$LIPREAD_DATA_DIR"

The times are those of the grammar's best path through the network's output (a word: its
characters and the blanks between them). A bidirectional network may emit a word's
characters anywhere near it, so this measures how far that is from the lips.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import lipread
from lipread import grid
from lipread.constants import FPS


def offsets(data_dir: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start offsets, end offsets, slots) in seconds, for the words read right."""
    starts, ends, slots = [], [], []
    for name in names:
        said = [s for s in grid.load_alignment_segments(grid.alignment_path(data_dir, name))
                if s[2] not in grid.SILENCE_TOKENS]
        reading = lipread.read(str(grid.video_path(data_dir, name)))
        for slot, (word, (first, last, truth)) in enumerate(zip(reading.words, said)):
            if word.word == truth:
                starts.append(word.start_s - first / FPS)
                ends.append(word.end_s - last / FPS)
                slots.append(slot)
    return np.array(starts), np.array(ends), np.array(slots)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments times", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("LIPREAD_DATA_DIR", "data"))
    p.add_argument("--names", help="names file (default: the test split)")
    args = p.parse_args(argv)
    data_dir = Path(args.data_dir)
    names = grid.read_names(args.names or data_dir / "splits" / "test.txt")
    starts, ends, slots = offsets(data_dir, names)
    print(f"{len(starts)} words read right, of {len(names)} clips; seconds, reading minus "
          "alignment:")
    print("| word | start: mean | mean absolute | end: mean | mean absolute |")
    print("|---|---:|---:|---:|---:|")
    for slot, what in enumerate(grid.SLOT_NAMES):
        s, e = starts[slots == slot], ends[slots == slot]
        print(f"| {what} | {s.mean():+.2f} | {np.abs(s).mean():.2f} | {e.mean():+.2f} | "
              f"{np.abs(e).mean():.2f} |")
    print(f"| all | {starts.mean():+.2f} | {np.abs(starts).mean():.2f} | {ends.mean():+.2f} | "
          f"{np.abs(ends).mean():.2f} |")
    return 0
