"""How far the landmark crop moves when the way the mouth is found changes: each test clip's
crop corners in frame pixels, saved once and compared after.

    python -m experiments crops save artifacts/crops-before.npz --data-dir "$LIPREAD_DATA_DIR"
    python -m experiments crops compare artifacts/crops-before.npz --data-dir "$LIPREAD_DATA_DIR"

A crop's corners: the four corners of the 140x46 window mapped back into the frame by the
inverse of its transform. The comparison prints the mean corner distance over every frame
of every clip, its 99th percentile and the clip that moved most.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lipread import grid, pipeline
from lipread.constants import CROP_H, CROP_W

CORNERS = np.array([[0, 0], [CROP_W, 0], [CROP_W, CROP_H], [0, CROP_H]], np.float64)


def corners(transforms: np.ndarray) -> np.ndarray:
    """(T, 2, 3) frame -> crop transforms to (T, 4, 2) crop corners in frame pixels."""
    m = transforms.astype(np.float64)
    inv = np.linalg.inv(m[:, :, :2])  # (T, 2, 2)
    return np.einsum("tij,tkj->tki", inv, CORNERS[None] - m[:, None, :, 2])


def clip_corners(data_dir: Path) -> dict[str, np.ndarray]:
    names = grid.read_names(data_dir / "splits" / "test.txt")
    return {n: corners(pipeline.look(grid.video_path(data_dir, n))[0].track.transforms)
            for n in names}


def compare(before: dict, after: dict) -> dict:
    dist = {n: np.hypot(*(after[n] - before[n]).transpose(2, 0, 1)) for n in before}
    every = np.concatenate([d.ravel() for d in dist.values()])
    worst = max(dist, key=lambda n: dist[n].mean())
    return {"clips": len(dist), "mean_px": float(every.mean()),
            "p99_px": float(np.percentile(every, 99)), "max_px": float(every.max()),
            "worst_clip": worst, "worst_clip_mean_px": float(dist[worst].mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments crops", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("save", "compare"))
    p.add_argument("file", type=Path)
    p.add_argument("--data-dir", type=Path, default=None)
    args = p.parse_args(argv)
    data_dir = grid.resolve_data_dir(args.data_dir)
    now = clip_corners(data_dir)
    if args.action == "save":
        args.file.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.file, **now)
        print(f"{args.file}: crop corners of {len(now)} test clips")
        return 0
    with np.load(args.file) as saved:
        before = {n: saved[n] for n in saved.files}
    result = compare(before, now)
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in result.items()))
    return 0
