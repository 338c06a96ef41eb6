"""Choosing what reads (readers.py: the shipped reader, a weights file, a profile, by one
name) and how like s1's face a clip's mouth is (likeness.py), directly. Which loader a name
goes to is recorded by stand-ins for the loaders (test_reading.py and test_profiles.py
load them for real); one real load checks a profile's name reads its own weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lipread import likeness, readers, reading
from lipread.enroll import profiles
from lipread.model import loader


# --- likeness.py -----------------------------------------------------------------------------

def test_a_clips_mean_mouth_is_standardised():
    crops = np.random.default_rng(0).integers(0, 255, (75, 46, 140)).astype(np.uint8)
    mean = likeness.mean_mouth(crops)
    assert mean.shape == (46, 140) and mean.dtype == np.float32
    assert mean.mean() == pytest.approx(0, abs=1e-5) and mean.std() == pytest.approx(1, 1e-4)
    np.testing.assert_allclose(mean, (crops.mean(0) - crops.mean()) / crops.mean(0).std(),
                               rtol=1e-4, atol=1e-4)
    assert not likeness.mean_mouth(np.full((75, 46, 140), 9, np.uint8)).any()  # no contrast


def test_s1s_own_mean_mouth_is_most_like_it_and_its_negative_least():
    ref = likeness.reference()
    assert ref.shape == (46, 140) and ref.dtype == np.float32
    frames = np.repeat(ref[None] * 20 + 100, 3, axis=0)  # s1's mean mouth, brighter
    assert likeness.likeness(frames) == pytest.approx(1.0, abs=1e-3)
    assert likeness.likeness(200 - frames) == pytest.approx(-1.0, abs=1e-3)
    rng = np.random.default_rng(1)
    assert abs(likeness.likeness(rng.random((75, 46, 140)))) < 0.1


def test_no_likeness_for_crops_of_another_size_or_without_the_reference(tmp_path,
                                                                       monkeypatch):
    assert likeness.likeness(np.zeros((75, 46, 141))) is None
    assert likeness.likeness(np.zeros((75, 47, 140))) is None
    likeness.reference.cache_clear()
    monkeypatch.setattr(loader, "MODELS_DIR", tmp_path)  # the file missing
    try:
        assert likeness.reference() is None
        assert likeness.likeness(np.zeros((75, 46, 140))) is None
        likeness.reference.cache_clear()
        (tmp_path / likeness.FACE_FILE).write_bytes(b"not an array")  # damaged
        assert likeness.reference() is None
    finally:
        likeness.reference.cache_clear()


# --- readers.py ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, is_file", [
    ("alice", False), ("bob-2", False), ("a_1", False),
    ("best.weights.h5", True), ("runs/lipnet/best.weights.h5", True), ("old.h5", True),
    ("checkpoint.index", True), ("Alice", True), ("/abs/alice", True), ("a" * 33, True),
])
def test_a_name_is_a_files_unless_it_is_a_profiles(name, is_file):
    assert readers.is_file_name(name) is is_file


def test_the_weights_a_name_reads_with(tmp_path, monkeypatch):
    monkeypatch.delenv(reading.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    shipped = loader.DEFAULT_WEIGHTS["lipnet"]
    assert readers.weights_of() == shipped and readers.weights_of("general") == shipped
    assert readers.weights_of("runs/best.weights.h5") == Path("runs/best.weights.h5")
    assert readers.weights_of("alice") == tmp_path / "profiles" / "alice" / \
        profiles.WEIGHTS_FILE
    monkeypatch.setenv(reading.WEIGHTS_ENV, str(tmp_path / "mine.weights.h5"))
    assert readers.weights_of() == tmp_path / "mine.weights.h5"
    assert readers.weights_of("general") == tmp_path / "mine.weights.h5"
    assert readers.weights_of("alice").parent.name == "alice"  # a profile stays its own


@pytest.fixture
def loads(monkeypatch):
    """Each loader's calls, as (loader, its arguments)."""
    calls = []
    monkeypatch.setattr(loader, "load_network",
                        lambda arch="lipnet", weights=None, runtime=None:
                        calls.append(("network", arch, weights, runtime)) or "network")
    monkeypatch.setattr(profiles, "load_network",
                        lambda name, runtime: calls.append(("profile", name, runtime))
                        or "profile")
    monkeypatch.setattr(reading, "default_reader",
                        lambda: calls.append(("shipped",)) or "shipped")
    monkeypatch.setattr(loader, "default_runtime", lambda arch="lipnet": "onnx")
    monkeypatch.delenv(reading.WEIGHTS_ENV, raising=False)
    return calls


def test_each_name_goes_to_its_loader(loads, monkeypatch, tmp_path):
    assert readers.load_reader() == "shipped" and readers.load_reader("general") == "shipped"
    assert readers.load_reader(runtime="keras") == "network"
    assert readers.load_reader("alice") == "profile"
    readers.load_reader("alice", runtime="keras")
    readers.load_reader("runs/best.weights.h5")
    readers.load_reader(tmp_path / "x.weights.h5", runtime="onnx")  # a path, as a file
    readers.load_reader(arch="tutorial")
    readers.load_reader(arch="tutorial", runtime="keras")
    readers.load_reader("ckpt/checkpoint", arch="tutorial", runtime="keras")
    readers.load_reader("alice", arch="tutorial")  # only lipnet has profiles: a file
    monkeypatch.setenv(reading.WEIGHTS_ENV, "mine.weights.h5")
    readers.load_reader(runtime="onnx")
    assert loads == [
        ("shipped",), ("shipped",), ("network", "lipnet", None, "keras"),
        ("profile", "alice", "onnx"), ("profile", "alice", "keras"),
        ("network", "lipnet", "runs/best.weights.h5", None),
        ("network", "lipnet", str(tmp_path / "x.weights.h5"), "onnx"),
        ("network", "tutorial", None, None), ("network", "tutorial", None, "keras"),
        ("network", "tutorial", "ckpt/checkpoint", "keras"),
        ("network", "tutorial", "alice", None),
        ("network", "lipnet", "mine.weights.h5", "onnx")]


def test_a_profiles_name_reads_with_its_weights(tmp_path, monkeypatch, grid_dir, test_names):
    """A profile made of the shipped weights (its card the general reader's) reads a clip
    as the shipped reader does; a name with no profile says so."""
    import json
    import shutil

    from lipread import grid

    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path))
    folder = tmp_path / "alice"
    folder.mkdir()
    shutil.copy(loader.DEFAULT_WEIGHTS["lipnet"], folder / profiles.WEIGHTS_FILE)
    (folder / profiles.CARD_FILE).write_text(json.dumps({"name": "alice", "method": "full",
                                                          "tempo": 1.0}))
    clip = grid.video_path(grid_dir, test_names[0])
    alice = readers.load_reader("alice", runtime="keras")
    shipped = readers.load_reader(runtime="keras")
    np.testing.assert_allclose(reading.read(clip, alice).probs, reading.read(clip, shipped).probs,
                               atol=1e-5)
    with pytest.raises(profiles.ProfileError, match="bob"):
        readers.load_reader("bob")
