"""dlib's 68-point shape predictor (Kazemi and Sullivan's cascade of regression trees) in
NumPy, with its model converted once into arrays that load in tens of milliseconds.

    model = load()                       # from the cache; converted on first use (~10 s)
    points = model(gray_frame, box)      # (68, 2) int pixels, as dlib's shape_predictor

dlib parses its 96 MB model file in ~0.9 s with the interpreter lock held, the larger part
of a one-clip reading's cold start. The same trees run here as dlib runs them: each cascade
places its 400 feature pixels relative to the current shape (a similarity transform from
the mean shape, in float64), rounds them to pixels, walks 500 depth-4 trees on pixel
differences and adds the leaves in float32 in dlib's order. What can differ is the last
bit of float arithmetic that dlib's compiler may fuse; tests/test_landmarks.py compares
both on real frames.

The model file is dlib's serialization: every number a variable-length integer (a byte:
its length in the low 4 bits, its sign in bit 7; then the magnitude, little-endian), a
float a (mantissa, exponent) pair of them. Converted arrays are cached next to the ONNX
exports, named by the model file's size and time.
"""
from __future__ import annotations

import json
import os
import tempfile
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np


N_POINTS = 68  # iBUG 300-W's scheme
LEAF_NUMBERS = 2 + 2 * 2 * N_POINTS  # a leaf: its header, then 136 (mantissa, exponent)
VERSION = 2  # of the cached arrays' layout
ALIGN = 64  # bytes: each cached array starts at a multiple (mapped, read in place)


class ModelError(ValueError):
    """A landmark model file this parser does not understand."""


@dataclass
class ShapePredictor:
    initial: np.ndarray  # (68, 2) float32, the mean shape in the box's unit square
    splits_a: np.ndarray  # (C, K, S) int: the feature pixels each split compares...
    splits_b: np.ndarray  # (C, K, S) int
    thresholds: np.ndarray  # (C, K, S) float32: ...go left when a - b > threshold
    leaves: np.ndarray  # (C, K, L, 68, 2) float32: what each leaf adds to the shape
    anchors: np.ndarray  # (C, F) int: each feature pixel's nearest mean-shape point
    deltas: np.ndarray  # (C, F, 2) float32: and its offset from it

    def __post_init__(self):
        cascades, trees, n_splits = self.splits_a.shape
        if n_splits > 16 or self.leaves.shape[2] != n_splits + 1:
            raise ModelError("trees deeper than 4 splits, or not full: not dlib's 68-point "
                             "model's shape")
        n_leaves = self.leaves.shape[2]
        self._leaf_rows = self.leaves.reshape(cascades, -1, 2 * N_POINTS)  # (C, K*L, 136)
        self._leaf_base = np.arange(trees) * n_leaves
        # each tree's splits padded to 16 with one that never goes left (0 - 0 > inf), so
        # that a tree's outcomes pack into one 16-bit code (bit i: split i goes left)
        pad = np.zeros((cascades, trees, 16 - n_splits), self.splits_a.dtype)
        self._pair = np.stack([np.concatenate([self.splits_a, pad], 2),
                               np.concatenate([self.splits_b, pad], 2)], 1)  # (C, 2, K, 16)
        self._thresholds = np.concatenate(
            [self.thresholds, np.full(pad.shape, np.inf, np.float32)], 2)
        self._anchor_xy = np.stack([2 * self.anchors, 2 * self.anchors + 1], 1)  # (C, 2, F)
        self._dx = np.ascontiguousarray(self.deltas[..., 0])
        self._dy = np.ascontiguousarray(self.deltas[..., 1])
        self._path_leaf = _leaf_table(int(np.log2(n_leaves)))  # a tree's 15 bits -> its leaf
        mean = self.initial.astype(np.float64)
        mc = mean - mean.mean(0)
        self._sigma = (mc ** 2).sum(1).mean()
        n = len(mc)  # A = sum(to . mc) / n, B = sum(to x mc) / n (sum(mc) = 0: no to mean)
        self._cos = np.stack([mc[:, 0], mc[:, 1]], 1).ravel() / n
        self._sin = np.stack([-mc[:, 1], mc[:, 0]], 1).ravel() / n

    def __call__(self, image: np.ndarray, box) -> np.ndarray:
        """The 68 points (68, 2) int64 of the face in `box` (left, top, right, bottom
        int pixels) of a 2-D uint8 `image`, as dlib.shape_predictor finds them."""
        left, top, right, bottom = (int(v) for v in box)
        w, h = float(right - left), float(bottom - top)
        height, width = image.shape
        pixels = np.ascontiguousarray(image).ravel()
        shape = self.initial.reshape(-1).copy()
        for c in range(len(self.leaves)):
            m = self._similarity(shape)
            ax, ay = shape.take(self._anchor_xy[c])
            # dlib: tform * delta + anchor in float32, then into the image in float64,
            # rounded to the nearest pixel; pixels outside the image read 0
            px = (m[0, 0] * self._dx[c] + m[0, 1] * self._dy[c]) + ax
            py = (m[1, 0] * self._dx[c] + m[1, 1] * self._dy[c]) + ay
            x = np.floor(w * px.astype(np.float64) + (left + 0.5))
            y = np.floor(h * py.astype(np.float64) + (top + 0.5))
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            flat = (y * width + x).astype(np.int64)
            feats = np.where(inside, pixels.take(flat, mode="clip"), 0).astype(np.float32)
            a, b = feats.take(self._pair[c])
            goes_left = (a - b > self._thresholds[c]).ravel()
            leaf = self._path_leaf[np.packbits(goes_left, bitorder="little").view("<u2")]
            added = self._leaf_rows[c].take(self._leaf_base + leaf, axis=0)
            added[0] += shape  # dlib adds each tree's leaf in turn, in float32: a
            shape = added.sum(0)  # reduction over the first axis runs row after row
        shape = shape.reshape(-1, 2).astype(np.float64)
        x = np.floor(left + w * shape[:, 0] + 0.5)
        y = np.floor(top + h * shape[:, 1] + 0.5)
        return np.stack([x, y], axis=1).astype(np.int64)

    def _similarity(self, shape: np.ndarray) -> np.ndarray:
        """The 2x2 scale-rotation (float32) of the least-squares similarity transform from
        the mean shape to `shape` (136,): dlib's find_similarity_transform (Umeyama's, in
        float64), whose SVD in two dimensions comes to [[A, -B], [B, A]] / sigma, with A and
        B the sums of the two shapes' centred points' dot and cross products over n."""
        if self._sigma == 0:
            return np.eye(2, dtype=np.float32)
        to = shape.astype(np.float64)
        a, b = to @ self._cos, to @ self._sin
        return (np.array([[a, -b], [b, a]]) / self._sigma).astype(np.float32)


def _leaf_table(depth: int) -> np.ndarray:
    """For every outcome of a full tree's 2**depth - 1 splits (bit i: split i says go left,
    as dlib numbers nodes: children of i are 2i+1, 2i+2), the leaf it ends in."""
    splits = 2 ** depth - 1
    codes = np.arange(2 ** splits)
    node = np.zeros_like(codes)
    for _ in range(depth):
        node = np.where((codes >> node) & 1, 2 * node + 1, 2 * node + 2)
    return (node - splits).astype(np.int64)


# --- dlib's model file ---------------------------------------------------------------

def _starts(buf: bytes) -> np.ndarray:
    """Where each number of dlib's serialization `buf` starts, in order.

    Each length says where the next number starts, so the walk is sequential; in Python,
    33 M numbers take ~8 s. Most of them are in the trees' leaves, each a 136-row matrix
    whose header (-136, -1) is the bytes LEAF: all leaves found by that pattern are walked
    at once, 274 steps side by side, and only the numbers between leaves one by one. A
    pattern that is not a leaf (inside another number) is never reached by the walk and
    so never used: the starts are the sequential walk's, exactly.
    """
    raw = np.frombuffer(buf, np.uint8)
    step = np.frombuffer(buf.translate(bytes(range(1, 17)) * 16) + b"\x01", np.uint8)
    # (a number: a length byte, its low 4 bits the length of what follows)
    leaf = b"\x81\x88\x81\x01"  # dlib's matrix header: -rows (-136), -columns (-1)
    found = np.flatnonzero((raw[:-3] == leaf[0]) & (raw[1:-2] == leaf[1])
                           & (raw[2:-1] == leaf[2]) & (raw[3:] == leaf[3]))
    walk = np.empty((len(found), LEAF_NUMBERS), np.int32)  # (the file is under 2 GB)
    pos = found.astype(np.int32)
    for k in range(LEAF_NUMBERS):  # every candidate leaf walked at once
        walk[:, k] = pos
        pos = pos + step[np.minimum(pos, len(buf))]  # past the end: stays past it
    ends = pos
    pieces, p, n = [], 0, len(buf)
    gap = array("q")
    for i, a in enumerate(found.tolist()):
        if a < p:
            continue  # inside what the walk has passed: not a leaf
        while p < a:
            gap.append(p)
            p += int(step[p])
        if p == a:  # the walk reaches it: a leaf
            pieces += [np.frombuffer(gap, np.int64).astype(np.int32), walk[i]]
            gap = array("q")
            p = int(ends[i])
    while p < n:
        gap.append(p)
        p += int(step[p])
    if p != n:
        raise ModelError("the model file ends inside a number")
    return np.concatenate(pieces + [np.frombuffer(gap, np.int64).astype(np.int32)])


def _varints(buf: bytes) -> np.ndarray:
    """Every variable-length integer of dlib's serialization `buf`, in order (int64)."""
    if len(buf) >= 2 ** 31:
        raise ModelError("a model file over 2 GB")
    padded = np.frombuffer(buf + bytes(9), np.uint8)
    # The 8 bytes after each position as one little-endian integer (an unaligned view),
    # masked to the number's own length.
    words = np.ndarray((len(buf) + 1,), "<u8", padded.data, strides=(1,))
    masks = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2 ** 64 - 1], np.uint64)
    starts = _starts(buf)
    out = np.empty(len(starts), np.int64)
    chunk = 1 << 22  # numbers decoded at a time: bounded temporaries
    for lo in range(0, len(starts), chunk):
        st = starts[lo:lo + chunk]
        head = padded[st]
        size = head & 15
        if size.max() > 8:
            raise ModelError("a number longer than 8 bytes")
        value = (words[st + 1] & masks[size]).astype(np.int64)
        out[lo:lo + len(st)] = np.where(head & 0x80, -value, value)
    return out


def _floats(v: np.ndarray) -> np.ndarray:
    """(..., 2) (mantissa, exponent) pairs to float32."""
    return np.ldexp(v[..., 0].astype(np.float64), v[..., 1]).astype(np.float32)


def parse(buf: bytes) -> ShapePredictor:
    """dlib's shape_predictor serialization (version 1) as arrays."""
    v = _varints(buf)
    i = 0

    def take(n):
        nonlocal i
        if i + n > len(v):
            raise ModelError("the model file ends early")
        out = v[i:i + n]
        i += n
        return out

    if take(1)[0] != 1:
        raise ModelError("not a version-1 dlib shape predictor")
    rows, cols = np.abs(take(2))
    if rows * cols != 2 * N_POINTS:
        raise ModelError("not dlib's 68-point model layout")
    initial = _floats(take(2 * rows * cols).reshape(-1, 2)).reshape(-1, 2)
    n_cascades = int(take(1)[0])
    n_trees = int(v[i])
    n_splits = int(v[i + 1])
    n_leaves = int(v[i + 2 + 4 * n_splits])
    tree_len = 2 + 4 * n_splits + n_leaves * (2 + 2 * rows * cols)
    forests = []
    for _ in range(n_cascades):
        if take(1)[0] != n_trees:
            raise ModelError("cascades of different sizes")
        forests.append(take(n_trees * tree_len).reshape(n_trees, tree_len))
    trees = np.stack(forests)  # (C, K, tree_len)
    if (trees[..., 0] != n_splits).any() or (trees[..., 1 + 4 * n_splits] != n_leaves).any():
        raise ModelError("trees of different shapes")
    split = trees[..., 1:1 + 4 * n_splits].reshape(n_cascades, n_trees, n_splits, 4)
    leaf = trees[..., 2 + 4 * n_splits:].reshape(n_cascades, n_trees, n_leaves, -1)[..., 2:]
    if take(1)[0] != n_cascades:
        raise ModelError("anchors for a different number of cascades")
    anchors = []
    for _ in range(n_cascades):
        anchors.append(take(int(take(1)[0])))
    if take(1)[0] != n_cascades:
        raise ModelError("offsets for a different number of cascades")
    deltas = []
    for _ in range(n_cascades):
        deltas.append(_floats(take(4 * int(take(1)[0])).reshape(-1, 2, 2)))
    if i != len(v):
        raise ModelError("not dlib's 68-point model layout")
    return ShapePredictor(initial, split[..., 0], split[..., 1], _floats(split[..., 2:]),
                          _floats(leaf.reshape(*leaf.shape[:3], -1, 2)).reshape(
                              *leaf.shape[:3], N_POINTS, 2),
                          np.stack(anchors), np.stack(deltas))


# --- the arrays on disk --------------------------------------------------------------

def cached_name(model: Path) -> str:
    """The name of `model`'s arrays in a cache: its version, size and time."""
    stat = model.stat()
    return f"landmarks-v{VERSION}-{stat.st_size}-{stat.st_mtime_ns}.arrays"


def convert(model: Path, out: Path) -> ShapePredictor:
    """Parse dlib's `model` file and write its arrays to `out` (whole or not at all): a
    line of JSON naming each array's dtype, shape and offset, then the arrays, each at a
    multiple of ALIGN bytes, so that read() maps them in place."""
    sp = parse(Path(model).read_bytes())
    arrays = {k: np.ascontiguousarray(getattr(sp, k)) for k in sp.__dataclass_fields__}
    layout, offset = {}, 4096  # the header's room
    for k, a in arrays.items():
        layout[k] = [a.dtype.str, list(a.shape), offset]
        offset += -(-a.nbytes // ALIGN) * ALIGN
    header = json.dumps(layout).encode() + b"\n"
    if len(header) > 4096:
        raise ModelError("too many arrays for the cache's header")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            for k, a in arrays.items():
                f.seek(layout[k][2])
                f.write(a.tobytes())
            f.truncate(offset)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return sp


def read(path: Path) -> ShapePredictor:
    """Arrays that convert() wrote, mapped from the file rather than read: the 65 MB of
    leaves cost nothing until fits touch them (a copy and its check took 50 ms and more of
    a cold start). OSError, ValueError or KeyError for a damaged file."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        layout = json.loads(head[:head.index(b"\n")])
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not converted arrays ({err})") from None
    size, arrays = path.stat().st_size, {}
    for k in ShapePredictor.__dataclass_fields__:
        try:
            dtype, shape, offset = layout[k]
            dtype, shape, offset = np.dtype(dtype), tuple(int(n) for n in shape), int(offset)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {k}: {err}") from None
        end = offset + dtype.itemsize * int(np.prod(shape))
        if dtype.hasobject or offset < 4096 or offset % ALIGN or end > size:
            raise ValueError(f"{path}: {k} lies outside the file")
        arrays[k] = np.memmap(path, dtype, "r", offset, shape).view(np.ndarray)
    return ShapePredictor(**arrays)
