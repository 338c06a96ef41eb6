"""landmarks.py: dlib's 68-point predictor in NumPy gives dlib's own points on real frames
(s1, s26, s31; boxes as the detector gives them, moved, and half out of the frame), its
model file is parsed exactly, and the caches of both face models are rebuilt when damaged.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipread import cache, grid, face, landmarks, video

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dlib_predictor():
    import dlib

    return dlib.shape_predictor(str(face.predictor_path()))


def frames_and_boxes(paths, every=9):
    """(frame, box) pairs: the detector's box on every `every`-th frame of each clip."""
    out = []
    for path in paths:
        frames = video.read_clip(path).frames
        for frame in frames[::every]:
            boxes = face.detect_faces(frame)
            if boxes:
                out.append((frame, boxes[0]))
    return out


def dlib_points(predictor, frame, box) -> np.ndarray:
    import dlib

    shape = predictor(frame, dlib.rectangle(*box))
    return np.array([(p.x, p.y) for p in shape.parts()])


def test_numpy_predictor_gives_dlibs_points(grid_dir, test_names, others_dir, dlib_predictor):
    ours = face.landmark_model(face.predictor_path())
    paths = [grid.video_path(grid_dir, n) for n in test_names[:6]]
    paths += sorted((others_dir / "s26").glob("*.mp*"))[:3]
    paths += sorted((others_dir / "s31").glob("*.mp*"))[:3]
    pairs = frames_and_boxes(paths)
    assert len(pairs) > 80
    checked = 0
    for frame, (left, top, right, bottom) in pairs:
        w = right - left
        # as found; moved and grown (a tracked box); half out of the frame (pixels outside
        # read as 0); shrunk to a sliver
        for box in [(left, top, right, bottom), (left + w // 7, top - w // 9, right + w // 5,
                                                  bottom + w // 6),
                    (left - w // 2 - frame.shape[1] // 2, top, right - frame.shape[1] // 2,
                     bottom), (left, top, left + 9, top + 7)]:
            expected = dlib_points(dlib_predictor, frame, box)
            np.testing.assert_array_equal(ours(frame, box), expected,
                                          err_msg=f"box {box}")
            checked += 1
    assert checked == 4 * len(pairs)


def sequential_starts(buf: bytes) -> list[int]:
    starts, p = [], 0
    while p < len(buf):
        starts.append(p)
        p += 1 + (buf[p] & 15)
    return starts


def varint(value: int) -> bytes:
    """dlib's serialization of an integer: a length byte (sign in bit 7), then the bytes."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def test_starts_walk_leaves_side_by_side_and_skip_lookalikes():
    rng = np.random.default_rng(0)
    leaf = varint(-136) + varint(-1)
    assert leaf == b"\x81\x88\x81\x01"
    parts = [varint(1)]
    for _ in range(40):
        parts += [varint(int(v)) for v in rng.integers(-2 ** 40, 2 ** 40, rng.integers(0, 9))]
        # a number whose bytes hold the leaf header: a lookalike the walk must not take
        parts.append(bytes([7]) + b"\x00\x81\x88\x81\x01\x00\x00")
        parts.append(leaf + b"".join(varint(int(v)) for v in
                                     rng.integers(-2 ** 20, 2 ** 20, landmarks.LEAF_NUMBERS - 2)))
    buf = b"".join(parts)
    assert landmarks._starts(buf).tolist() == sequential_starts(buf)
    assert landmarks._starts(buf[1:]).tolist() == sequential_starts(buf[1:])  # misaligned
    with pytest.raises(landmarks.ModelError, match="ends inside a number"):
        landmarks._starts(buf + b"\x03\x01")


def test_varints_decode_signs_and_lengths():
    values = [0, 1, -1, 255, 256, -70000, 2 ** 56 + 3, -(2 ** 62), 2 ** 63 - 1]
    buf = b"".join(varint(v) for v in values)
    assert landmarks._varints(buf).tolist() == values
    assert landmarks._floats(np.array([[15808589, -29]])).item() == \
        struct.unpack("f", struct.pack("f", 15808589 * 2.0 ** -29))[0]


def test_truncated_or_foreign_model_files_are_refused(tmp_path):
    head = face.predictor_path().read_bytes()[:200_000]
    with pytest.raises(landmarks.ModelError):
        landmarks.parse(head)
    with pytest.raises(landmarks.ModelError, match="^not a version-1 dlib shape predictor$"):
        landmarks.parse(varint(2) + varint(-136))


def test_damaged_caches_are_rebuilt(grid_dir, tmp_path, monkeypatch):
    """A damaged converted model or saved detector in the cache is built again (and the
    points still equal the original's), in a process of its own: nothing shared."""
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "none"))
    name = landmarks.cached_name(face.predictor_path())
    (tmp_path / "landmarks").mkdir()
    (tmp_path / "landmarks" / name).write_bytes(b"not converted arrays")
    (tmp_path / "dlib").mkdir()
    import dlib

    detector = tmp_path / "dlib" / f"frontal_face_detector-{dlib.__version__}.svm"
    detector.write_bytes(b"damaged")
    script = ("import sys, numpy as np; from lipread import face, video; "
              "f = video.read_clip(sys.argv[1]).frames[20]; b = face.detect_faces(f)[0]; "
              "print(b, face.landmarks(f, b)[48:50].tolist())")
    clip = grid.video_path(grid_dir, "bbaf2n")
    run = subprocess.run([sys.executable, "-c", script, str(clip)], capture_output=True,
                         text=True, timeout=300, env={**os.environ})
    assert run.returncode == 0, run.stderr
    assert "converting dlib's landmark model" in run.stderr
    assert landmarks.read(tmp_path / "landmarks" / name).leaves.shape == (15, 500, 16, 68, 2)
    assert detector.stat().st_size > 100_000
    again = subprocess.run([sys.executable, "-c", script, str(clip)], capture_output=True,
                           text=True, timeout=300, env={**os.environ})
    assert again.stdout == run.stdout and "converting" not in again.stderr
    assert not list(tmp_path.glob("*/.*partial"))


def test_cache_find_looks_in_each_root(tmp_path, monkeypatch):
    first, home = tmp_path / "first", tmp_path / "home"
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(first))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    assert cache.find("kind", "thing") is None
    (home / "lipread" / "kind").mkdir(parents=True)
    (home / "lipread" / "kind" / "thing").write_text("x")
    assert cache.find("kind", "thing") == home / "lipread" / "kind" / "thing"
    assert cache.folder("kind") == first / "kind"  # written to the first choice
    (first / "kind" / "thing").write_text("y")
    assert cache.find("kind", "thing") == first / "kind" / "thing"


def test_use_dlib_predictor_switches_to_the_same_points(grid_dir, test_names):
    """face.landmarks by the NumPy trees, then by dlib's own predictor once a process asks
    for it (the Live page, lipread evaluate): the same points."""
    frames = video.read_clip(grid.video_path(grid_dir, test_names[1])).frames[::15]
    boxes = [face.detect_faces(f)[0] for f in frames]
    face._dlib_predictor.cache_clear()
    try:
        ours = [face.landmarks(f, b) for f, b in zip(frames, boxes)]
        face.use_dlib_predictor()
        assert face._dlib_predictor.cache_info().currsize == 1
        theirs = [face.landmarks(f, b) for f, b in zip(frames, boxes)]
    finally:
        face._dlib_predictor.cache_clear()
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def dlib_float(value: np.float32) -> bytes:
    """dlib's serialization of a float: (mantissa, exponent) integers, value = m * 2**e."""
    m, e = np.frexp(np.float64(value))
    return varint(int(m * 2 ** 24)) + varint(int(e) - 24)


def tiny_model(seed: int, depth: int = 3, cascades: int = 3, trees: int = 4,
               features: int = 24) -> bytes:
    """A shape predictor of dlib's layout made of random numbers, a few kB: what dlib
    loads, and what parse() must read and run as dlib does."""
    rng = np.random.default_rng(seed)
    f32 = lambda lo, hi, n: rng.uniform(lo, hi, n).astype(np.float32)  # noqa: E731
    out = [varint(1), varint(-136), varint(-1)]
    out += [dlib_float(v) for v in f32(0.15, 0.85, 136)]
    out.append(varint(cascades))
    for _ in range(cascades):
        out.append(varint(trees))
        for _ in range(trees):
            out.append(varint(2 ** depth - 1))
            for a, b, t in zip(rng.integers(0, features, 2 ** depth - 1),
                               rng.integers(0, features, 2 ** depth - 1),
                               f32(-40, 40, 2 ** depth - 1)):
                out += [varint(int(a)), varint(int(b)), dlib_float(t)]
            out.append(varint(2 ** depth))
            for _ in range(2 ** depth):
                out += [varint(-136), varint(-1)] + [dlib_float(v) for v in f32(-0.03, 0.03, 136)]
    out.append(varint(cascades))
    for _ in range(cascades):
        out.append(varint(features))
        out += [varint(int(i)) for i in rng.integers(0, 68, features)]
    out.append(varint(cascades))
    for _ in range(cascades):
        out.append(varint(features))
        out += [dlib_float(v) for v in f32(-0.25, 0.25, 2 * features)]
    return b"".join(out)


@pytest.fixture(scope="module")
def few_frames(grid_dir, test_names):
    frames = video.read_clip(grid.video_path(grid_dir, test_names[2]), seconds=0.3).frames
    box = face.detect_faces(frames[0])[0]
    return frames, box


@pytest.mark.parametrize("seed, depth", [(0, 3), (1, 4), (2, 2)])
def test_a_small_model_of_dlibs_layout_gives_dlibs_points(tmp_path, few_frames, seed, depth):
    import dlib

    path = tmp_path / "tiny.dat"
    path.write_bytes(tiny_model(seed, depth))
    theirs = dlib.shape_predictor(str(path))
    ours = landmarks.parse(path.read_bytes())
    assert ours.leaves.shape == (3, 4, 2 ** depth, 68, 2) and ours.anchors.shape == (3, 24)
    frames, (left, top, right, bottom) = few_frames
    h, w = frames[0].shape
    boxes = [(left, top, right, bottom), (left + 7, top - 5, right + 3, bottom + 9),
             (w - 60, h - 50, w + 60, h + 70), (-40, -30, 60, 90)]  # half off the frame
    for frame in frames[::2]:
        for box in boxes:
            got = ours(frame, box)
            assert got.dtype == np.int64 and got.shape == (68, 2)
            np.testing.assert_array_equal(got, dlib_points(theirs, frame, box))


def test_a_model_converted_to_arrays_reads_back_the_same(tmp_path, few_frames):
    model = tmp_path / "tiny.dat"
    model.write_bytes(tiny_model(3))
    out = tmp_path / "tiny.arrays"
    made = landmarks.convert(model, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.arrays", "tiny.dat"]
    read = landmarks.read(out)
    for name in landmarks.ShapePredictor.__dataclass_fields__:
        a, b = getattr(made, name), getattr(read, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
        assert getattr(read, name).ctypes.data % landmarks.ALIGN == 0  # mapped in place
    frames, box = few_frames
    np.testing.assert_array_equal(made(frames[0], box), read(frames[0], box))
    stat = model.stat()
    assert landmarks.cached_name(model) == (
        f"landmarks-v{landmarks.VERSION}-{stat.st_size}-{stat.st_mtime_ns}.arrays")


def test_arrays_are_written_hidden_beside_their_file_then_renamed_into_place(tmp_path,
                                                                             monkeypatch):
    model = tmp_path / "tiny.dat"
    model.write_bytes(tiny_model(3))
    out = tmp_path / "cache" / "tiny.arrays"
    out.parent.mkdir()
    moves, replace = [], os.replace

    def moved(src, dst):
        moves.append((Path(src), Path(dst)))
        return replace(src, dst)
    monkeypatch.setattr(os, "replace", moved)
    landmarks.convert(model, out)
    ((src, dst),) = moves  # one rename, within the folder: a reader never sees part of it
    assert dst == out and src.parent == out.parent and src.name.startswith(".tiny.arrays.")


def _arrays_with_header_of(size: int):
    """A parsed model of many one-number arrays whose converted header (its JSON line) is
    `size` bytes."""
    import dataclasses

    def header(names):
        layout = {n: ["<f4", [1], 4096 + i * landmarks.ALIGN] for i, n in enumerate(names)}
        return len(json.dumps(layout).encode()) + 1

    names = []
    while header(names + [f"a{len(names):03d}"]) <= size:
        names.append(f"a{len(names):03d}")
    names[-1] += "x" * (size - header(names))  # the last name pads it to the byte
    assert header(names) == size
    kind = dataclasses.make_dataclass("Many", names)
    return kind(*[np.zeros(1, np.float32) for _ in names])


@pytest.mark.parametrize("size", [4096, 4097])
def test_arrays_whose_header_outgrows_its_room_are_refused_leaving_nothing(tmp_path,
                                                                          monkeypatch, size):
    model = tmp_path / "many.dat"
    model.write_bytes(b"")
    out = tmp_path / "many.arrays"
    monkeypatch.setattr(landmarks, "parse", lambda data: _arrays_with_header_of(size))
    if size == 4096:  # fills the room to its last byte: kept
        landmarks.convert(model, out)
        assert out.read_bytes()[4095:4096] == b"\n"
    else:
        with pytest.raises(landmarks.ModelError, match="^too many arrays for the cache's "
                           "header$"):
            landmarks.convert(model, out)
        assert [p.name for p in tmp_path.iterdir()] == ["many.dat"]


def _numbers(buf: bytes) -> list[int]:
    return [int(x) for x in landmarks._varints(buf)]


def _model_of(numbers) -> bytes:
    return b"".join(varint(n) for n in numbers)


def test_a_model_file_that_stops_between_numbers_is_refused_as_ending_early():
    numbers = _numbers(tiny_model(6))  # (cut inside the leaves: "ends inside a number")
    for kept in (1, 2, len(numbers) - 40, len(numbers) - 1):
        with pytest.raises(landmarks.ModelError, match="^the model file ends early$"):
            landmarks.parse(_model_of(numbers[:kept]))


def test_a_model_file_cut_inside_a_number_says_so():
    data = tiny_model(6)
    for cut in (len(data) - 1, len(data) // 2):  # in the deltas; inside a leaf
        with pytest.raises(landmarks.ModelError, match="^the model file ends inside a number$"):
            landmarks.parse(data[:cut])


def test_a_number_longer_than_8_bytes_is_refused():
    with pytest.raises(landmarks.ModelError, match="^a number longer than 8 bytes$"):
        landmarks.parse(varint(1) + bytes([9]) + bytes(9))


def test_a_model_file_of_2_gb_or_more_is_refused_before_it_is_read():
    class Huge(bytes):  # a file's bytes that say they are 2 GiB long
        def __len__(self):
            return 2 ** 31
    with pytest.raises(landmarks.ModelError, match="^a model file over 2 GB$"):
        landmarks._varints(Huge(b"\x01\x01"))


def test_a_model_whose_start_shape_is_not_68_points_is_refused():
    numbers = _numbers(tiny_model(6))
    assert numbers[1:3] == [-136, -1]  # dlib's (136, 1) column of the 68 points' x and y
    with pytest.raises(landmarks.ModelError, match="^not dlib's 68-point model layout$"):
        landmarks.parse(_model_of([1, -272, -2] + numbers[3:]))  # 272 points' worth


def test_a_model_whose_cascades_hold_different_numbers_of_trees_is_refused():
    numbers = _numbers(tiny_model(6))
    model = landmarks.parse(tiny_model(6))
    cascades, trees, splits = model.splits_a.shape
    leaves = model.leaves.shape[2]
    first = 1 + 2 + 2 * 136 + 1  # version, shape, the start shape, the cascades' count
    second = first + 1 + trees * (2 + 4 * splits + leaves * (2 + 2 * 136))
    assert cascades >= 2 and numbers[first] == numbers[second] == trees
    numbers[second] = trees + 1
    with pytest.raises(landmarks.ModelError, match="^cascades of different sizes$"):
        landmarks.parse(_model_of(numbers))


def _layout(numbers):
    """(index of the anchors' count, of the first tree's split count, trees, tree length)."""
    model = landmarks.parse(_model_of(numbers))
    cascades, trees, splits = model.splits_a.shape
    leaves = model.leaves.shape[2]
    tree_len = 2 + 4 * splits + leaves * (2 + 2 * 136)
    first = 1 + 2 + 2 * 136 + 1
    return first + cascades * (1 + trees * tree_len), first + 1, trees, tree_len


def test_a_model_whose_parts_disagree_on_their_counts_is_refused():
    numbers = _numbers(tiny_model(6))
    anchors, first_tree, trees, tree_len = _layout(numbers)
    cases = {"trees of different shapes": (first_tree + tree_len, numbers[first_tree] + 1),
             "anchors for a different number of cascades": (anchors, numbers[anchors] + 1)}
    for said, (at, value) in cases.items():
        changed = list(numbers)
        changed[at] = value
        with pytest.raises(landmarks.ModelError, match=f"^{said}$"):
            landmarks.parse(_model_of(changed))
    offsets = anchors + 1  # past each cascade's anchors: the offsets' count
    for _ in range(numbers[anchors]):
        offsets += 1 + numbers[offsets]
    changed = list(numbers)
    changed[offsets] += 1
    with pytest.raises(landmarks.ModelError, match="^offsets for a different number of "
                       "cascades$"):
        landmarks.parse(_model_of(changed))
    with pytest.raises(landmarks.ModelError, match="^not dlib's 68-point model layout$"):
        landmarks.parse(_model_of(numbers + [7]))  # more after the last part


def test_a_models_numbers_are_kept_as_dlibs_own_float32():
    model = landmarks.parse(tiny_model(6))
    for name in ("initial", "thresholds", "leaves", "deltas"):
        assert getattr(model, name).dtype == np.float32, name  # float64 would double 65 MB


def test_damaged_arrays_are_refused_with_the_file_named(tmp_path):
    model = tmp_path / "tiny.dat"
    model.write_bytes(tiny_model(4))
    good = tmp_path / "good.arrays"
    landmarks.convert(model, good)
    data = good.read_bytes()
    header = data[:data.index(b"\n")]
    cases = {
        "text": (b"not json\n" + data[9:], "not converted arrays"),
        "no-line": (b"x" * 5000, "not converted arrays"),
        "short": (data[:len(data) - 100], "lies outside the file"),
        "early": (data.replace(b'[68, 2], 4096]', b'[68, 2], 4032]', 1), "initial lies outside"),
        "unaligned": (data.replace(b'[68, 2], 4096]', b'[68, 2], 4100]', 1),
                      "initial lies outside"),
        "no-field": (data.replace(b'"anchors"', b'"anchorz"', 1), "anchors"),
        "object": (data.replace(b'"<i8"', b'"|O"', 1), "lies outside the file"),
        "shape": (data.replace(b'[68, 2]', b'[68, "x"]', 1), "initial: "),
    }
    for name, (damaged, said) in cases.items():
        assert damaged != data, name
        path = tmp_path / f"{name}.arrays"
        path.write_bytes(damaged)
        with pytest.raises((ValueError, KeyError)) as err:
            landmarks.read(path)
        assert said in str(err.value), (name, err.value)
        assert str(path) in str(err.value) or name == "no-field", (name, err.value)


def test_a_model_whose_trees_are_deeper_or_ragged_is_refused():
    model = landmarks.parse(tiny_model(5))
    fields = {k: getattr(model, k) for k in landmarks.ShapePredictor.__dataclass_fields__}
    with pytest.raises(landmarks.ModelError, match="not dlib's 68-point model's shape"):
        landmarks.ShapePredictor(**{**fields, "leaves": fields["leaves"][:, :, :7]})
    deep = {**fields, "splits_a": np.zeros((3, 4, 17), np.int64),
            "splits_b": np.zeros((3, 4, 17), np.int64),
            "thresholds": np.zeros((3, 4, 17), np.float32),
            "leaves": np.zeros((3, 4, 18, 68, 2), np.float32)}
    with pytest.raises(landmarks.ModelError):
        landmarks.ShapePredictor(**deep)


@pytest.mark.parametrize("cut, said", [
    (lambda b: b[:len(b) // 2], "ends"),
    (lambda b: b + varint(7), "not dlib's 68-point model layout"),
    (lambda b: varint(1) + varint(-10) + varint(-1) + b[4:], "68-point model layout"),
])
def test_a_model_file_cut_short_or_with_more_is_refused(cut, said):
    with pytest.raises(landmarks.ModelError, match=said):
        landmarks.parse(cut(tiny_model(6)))
