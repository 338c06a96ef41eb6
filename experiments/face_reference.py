"""The face the general reader learned, as the reading checks it: the mean mouth crop of GRID
s1's training clips (each clip's crops averaged over time, standardised), written to
models/lipnet.face.npy; and how far each speaker's clips are from it (lipread.likeness).

    python -m experiments face fit --data-dir "$LIPREAD_DATA_DIR"            # the reference
    python -m experiments face report --data-dir "$LIPREAD_DATA_DIR" --others "$LIPREAD_OTHERS_DIR"

The threshold (likeness.LIKE_AT) is chosen between s1's held-back training clips and s26,
and reported on s1's test split, s31 and s4.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
from pathlib import Path

import numpy as np

from lipread import grid, likeness, pipeline
from lipread.model import loader

FIT_CLIPS = 200  # s1 training clips averaged into the reference
CHECK_CLIPS = 20  # further s1 training clips, the threshold's s1 side


def mean_mouth(path) -> np.ndarray:
    return likeness.mean_mouth(pipeline.look(path)[0].crops)


def fit(data_dir: Path, out: Path) -> None:
    names = grid.read_names(data_dir / "splits" / "train.txt")[:FIT_CLIPS]
    ref = np.mean([mean_mouth(grid.video_path(data_dir, n)) for n in names], axis=0)
    ref = (ref - ref.mean()) / ref.std()
    np.save(out, ref.astype(np.float16))
    print(f"{out}: the mean mouth of {len(names)} s1 training clips")


def report(data_dir: Path, others: Path | None) -> dict:
    train = grid.read_names(data_dir / "splits" / "train.txt")
    groups = {"s1 training (not in the reference)":
              [grid.video_path(data_dir, n) for n in train[FIT_CLIPS:FIT_CLIPS + CHECK_CLIPS]],
              "s1 test": [grid.video_path(data_dir, n)
                          for n in grid.read_names(data_dir / "splits" / "test.txt")]}
    for speaker in ("s26", "s31", "s4"):
        if others is not None:
            groups[speaker] = sorted(glob.glob(str(others / speaker / "*.mp*")))
    out = {}
    for group, paths in groups.items():
        scores = [likeness.likeness(pipeline.look(p)[0].crops) for p in paths]
        below = sum(s < likeness.LIKE_AT for s in scores)
        out[group] = {"clips": len(scores), "min": round(min(scores), 3),
                      "max": round(max(scores), 3), "below": below}
        print(f"{group:<36} {len(scores):>4} clips  likeness {min(scores):.2f}-"
              f"{max(scores):.2f}  under {likeness.LIKE_AT}: {below}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments face", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("fit", "report"))
    p.add_argument("--data-dir", default=os.environ.get("LIPREAD_DATA_DIR"), required=False)
    p.add_argument("--others", default=os.environ.get("LIPREAD_OTHERS_DIR"))
    p.add_argument("--out", default=str(loader.MODELS_DIR / likeness.FACE_FILE))
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error("give --data-dir (GRID s1 with splits/), or set LIPREAD_DATA_DIR")
    if args.what == "fit":
        fit(Path(args.data_dir), Path(args.out))
        return 0
    result = report(Path(args.data_dir), Path(args.others) if args.others else None)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0
