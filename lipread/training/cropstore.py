"""The crop cache on disk: where each clip's uint8 mouth crops lie, one .npy file a clip,
the report of the clips that could not be cut, and `ClipStore`, which reads them back.

    <cache_dir>/clips-<crop>-<key>/<speaker>/<stem>.npy   (75, 46 + 2 MARGIN, 140 + 2 MARGIN)

The key hashes what shapes the crops (the data folder, the margin, the crop method, and for
landmark crops mouth.settings()), so crops cut another way are never read back. Every file
is written under a temporary name and renamed (write_atomic): whole or not at all.
`ClipStore` reads a cached corpus clip by clip (np.load with mmap_mode="r"), so training
can run on a corpus that doesn't fit in memory (33,000 clips are ~20 GB of crops).
cropcache.py fills the cache. No TensorFlow or Keras here.
"""
from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from lipread import mouth
from lipread.grid import split_name
from lipread.video import CROP_H, CROP_W, CROPS, DEFAULT_CROP, N_FRAMES, normalize

MARGIN = mouth.CROP_PAD  # pixels kept around the crop for training's jitter (dataset.MARGIN)
CLIP_SHAPE = (N_FRAMES, CROP_H + 2 * MARGIN, CROP_W + 2 * MARGIN)
DEFAULT_CACHE_DIR = Path(os.environ.get("LIPREAD_CACHE_DIR", ".cache"))
REPORT_NAME = "report.tsv"


# --- where clips are cached ---------------------------------------------------------------

def center(frames: np.ndarray) -> np.ndarray:
    """The cached crop without its margin, normalised: what inference feeds the network."""
    return normalize(frames[:, MARGIN:MARGIN + CROP_H, MARGIN:MARGIN + CROP_W])


def cache_key(data_dir, crop: str = DEFAULT_CROP) -> str:
    """16 hex digits of what shapes the crops: data folder, margin, crop (and its settings)."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    extra = f"|{mouth.settings()}" if crop == "landmarks" else ""
    text = f"{Path(data_dir).resolve()}|{MARGIN}|{crop}{extra}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root(data_dir, cache_dir=DEFAULT_CACHE_DIR, crop: str = DEFAULT_CROP) -> Path:
    """The folder of one data folder's crops cut one way: <cache_dir>/clips-<crop>-<key>."""
    return Path(cache_dir) / f"clips-{crop}-{cache_key(data_dir, crop)}"


def clip_path(root, name: str) -> Path:
    """Where a clip's crops are cached: <root>/<speaker>/<stem>.npy (bbaf2n is s1/bbaf2n)."""
    speaker, stem = split_name(name)
    return Path(root) / speaker / f"{stem}.npy"


def write_atomic(path: Path, write) -> None:
    """write(file) to a temporary name beside `path`, then renamed: whole or not at all."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def one_line(text: str) -> str:
    """A reason on one line: a report line each, a marker file's second field."""
    return " ".join(str(text).split()) or "unknown error"


# --- the report ---------------------------------------------------------------------------

def summary_lines(data_dir, crop, names, cached, failures, info) -> list[str]:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [f"crop cache {info['root']} ({crop} crops of {Path(data_dir).resolve()}), {when}",
            f"{len(names)} clips: {len(cached)} cached ({info['computed']} new), "
            f"{len(failures)} skipped ({info['remembered']} known from earlier runs); "
            f"{info['seconds']:.1f} s with {info['workers']} worker process(es)",
            "each line below: a clip that can't be read<TAB>why"]


def write_report(path, failures: dict[str, str], summary: list[str] = ()) -> Path:
    """The skipped clips, `name<TAB>reason` a line, under '# ' summary lines; whole or not
    at all. read_report() reads it back."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {one_line(s)}" for s in summary]
    lines += [f"{name}\t{one_line(reason)}" for name, reason in failures.items()]
    write_atomic(path, lambda f: f.write(("\n".join(lines) + "\n").encode()))
    return path


def read_report(path) -> dict[str, str]:
    """{name: reason} of a report file."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, reason = line.partition("\t")
            out[name] = reason
    return out


# --- reading the cache ----------------------------------------------------------------------

class ClipStore(Sequence):
    """The cached crops of `names`, read one clip at a time: store[i] is clip i's uint8
    (75, 54, 148) array, len(store) the number of clips; a slice is a store of those clips.
    What training reads when the corpus does not fit in memory."""

    dtype = np.uint8

    def __init__(self, root, names):
        self.root, self.names = Path(root), list(names)
        self.paths = [clip_path(self.root, n) for n in self.names]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *CLIP_SHAPE)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ClipStore(self.root, self.names[i])
        path = self.paths[operator.index(i)]  # IndexError past the end, as a list's
        crops = np.load(path, mmap_mode="r")
        if crops.shape != CLIP_SHAPE or crops.dtype != np.uint8:
            raise ValueError(f"{path}: cached crops of shape {crops.shape} ({crops.dtype}); "
                             f"expected {CLIP_SHAPE} uint8: delete the file to recompute it")
        out = np.array(crops)  # a plain array: the map is closed when `crops` goes
        del crops
        return out

    def load_all(self) -> np.ndarray:
        """Every clip in one (N, 75, 54, 148) uint8 array."""
        out = np.empty(self.shape, np.uint8)
        for i in range(len(self)):
            out[i] = self[i]
        return out

    def __repr__(self) -> str:
        return f"ClipStore({len(self)} clips in {self.root})"
