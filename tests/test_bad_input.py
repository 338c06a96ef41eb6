"""Bad input at every entry point: lipread predict, evaluate, train and download.

Each verb runs as a user would run it (a subprocess, from the repository root) on
tiny data folders built from real GRID clips. Every case must end with a non-zero exit
status, one `lipread <verb>: error: ...` line per problem that names it, no traceback, and
nothing half-written left behind.

TensorFlow 2.21 prints a few absl lines at import ("All log messages before
absl::InitializeLog() ...", "I0000 ... cudart_stub.cc ...") whatever TF_CPP_MIN_LOG_LEVEL
says; the scripts silence them (cliutil.import_keras), so no other line is allowed.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lipread import grid, video

ROOT = Path(__file__).resolve().parents[1]
GOOD, OTHER = "bbaf2n", "bbal6n"  # real clips (the test split: MPEG-1 files)


def run(verb, *args, env=None) -> subprocess.CompletedProcess:
    """`lipread <verb> args` as a user runs it (python -m lipread)."""
    return subprocess.run([sys.executable, "-m", "lipread", verb, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


def errors(proc, verb, count=1) -> list[str]:
    """The error lines, after checking the exit status, the format and the count."""
    assert proc.returncode != 0, f"lipread {verb} exited 0:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    # (a good clip read with the untrained weights here is rightly noted as unreliable; their
    # first reading builds their ONNX export, said on its line)
    lines = [l for l in proc.stderr.splitlines()
             if l.strip() and not (": note: " in l and ": unreliable (" in l)
             and not l.startswith("preparing the reader once: ")]
    assert len(lines) == count, proc.stderr
    assert all(l.startswith(f"lipread {verb}: error: ") for l in lines), proc.stderr
    return lines


def assert_names(line, *fragments):
    for fragment in fragments:
        assert fragment.lower() in line.lower(), line


# --- bad files and folders, built once ---------------------------------------

def _data_dir(root: Path, videos: dict[str, bytes | Path], alignments: dict[str, str | Path],
              train=None) -> Path:
    (root / grid.SPEAKER).mkdir(parents=True)
    (root / "alignments" / grid.SPEAKER).mkdir(parents=True)
    for name, content in videos.items():
        target = root / grid.SPEAKER / name
        if isinstance(content, Path):
            target.symlink_to(content)
        else:
            target.write_bytes(content)
    for name, content in alignments.items():
        target = grid.alignment_path(root, name)
        if isinstance(content, Path):
            target.symlink_to(content)
        else:
            target.write_text(content)
    if train is not None:
        (root / "splits").mkdir()
        (root / "splits" / "train.txt").write_text("".join(f"{n}\n" for n in train))
    return root


@pytest.fixture(scope="module")
def bad(grid_dir, tmp_path_factory):
    """Named bad inputs: files, data folders, and a weights file for the network."""
    root = tmp_path_factory.mktemp("bad")
    good_video = grid.video_path(grid_dir, GOOD)
    other_video = grid.video_path(grid_dir, OTHER)
    good_align = grid.alignment_path(grid_dir, GOOD)
    other_align = grid.alignment_path(grid_dir, OTHER)
    video_bytes = good_video.read_bytes()
    noise = random.Random(0).randbytes(200_000)
    truncated = video_bytes[: len(video_bytes) // 8]  # a download cut short: ~12 frames
    garbled = good_align.read_text().splitlines()
    garbled.insert(2, "this line is garbage")

    f = {"root": root}
    f["good"] = good_video
    f["truncated"] = root / "truncated.mpg"
    f["truncated"].write_bytes(truncated)
    f["noise"] = root / "noise.mpg"
    f["noise"].write_bytes(noise)
    f["text"] = root / "notes.txt"
    f["text"].write_text("not a video\n")
    f["image"] = root / "photo.mpg"  # a PNG named as a video
    import cv2

    f["image"].write_bytes(cv2.imencode(".png", video.read_clip(good_video).frames[0])[1].tobytes())
    f["binary_names"] = root / "binary_names.txt"
    f["binary_names"].write_bytes(b"bbaf2n\n\x00\x01\xff\xfe garbage\n")
    f["windows_names"] = root / "windows_names.txt"  # BOM, CRLF, blank lines: all fine
    f["windows_names"].write_bytes(f"\ufeff{GOOD}\r\n\r\n{OTHER}\r\n".encode())
    f["other_net"] = root / "other.weights.h5"  # weights of another network
    import keras

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other.save_weights(f["other_net"])
    f["empty_dir"] = root / "empty_dir"
    f["empty_dir"].mkdir()
    f["a_file"] = root / "a_file"
    f["a_file"].write_text("a file, where a folder should be\n")
    f["empty_names"] = root / "empty_names.txt"
    f["empty_names"].write_text("# nothing but a comment\n\n")
    f["one_name"] = root / "one_name.txt"
    f["one_name"].write_text(f"{GOOD}\n")
    f["missing_names"] = root / "missing_names.txt"
    f["missing_names"].write_text(f"{GOOD}\nnosuch\n")

    f["no_videos"] = _data_dir(root / "no_videos", {"readme.txt": b"no video here\n"},
                               {GOOD: good_align})
    f["garbled_data"] = _data_dir(root / "garbled_data",
                                  {f"{GOOD}{good_video.suffix}": good_video,
                                   f"{OTHER}{other_video.suffix}": other_video},
                                  {GOOD: "\n".join(garbled) + "\n", OTHER: other_align},
                                  train=[GOOD, OTHER])
    f["good_data"] = _data_dir(root / "good_data",
                               {f"{GOOD}{good_video.suffix}": good_video,
                                f"{OTHER}{other_video.suffix}": other_video},
                               {GOOD: good_align, OTHER: other_align}, train=[GOOD, OTHER])
    f["truncated_data"] = _data_dir(root / "truncated_data", {f"{GOOD}.mpg": truncated},
                                    {GOOD: good_align})
    f["noise_data"] = _data_dir(root / "noise_data", {f"{GOOD}.mpg": noise},
                                {GOOD: good_align})

    # The sweep brings its own weights: random ones do for bad input, and it keeps the
    # sweep independent of the shipped file.
    from lipread.model import networks

    f["weights"] = root / "random.weights.h5"
    networks.build_lipnet().save_weights(f["weights"])
    return f


# --- lipread predict ---------------------------------------------------------------

def test_predict_missing_file_and_directory(bad):
    proc = run("predict", bad["root"] / "missing.mpg", bad["empty_dir"],
               "--weights", bad["weights"])
    missing, directory = errors(proc, "predict", count=2)
    assert_names(missing, "missing.mpg", "no such file")
    assert_names(directory, "empty_dir", "is a directory")


def test_predict_bad_videos_beside_a_good_one(bad):
    """One run: each bad video gets its line, the good one still gets its sentence."""
    proc = run("predict", bad["truncated"], bad["noise"], bad["text"], bad["good"],
               "--weights", bad["weights"])
    lines = errors(proc, "predict", count=3)
    # What is no video is refused from its first bytes, before the network loads; the
    # truncated video when it is decoded.
    noise, text, truncated = (next(l for l in lines if name in l)
                              for name in ("noise.mpg", "notes.txt", "truncated.mpg"))
    assert lines.index(truncated) == 2
    assert_names(truncated, "truncated.mpg", "truncated")
    assert_names(noise, "noise.mpg", "not a video")
    assert_names(text, "notes.txt", "not a video")
    assert str(bad["good"]) in proc.stdout


def test_each_error_gives_its_advice_once(tmp_path):
    """A text file named .mpg: one line, what it is, and what to do said once; a caller
    with advice of its own (the page) takes the message without it."""
    from lipread import formats

    fake = tmp_path / "x.mpg"
    fake.write_text("hi\n")
    (line,) = errors(run("predict", fake), "predict")
    assert line == f"lipread predict: error: {fake}: a text file, not a video: {formats.GIVE}"
    assert line.count("give a video") == 1
    assert formats.without_advice(line.split(": error: ", 1)[1]) == \
        f"{fake}: a text file, not a video"


@pytest.mark.parametrize("said, less", [
    ("x.ts: an MPEG transport stream, which is not read: re-encode it as mp4; or {GIVE}",
     "x.ts: an MPEG transport stream, which is not read: re-encode it as mp4"),
    ("x.h264: a raw video stream without a container, which is not read; {GIVE}",
     "x.h264: a raw video stream without a container, which is not read"),
    ("x.png: an image (PNG), not a video: {GIVE}", "x.png: an image (PNG), not a video"),
    ("x.mp4: truncated; decoding stopped", "x.mp4: truncated; decoding stopped"),
])
def test_a_message_less_its_advice_keeps_the_rest_whole(said, less):
    """Each way a message joins its advice on (": ", "; ", "; or ") comes off whole; a
    message without the advice is left as it is."""
    from lipread import formats

    assert formats.without_advice(said.format(GIVE=formats.GIVE)) == less


def test_predict_clip_names_and_speakers_of_the_data(bad):
    """Clip names of --data-dir beside a file, and --speakers: every clip, each once."""
    proc = run("predict", "--data-dir", bad["good_data"], OTHER, bad["good"],
               "--speakers", "s1", "--weights", bad["weights"], "--json", "-")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["name"] for r in results] == [OTHER, str(bad["good"]), GOOD]


def test_predict_missing_weights(bad):
    proc = run("predict", bad["good"], "--weights", bad["root"] / "nope.weights.h5")
    assert_names(errors(proc, "predict")[0], "nope.weights.h5", "no such weights file")


@pytest.mark.parametrize("case, fragments", [
    ("an image named as a video", ("photo.mpg", "an image (PNG), not a video")),
    ("weights that are a directory", ("empty_dir", "is a directory")),
    ("another network's weights", ("other.weights.h5", "does not fit the lipnet network")),
    ("the tutorial without its checkpoint", ("checkpoint", "make checkpoint")),
    ("a negative start", ("--start", "must be 0 or more")),
    ("a start past the end of a clip", ("nothing from 9 s on",)),
    ("an unknown crop", ("--crop", "invalid choice")),
    ("neither videos nor speakers", ("give video files", "--speakers")),
    ("a speaker outside GRID", ("--speakers", "s40", "s1 to s34")),
    ("a speaker not in the data", ("--speakers s26", "none of them", "holds s1")),
    ("speakers of no data folder", ("nosuch_dir", "no such data directory")),
    ("a clip name not in the data", ("s26/lgbj5a", "nor a clip of", "s26/lgbj5a.*")),
])
def test_predict_bad_input(bad, case, fragments):
    args = {
        "an image named as a video": [bad["image"], "--weights", bad["weights"]],
        "weights that are a directory": [bad["good"], "--weights", bad["empty_dir"]],
        "another network's weights": [bad["good"], "--weights", bad["other_net"]],
        "the tutorial without its checkpoint": [bad["good"], "--arch", "tutorial", "--weights",
                                                bad["root"] / "checkpoint"],
        "a negative start": [bad["good"], "--start", "-1"],
        "a start past the end of a clip": [bad["good"], "--start", "9",
                                           "--weights", bad["weights"]],
        "an unknown crop": [bad["good"], "--crop", "nose"],
        "neither videos nor speakers": ["--data-dir", bad["good_data"]],
        "a speaker outside GRID": ["--data-dir", bad["good_data"], "--speakers", "s40"],
        "a speaker not in the data": ["--data-dir", bad["good_data"], "--speakers", "s26"],
        "speakers of no data folder": ["--data-dir", bad["root"] / "nosuch_dir",
                                       "--speakers", "s1"],
        "a clip name not in the data": ["--data-dir", bad["good_data"], "s26/lgbj5a"],
    }[case]
    proc = run("predict", *args, "--json", bad["root"] / "out.json")
    assert proc.returncode == 2
    assert_names(errors(proc, "predict")[0], *fragments)
    assert not (bad["root"] / "out.json").exists()


def test_names_files_with_bom_crlf_blank_lines_or_binary(bad, tmp_path):
    out = tmp_path / "result.json"
    proc = run("evaluate", "--data-dir", bad["good_data"], "--names", bad["windows_names"],
               "--weights", bad["weights"], "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert [c["name"] for c in json.loads(out.read_text())["per_clip"]] == [GOOD, OTHER]
    proc = run("evaluate", "--data-dir", bad["good_data"], "--names", bad["binary_names"],
               "--weights", bad["weights"])
    assert_names(errors(proc, "evaluate")[0], "binary_names.txt", "not a text file")


@pytest.mark.parametrize("flag, value, fragments", [
    ("--batch-size", "-1", ("--batch-size", "must be 1 or more")),
    ("--batch-size", "0", ("--batch-size", "must be 1 or more")),
    ("--batch-size", "many", ("--batch-size", "not an integer")),
    ("--crop", "nose", ("--crop", "invalid choice")),
])
def test_evaluate_numeric_flags(bad, tmp_path, flag, value, fragments):
    proc = run("evaluate", "--data-dir", bad["good_data"], flag, value,
               "--json", tmp_path / "result.json")
    assert proc.returncode == 2
    assert_names(errors(proc, "evaluate")[0], *fragments)
    assert list(tmp_path.iterdir()) == []


# --- lipread evaluate --------------------------------------------------------------

@pytest.mark.parametrize("case, fragments", [
    ("missing data dir", ("no such data directory",)),
    ("no videos", ("no clips with alignments",)),
    ("empty names", ("empty_names.txt", "lists no clips")),
    ("names of missing clips", ("nosuch", "no alignment")),
    ("garbled alignment", (f"{GOOD}.align", "line 3", "this line is garbage")),
    ("output under a file", ("a_file", "is not a folder")),
    ("output is a folder", ("empty_dir", "is a folder")),
])
def test_evaluate_fails_fast(bad, tmp_path, case, fragments):
    """Every one of these fails before the network loads."""
    out = tmp_path / "result.json"
    args = {
        "missing data dir": ["--data-dir", bad["root"] / "nowhere"],
        "no videos": ["--data-dir", bad["no_videos"]],
        "empty names": ["--data-dir", bad["good_data"], "--names", bad["empty_names"]],
        "names of missing clips": ["--data-dir", bad["good_data"],
                                   "--names", bad["missing_names"]],
        "garbled alignment": ["--data-dir", bad["garbled_data"]],
        "output under a file": ["--data-dir", bad["good_data"],
                                "--json", bad["a_file"] / "result.json"],
        "output is a folder": ["--data-dir", bad["good_data"], "--json", bad["empty_dir"]],
    }[case]
    if "--json" not in args:
        args += ["--json", out]
    proc = run("evaluate", *args, "--weights", bad["weights"])
    assert_names(errors(proc, "evaluate")[0], *fragments)
    assert list(tmp_path.iterdir()) == []  # no result, no result.json.partial
    assert list(bad["empty_dir"].iterdir()) == []


@pytest.mark.parametrize("data, fragments", [
    ("truncated_data", (f"{GOOD}.mpg", "truncated")),
    ("noise_data", (f"{GOOD}.mpg", "not a video")),
])
def test_evaluate_bad_video(bad, tmp_path, data, fragments):
    proc = run("evaluate", "--data-dir", bad[data], "--weights", bad["weights"],
               "--json", tmp_path / "result.json")
    assert_names(errors(proc, "evaluate")[0], *fragments)
    assert list(tmp_path.iterdir()) == []


# --- lipread train -----------------------------------------------------------------

@pytest.mark.parametrize("case, fragments", [
    ("missing data dir", ("nowhere", "no such names file")),
    ("empty names", ("empty_names.txt", "lists no clips")),
    ("one clip", ("one_name.txt", "too few")),
    ("names of missing clips", ("nosuch.align", "no such alignment file")),
    ("garbled alignment", (f"{GOOD}.align", "line 3", "this line is garbage")),
    ("run dir under a file", ("a_file",)),
    ("batch size 0", ("--batch-size", "must be 1 or more")),
    ("epochs 0", ("--epochs", "must be 1 or more")),
    ("limit 0", ("--limit", "must be 1 or more")),
    ("an unknown crop", ("--crop", "invalid choice")),
    ("json under a file", ("a_file", "is not a folder")),
    ("init weights a directory", ("--init-weights", "empty_dir", "is a directory")),
    ("init weights of another network", ("other.weights.h5", "not lipnet weights")),
    ("binary names", ("binary_names.txt", "not a text file")),
    ("teacher a directory", ("--teacher", "empty_dir", "is a directory")),
    ("teacher of another network", ("other.weights.h5", "does not fit the lipnet network")),
    ("mixup over 1", ("--mixup",)),
    ("an unknown speaker", ("s99", "s1 to s34")),
    ("an unknown strategy", ("--strategy", "invalid choice")),
    ("loader threads 0", ("--loader-threads", "must be 1 or more")),
    ("a negative validation seed", ("--val-seed",)),
    ("gru units 0", ("--gru-units", "must be 1 or more")),
])
def test_train_fails_before_training(bad, tmp_path, case, fragments):
    run_dir = tmp_path / "run"
    cache = tmp_path / "cache"
    args = {
        "missing data dir": ["--data-dir", bad["root"] / "nowhere"],
        "empty names": ["--data-dir", bad["good_data"], "--names", bad["empty_names"]],
        "one clip": ["--data-dir", bad["good_data"], "--names", bad["one_name"]],
        "names of missing clips": ["--data-dir", bad["good_data"],
                                   "--names", bad["missing_names"]],
        "garbled alignment": ["--data-dir", bad["garbled_data"]],
        "run dir under a file": ["--data-dir", bad["good_data"]],
        "batch size 0": ["--data-dir", bad["good_data"], "--batch-size", 0],
        "epochs 0": ["--data-dir", bad["good_data"], "--epochs", 0],
        "limit 0": ["--data-dir", bad["good_data"], "--limit", 0],
        "an unknown crop": ["--data-dir", bad["good_data"], "--crop", "nose"],
        "json under a file": ["--data-dir", bad["good_data"], "--json",
                              bad["a_file"] / "run.json"],
        "init weights a directory": ["--data-dir", bad["good_data"],
                                     "--init-weights", bad["empty_dir"]],
        "init weights of another network": ["--data-dir", bad["good_data"],
                                            "--init-weights", bad["other_net"]],
        "binary names": ["--data-dir", bad["good_data"], "--names", bad["binary_names"]],
        "teacher a directory": ["--data-dir", bad["good_data"], "--teacher", bad["empty_dir"]],
        "teacher of another network": ["--data-dir", bad["good_data"],
                                       "--teacher", bad["other_net"]],
        "mixup over 1": ["--data-dir", bad["good_data"], "--mixup", 1.5],
        "an unknown speaker": ["--data-dir", bad["good_data"], "--speakers", "s99"],
        "an unknown strategy": ["--data-dir", bad["good_data"], "--strategy", "ring"],
        "loader threads 0": ["--data-dir", bad["good_data"], "--loader-threads", 0],
        "a negative validation seed": ["--data-dir", bad["good_data"], "--val-seed", -1],
        "gru units 0": ["--data-dir", bad["good_data"], "--gru-units", 0],
    }[case]
    if case == "run dir under a file":
        run_dir = bad["a_file"] / "run"
    if "--epochs" not in args:
        args += ["--epochs", 1]
    proc = run("train", *args, "--run-dir", run_dir, "--cache-dir", cache, "--verbose", 2)
    assert_names(errors(proc, "train")[0], *fragments)
    assert not run_dir.exists()  # no run folder, no val.txt, no weights
    leftovers = [p.name for p in cache.glob("*")] if cache.exists() else []
    assert not [n for n in leftovers if ".tmp" in n], leftovers  # no half-written cache


# --- lipread download --------------------------------------------------------------

@pytest.mark.parametrize("case, fragments", [
    ("dest under a file", ("a_file", "is not a folder")),
    ("missing zip", ("nope.zip", "no such file")),
    ("a video named .zip", ("not a zip archive",)),
    ("a text file for a zip", ("notes.txt", "not a zip archive")),
])
def test_download_bad_input(bad, tmp_path, case, fragments):
    fake_zip = tmp_path / "video.zip"
    shutil.copyfile(bad["good"], fake_zip)
    dest = tmp_path / "data"
    args = {
        "dest under a file": ["--dest", bad["a_file"] / "data", "--zip", fake_zip],
        "missing zip": ["--dest", dest, "--zip", tmp_path / "nope.zip"],
        "a video named .zip": ["--dest", dest, "--zip", fake_zip],
        "a text file for a zip": ["--dest", dest, "--zip", bad["text"]],
    }[case]
    proc = run("download", "data", *args)
    assert_names(errors(proc, "download")[0], *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.zip"]  # no data/, no temp


# Each flag type's edges (lipread/cli/flagtypes.py): what it takes, as an int or a float, and
# what it refuses, the boundary itself included (a fraction of 1 would leave no training
# clips), each with the words the user reads.
RANGES = {"fraction": "from 0 up to (not including) 1", "probability": "from 0 to 1",
          "positive": "more than 0", "non_negative": "0 or more", "positive_int": "1 or more",
          "non_negative_int": "0 or more"}
FLAG_TYPES = {  # kind: (its type, good texts, bad texts)
    "fraction": (float, ["0", "0.5", "0.999"], ["1", "1.0", "-0.1", "nan", "inf", "x"]),
    "probability": (float, ["0", "1", "0.25"], ["1.01", "-0.01", "nan", "x"]),
    "positive": (float, ["0.001", "3"], ["0", "-1", "inf", "x"]),
    "non_negative": (float, ["0", "2.5"], ["-0.001", "nan", "x"]),
    "positive_int": (int, ["1", "32"], ["0", "-3", "1.5", "x"]),
    "non_negative_int": (int, ["0", "7"], ["-1", "2.0", "x"]),
}


def said_of(kind: str, text: str) -> str:
    """What a flag of `kind` says of the bad `text`."""
    number_type = FLAG_TYPES[kind][0]
    try:
        value = number_type(text)
    except ValueError:
        return f"not {'an integer' if number_type is int else 'a number'}: {text!r}"
    if value != value or value in (float("inf"), float("-inf")):
        return f"not a finite number: {text!r}"
    return f"must be {RANGES[kind]}, not {text}"


@pytest.mark.parametrize("kind", sorted(FLAG_TYPES))
def test_flag_types_take_their_range_and_refuse_its_edges(kind):
    import argparse

    from lipread.cli import common

    convert = getattr(common, kind)
    number_type, good, bad = FLAG_TYPES[kind]
    for text in good:
        value = convert(text)
        assert type(value) is number_type and value == float(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            convert(text)
        assert str(refused.value) == said_of(kind, text)


def test_train_refuses_a_validation_fraction_of_one(tmp_path):
    proc = run("train", "--data-dir", tmp_path, "--val-fraction", "1")
    assert proc.returncode == 2
    [line] = errors(proc, "train")
    assert "--val-fraction" in line and "from 0 up to (not including) 1, not 1" in line, line
