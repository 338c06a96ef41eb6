"""A damaged profile (its card's method not a known name, its tempo not a finite number in
range, JSON nested too deep, its weights a link to /dev/zero): `lipread predict` and
`lipread evaluate --profile NAME` end at once with one line naming the profile and exit
2; the read and Live pages say so without a server path. And profile names that could be
read as a flag (`--`) are refused where they are given.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lipread import grid
from lipread.model import loader

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = loader.DEFAULT_WEIGHTS["lipnet"]
NESTED = '{"method": "full", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
DAMAGED = {  # name: (the card's text, what the line says)
    "listed": (json.dumps({"method": ["full"]}), "method \"['full']\" is not one of"),
    "no-number": (json.dumps({"method": "full", "tempo": "nan"}), "tempo 'nan' is not a"),
    "infinite": ('{"method": "full", "tempo": Infinity}', "tempo 'inf' is not a number"),
    "too-fast": (json.dumps({"method": "full", "tempo": 1e9}), "from 0.5 to 2"),
    "nested": (NESTED, "nested too deep"),
    "endless": (json.dumps({"method": "full"}), "its weights are not a plain file"),
}


def make_profiles(root: Path) -> Path:
    for name, (text, _) in {**DAMAGED, "fine": (json.dumps({"method": "full"}), "")}.items():
        (root / name).mkdir(parents=True)
        (root / name / "profile.json").write_text(text)
        if name == "endless":
            (root / name / "reader.weights.h5").symlink_to("/dev/zero")
        else:
            shutil.copyfile(WEIGHTS, root / name / "reader.weights.h5")
    return root


@pytest.fixture(scope="module")
def profiles_dir(tmp_path_factory):
    return make_profiles(tmp_path_factory.mktemp("damaged") / "profiles")


def run(verb, *args, profiles_dir):
    return subprocess.run([sys.executable, "-m", "lipread", verb, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LIPREAD_PROFILES_DIR": str(profiles_dir)})


def one_line(proc, verb: str, name: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "onnxruntime" not in line]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"lipread {verb}: error: profile {name!r}: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_profile_is_one_line_naming_it(profiles_dir, grid_dir, test_names, name):
    proc = run("predict", grid.video_path(grid_dir, test_names[0]), "--profile", name,
               profiles_dir=profiles_dir)
    line = one_line(proc, "predict", name)
    assert DAMAGED[name][1] in line and str(profiles_dir) not in line


@pytest.mark.parametrize("name", ["listed", "endless"])
def test_evaluate_with_a_damaged_profile_is_one_line_naming_it(profiles_dir, grid_dir,
                                                               test_names, tmp_path, name):
    (tmp_path / "names.txt").write_text(f"{test_names[0]}\n")
    proc = run("evaluate", "--data-dir", grid_dir, "--names", tmp_path / "names.txt",
               "--profile", name, profiles_dir=profiles_dir)
    assert DAMAGED[name][1] in one_line(proc, "evaluate", name)


def test_a_sound_profile_beside_them_reads(profiles_dir, grid_dir, test_names):
    proc = run("predict", grid.video_path(grid_dir, test_names[0]), "--profile", "fine",
               profiles_dir=profiles_dir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("name", ["nested", "endless"])
def test_the_read_page_says_a_profile_is_damaged_without_a_path(profiles_dir, grid_dir,
                                                                monkeypatch, tmp_path, name):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(profiles_dir))
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.selectbox(key="reader").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    said = [e.value for e in at.error if f"The profile {name} can't be loaded" in e.value]
    assert len(said) == 1, [e.value for e in at.error]
    assert DAMAGED[name][1] in said[0]
    assert "/" not in said[0].split("can't be loaded:")[1], said[0]


def test_the_live_page_says_a_profile_is_damaged_without_a_path(profiles_dir, grid_dir,
                                                                monkeypatch, tmp_path,
                                                                webrtc_in_apptest):
    from conftest import open_page

    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(profiles_dir))
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    monkeypatch.delenv("LIPREAD_ICE_SERVERS", raising=False)
    at = open_page("views/live.py")
    at.selectbox(key="reader").set_value("too-fast").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [e.value for e in at.error if "The reader can't be loaded" in e.value]
    assert len(said) == 1, [e.value for e in at.error]
    assert "profile 'too-fast': not a profile card" in said[0] and "/" not in said[0]


@pytest.mark.parametrize("name", ["--", "-", "-x", "--force", "_a"])
def test_a_profile_name_starts_with_a_letter_or_digit(name):
    """A name the Teach page and `lipread enroll` take is never read as a flag later."""
    from lipread.enroll import profiles

    with pytest.raises(profiles.ProfileError, match="starting with a letter or digit"):
        profiles.check_name(name)


@pytest.mark.parametrize("name", ["a", "0", "bob-2", "a_", "9-x"])
def test_names_that_start_with_a_letter_or_digit_are_taken(name):
    from lipread.enroll import profiles

    assert profiles.check_name(name) == name
