"""lipread splits and protocols.py: LipNet's overlapped- and unseen-speaker splits and today's
s1 split, on a small corpus of three speakers (symlinks: 30 s1 clips of ../shared/grid,
and s26 and s31 of ../shared/others); and the lists they write, read by lipread evaluate and
lipread predict.
"""
from __future__ import annotations

import json
import random
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_ci

from lipread import grid, video
from lipread.corpus import protocols, zenodo

ROOT = Path(__file__).resolve().parents[1]
OTHERS_DIR = Path(os.environ.get("LIPREAD_OTHERS_DIR") or ROOT.parent / "shared" / "others")
OTHER_SPEAKERS = ("s26", "s31")
S1_CLIPS = 30


def link_clip(root: Path, source: Path, speaker: str, stem: str) -> None:
    """root/<speaker>/<stem>.<ext> and root/alignments/<speaker>/<stem>.align: symlinks."""
    video = grid.video_path(source, f"{speaker}/{stem}")
    for target, src in ((root / speaker / video.name, video),
                        (grid.alignment_path(root, f"{speaker}/{stem}"),
                         grid.alignment_path(source, f"{speaker}/{stem}"))):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(src.resolve())


def multi_speaker_corpus(root: Path, grid_dir: Path, s1_names) -> Path:
    """A corpus of s1 (the given clips), s26 and s31 (all ten of each), by symlinks."""
    if not all((OTHERS_DIR / s).is_dir() for s in OTHER_SPEAKERS):
        message = (f"{OTHERS_DIR} lacks {' or '.join(OTHER_SPEAKERS)} (../shared/others: two "
                   "more GRID speakers; set LIPREAD_OTHERS_DIR)")
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    for stem in s1_names:
        link_clip(root, grid_dir, "s1", stem)
    for speaker in OTHER_SPEAKERS:
        for name in grid.list_clips(OTHERS_DIR, [speaker]):
            link_clip(root, OTHERS_DIR, speaker, grid.split_name(name)[1])
    return root


@pytest.fixture(scope="module")
def corpus_dir(grid_dir, tmp_path_factory) -> Path:
    train = grid.read_names(grid_dir / "splits" / "train.txt")
    return multi_speaker_corpus(tmp_path_factory.mktemp("three"), grid_dir, train[:S1_CLIPS])


def run(verb, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lipread", verb, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def split_files(corpus_dir, tmp_path, protocol, *args) -> tuple[list[str], list[str], dict]:
    """(train names, test names, the JSON report) of one lipread splits run into tmp_path."""
    dest = tmp_path / f"{protocol}-{len(list(tmp_path.iterdir()))}"
    proc = run("splits", "--data-dir", corpus_dir, "--protocol", protocol, "--dest", dest,
               "--json", "-", *args)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    train, test = (grid.read_names(dest / f"{k}.txt") for k in ("train", "test"))
    assert report["files"] == {"train": str(dest / "train.txt"), "test": str(dest / "test.txt")}
    assert (report["train"], report["test"]) == (len(train), len(test))
    return train, test, report


def all_clips(corpus_dir) -> set[str]:
    return set(grid.list_clips(corpus_dir))


# --- the overlapped-speaker protocol -----------------------------------------------

def test_overlapped_is_fixed_by_seed_and_splits_every_clip_once(corpus_dir, tmp_path):
    train, test, report = split_files(corpus_dir, tmp_path, "overlapped",
                                      "--test-per-speaker", "3")
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(all_clips(corpus_dir))
    assert all("/" in n for n in train + test)  # several speakers: qualified names
    assert {grid.speaker_of(n) for n in test} == {"s1", "s26", "s31"}
    assert report["speakers"] == {
        "s1": {"clips": S1_CLIPS, "train": S1_CLIPS - 3, "test": 3, "unaligned": 0},
        "s26": {"clips": 10, "train": 7, "test": 3, "unaligned": 0},
        "s31": {"clips": 10, "train": 7, "test": 3, "unaligned": 0}}
    assert (report["seed"], report["test_per_speaker"]) == (0, 3)

    again = split_files(corpus_dir, tmp_path, "overlapped", "--test-per-speaker", "3")
    assert again[:2] == (train, test)
    other = split_files(corpus_dir, tmp_path, "overlapped", "--test-per-speaker", "3",
                        "--seed", "1")
    assert other[1] != test and len(other[1]) == len(test)
    assert sorted(other[0] + other[1]) == sorted(train + test)


def test_overlapped_draw_of_a_speaker_ignores_the_others(corpus_dir):
    everyone = protocols.make_split(corpus_dir, "overlapped", test_per_speaker=3)
    alone = protocols.make_split(corpus_dir, "overlapped", speakers=[26], test_per_speaker=3)
    assert alone.test == [n for n in everyone.test if n.startswith("s26/")]
    assert list(alone.speakers) == ["s26"]
    only_s1 = protocols.make_split(corpus_dir, "overlapped", speakers=[1], test_per_speaker=3)
    assert only_s1.test == [grid.split_name(n)[1] for n in everyone.test
                            if n.startswith("s1/")]  # s1 alone: bare names, same draw


def test_overlapped_takes_at_most_half_of_a_small_speaker(corpus_dir, tmp_path):
    _, test, report = split_files(corpus_dir, tmp_path, "overlapped")  # 255 asked for
    counts = {s: r["test"] for s, r in report["speakers"].items()}
    assert counts == {"s1": S1_CLIPS // 2, "s26": 5, "s31": 5}
    assert len(test) == sum(counts.values())
    assert any("s26: 10 clips, so 5 test clips" in n for n in report["notes"])


def test_only_clips_with_a_video_and_an_alignment(corpus_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus_dir, data, symlinks=True)
    lost = sorted((data / "alignments" / "s26").iterdir())[0]
    lost.unlink()
    (data / "alignments" / "s31" / "nosuchvideo.align").write_text("0 1 sil\n")
    split = protocols.make_split(data, "overlapped", test_per_speaker=3)
    names = split.train + split.test
    assert f"s26/{lost.stem}" not in names and "s31/nosuchvideo" not in names
    assert len(names) == len(all_clips(corpus_dir)) - 1
    assert split.speakers["s26"]["unaligned"] == 1
    assert any("s26: 1 videos without an alignment" in n for n in split.notes)


# --- the unseen-speaker protocol ---------------------------------------------------

def test_unseen_holds_s1_out_of_training(corpus_dir, tmp_path):
    train, test, report = split_files(corpus_dir, tmp_path, "unseen")
    assert report["held_out"] == ["s1"]
    assert {grid.speaker_of(n) for n in train} == {"s26", "s31"}
    assert {grid.speaker_of(n) for n in test} == {"s1"}
    assert sorted(test) == sorted(n for n in all_clips(corpus_dir) if n.startswith("s1/"))
    assert sorted(train + test) == sorted(all_clips(corpus_dir))
    assert any("s2, s20, s22 not there" in n for n in report["notes"])
    assert split_files(corpus_dir, tmp_path, "unseen")[:2] == (train, test)  # no randomness


def test_unseen_speakers_never_train(corpus_dir):
    split = protocols.unseen({"s1": ["a"], "s2": ["b"], "s3": ["c"], "s20": ["d"], "s22": ["e"],
                           "s34": ["f"]})
    assert split.train == ["s3/c", "s34/f"]
    assert split.test == ["s1/a", "s2/b", "s20/d", "s22/e"]
    assert not {grid.speaker_of(n) for n in split.train} & set(protocols.UNSEEN_SPEAKERS)


# --- today's s1 split ----------------------------------------------------------------

def test_s1_protocol_is_the_download_split(corpus_dir, tmp_path):
    train, test, report = split_files(corpus_dir, tmp_path, "s1")
    assert all("/" not in n for n in train + test)  # the tutorial's bare names
    mine = tmp_path / "mine"  # zenodo.write_splits itself, on an s1-only copy
    (mine / "alignments").mkdir(parents=True)
    shutil.copytree(corpus_dir / "s1", mine / "s1", symlinks=True)
    shutil.copytree(corpus_dir / "alignments" / "s1", mine / "alignments" / "s1", symlinks=True)
    assert zenodo.write_splits(mine) == (len(train), len(test))
    assert grid.read_names(mine / "splits" / "train.txt") == train
    assert grid.read_names(mine / "splits" / "test.txt") == test
    assert not (corpus_dir / "splits" / "train.txt").exists()  # DIR/splits/ left as it was


def test_s1_protocol_on_the_shared_data_is_its_split(grid_dir, tmp_path):
    split = protocols.make_split(grid_dir, "s1")
    assert split.test == grid.read_names(grid_dir / "splits" / "test.txt")
    assert sorted(split.train) == sorted(grid.read_names(grid_dir / "splits" / "train.txt"))


# --- the lists at the scripts --------------------------------------------------------

def test_default_destination_and_evaluate_reads_the_list(corpus_dir):
    proc = run("splits", "--data-dir", corpus_dir, "--protocol", "overlapped",
               "--test-per-speaker", "3")
    assert proc.returncode == 0, proc.stderr
    assert "overlapped: 41 train, 9 test clips of 3 speakers" in proc.stdout
    test = corpus_dir / "splits" / "overlapped" / "test.txt"
    assert len(grid.read_names(test)) == 9
    proc = run("evaluate", "--data-dir", corpus_dir, "--names", test, "--by-speaker",
               "--json", "-")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["clips"] == 9
    assert {s: r["clips"] for s, r in result["by_speaker"].items()} == {
        "s1": 3, "s26": 3, "s31": 3}
    assert [c["name"] for c in result["per_clip"]] == grid.read_names(test)
    for clip in result["per_clip"]:
        assert clip["truth"] == grid.load_sentence(grid.alignment_path(corpus_dir,
                                                                         clip["name"]))


def test_predict_reads_a_speaker_and_a_clip_name(corpus_dir, tmp_path):
    proc = run("predict", "--data-dir", corpus_dir, "--speakers", "s26", "s31/lgbj5a",
               "--json", "-")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)["results"]
    names = [r["name"] for r in results]
    assert names == ["s31/lgbj5a"] + [n for n in grid.list_clips(corpus_dir)
                                      if n.startswith("s26/")]
    for r in results:
        assert len(r["tokens"]) == video.N_FRAMES


# --- bad input -----------------------------------------------------------------------

def one_error(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lipread splits: error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("case, fragments", [
    ("no such data dir", ("nosuch", "no such data directory")),
    ("unseen without its speakers", ("held-out speakers", "s1, s2, s20, s22", "s26, s31")),
    ("unseen with only s1", ("nothing to train on",)),
    ("a speaker not there", ("s5", "none of the speakers")),
    ("a bad speaker", ("--speakers", "s40")),
    ("no test clips", ("--test-per-speaker", "must be 1 or more")),
    ("a protocol of its own", ("--protocol", "invalid choice")),
])
def test_bad_input(corpus_dir, tmp_path, case, fragments):
    args = {
        "no such data dir": ["--data-dir", tmp_path / "nosuch"],
        "unseen without its speakers": ["--protocol", "unseen", "--speakers", "s26,s31"],
        "unseen with only s1": ["--protocol", "unseen", "--speakers", "s1"],
        "a speaker not there": ["--speakers", "s5"],
        "a bad speaker": ["--speakers", "s40"],
        "no test clips": ["--test-per-speaker", "0"],
        "a protocol of its own": ["--protocol", "mine"],
    }[case]
    if "--data-dir" not in args:
        args = ["--data-dir", corpus_dir, *args]
    line = one_error(run("splits", *args, "--dest", tmp_path / "out"))
    for fragment in fragments:
        assert fragment in line, line
    assert not (tmp_path / "out").exists()


# --- the protocols on lists of names, directly -----------------------------------

def stems(n: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i:02d}" for i in range(n)]


def test_overlapped_draws_half_at_most_and_says_so():
    split = protocols.overlapped({"s1": stems(8), "s26": stems(3, "d")}, seed=4,
                                 test_per_speaker=2)
    assert split.protocol == "overlapped" and split.held_out == []
    assert split.speakers == {"s1": {"clips": 8, "train": 6, "test": 2},
                              "s26": {"clips": 3, "train": 2, "test": 1}}
    assert split.notes == ["s26: 3 clips, so 1 test clips (at most half of a speaker's "
                           "clips), not 2"]
    assert len(split.test) == 3 and len(split.train) == 8
    assert sorted(split.train + split.test) == sorted(
        [f"s1/{s}" for s in stems(8)] + [f"s26/{s}" for s in stems(3, "d")])
    assert split.train == sorted(n for n in split.train if n.startswith("s1/")) + sorted(
        n for n in split.train if n.startswith("s26/"))  # by speaker, in name order
    drawn = random.Random("4-s1").sample(stems(8), 2)
    assert sorted(n for n in split.test if n.startswith("s1/")) == sorted(
        f"s1/{s}" for s in drawn)


def test_overlapped_of_exactly_twice_the_asked_clips_says_nothing():
    split = protocols.overlapped({"s1": stems(6)}, test_per_speaker=3)
    assert split.notes == [] and len(split.test) == 3
    assert all("/" not in n for n in split.train + split.test)  # s1 alone: bare names
    odd = protocols.overlapped({"s1": stems(7)}, test_per_speaker=3)
    assert odd.notes == [] and len(odd.test) == 3 and len(odd.train) == 4


def test_unseen_tests_on_the_held_out_and_says_who_is_missing():
    split = protocols.unseen({"s3": stems(2), "s2": stems(3, "b"), "s9": stems(1, "z")})
    assert split.protocol == "unseen" and split.held_out == ["s2"]
    assert split.test == ["s2/b00", "s2/b01", "s2/b02"]
    assert split.train == ["s3/c00", "s3/c01", "s9/z00"]
    assert split.speakers == {"s3": {"clips": 2, "train": 2, "test": 0},
                              "s2": {"clips": 3, "train": 0, "test": 3},
                              "s9": {"clips": 1, "train": 1, "test": 0}}
    assert split.notes == ["held out: s2 (s1, s20, s22 not there)"]
    every = protocols.unseen({s: ["x"] for s in ("s1", "s2", "s20", "s22", "s5")})
    assert every.notes == [] and every.held_out == ["s1", "s2", "s20", "s22"]


def test_unseen_with_nothing_to_test_or_train_on_says_which():
    with pytest.raises(protocols.SplitError) as err:
        protocols.unseen({"s26": ["a"], "s27": ["b"], "s31": ["c"]})
    assert str(err.value) == ("none of the unseen-speaker protocol's held-out speakers (s1, "
                              "s2, s20, s22) is there (found s26-s27, s31): nothing to test on")
    with pytest.raises(protocols.SplitError) as err:
        protocols.unseen({"s1": ["a"], "s2": ["b"], "s22": ["c"]})
    assert str(err.value) == ("only held-out speakers (s1-s2, s22) are there: nothing to train "
                              "on (the unseen protocol trains on every other speaker)")


@pytest.mark.parametrize("speakers, said", [
    (["s2", "s3", "s4", "s7"], "s2-s4, s7"),
    (["s7", "s3", "s2"], "s2-s3, s7"),
    (["s10"], "s10"),
    (["s1", "s3", "s5"], "s1, s3, s5"),
    (["s9", "s10", "s11", "s20"], "s9-s11, s20"),
    ([], ""),
])
def test_speakers_are_named_in_ranges(speakers, said):
    assert protocols.speaker_range(speakers) == said


def fake_corpus(root: Path, layout: dict) -> Path:
    """root/sN/<stem>.mpg (empty) and, for stems in `layout[sN][1]`, their alignments."""
    for speaker, (videos, aligned) in layout.items():
        (root / speaker).mkdir(parents=True)
        (root / "alignments" / speaker).mkdir(parents=True)
        for stem in videos:
            (root / speaker / f"{stem}.mpg").write_bytes(b"")
        for stem in aligned:
            (root / "alignments" / speaker / f"{stem}.align").write_text("0 1 sil\n")
    return root


def test_the_speakers_chosen_are_those_there_and_the_rest_noted(tmp_path):
    root = fake_corpus(tmp_path / "d", {"s1": (["a"], ["a"]), "s3": (["b"], ["b"])})
    assert protocols.chosen_speakers(root) == (["s1", "s3"], [])
    assert protocols.chosen_speakers(root, [3]) == (["s3"], [])
    assert protocols.chosen_speakers(root, [1, 2, 3, 4, 9]) == (
        ["s1", "s3"], [f"not in {root}: s2, s4, s9"])
    with pytest.raises(protocols.SplitError) as err:
        protocols.chosen_speakers(root, [5, 6])
    assert str(err.value) == (f"{root}: none of the speakers asked for (s5-s6) is there "
                              "(it holds s1, s3)")
    with pytest.raises(protocols.SplitError) as err:
        protocols.chosen_speakers(tmp_path / "nosuch")
    assert str(err.value) == f"{tmp_path / 'nosuch'}: no such data directory"
    (tmp_path / "empty").mkdir()
    with pytest.raises(protocols.SplitError) as err:
        protocols.chosen_speakers(tmp_path / "empty")
    assert str(err.value) == (f"{tmp_path / 'empty'}: no speaker folders with videos "
                              "(expected sN/<name>.mpg and alignments/sN/<name>.align)")


def test_clips_without_an_alignment_are_counted_and_left_out(tmp_path):
    root = fake_corpus(tmp_path / "d", {"s1": (["a", "b", "c"], ["a", "c", "z"]),
                                        "s2": (["d"], [])})
    assert protocols.aligned_stems(root, "s1") == (["a", "c"], 1)
    clips, notes, unaligned = protocols.clips_by_speaker(root, ["s1", "s2"])
    assert clips == {"s1": ["a", "c"]} and unaligned == {"s1": 1, "s2": 1}
    assert notes == ["s1: 1 videos without an alignment; left out",
                     "s2: 1 videos without an alignment; left out",
                     "s2: no clip with an alignment; left out"]
    with pytest.raises(protocols.SplitError) as err:
        protocols.clips_by_speaker(root, ["s2"])
    assert str(err.value) == (f"{root}: no clips with alignments of s2 (expected "
                              "alignments/sN/<name>.align beside sN/<name>.mpg)")


def test_a_split_of_the_folder_carries_its_notes_and_unaligned_counts(tmp_path):
    root = fake_corpus(tmp_path / "d", {"s1": (stems(4), stems(4)[:3]),
                                        "s7": (stems(2), stems(2))})
    split = protocols.make_split(root, "overlapped", speakers=[1, 7, 8], test_per_speaker=1)
    assert split.notes == [f"not in {root}: s8", "s1: 1 videos without an alignment; left out"]
    assert split.speakers == {"s1": {"clips": 3, "train": 2, "test": 1, "unaligned": 1},
                              "s7": {"clips": 2, "train": 1, "test": 1, "unaligned": 0}}
    unseen = protocols.make_split(root, "unseen")
    assert unseen.test == ["s1/c00", "s1/c01", "s1/c02"] and unseen.protocol == "unseen"
    with pytest.raises(protocols.SplitError) as err:
        protocols.make_split(root, "random")
    assert str(err.value) == "no such protocol: 'random' (one of overlapped, unseen, s1)"
    with pytest.raises(protocols.SplitError) as err:
        protocols.make_split(root, "s1", speakers=[7])
    assert str(err.value) == "the s1 protocol splits speaker s1 only; --speakers leaves it out"


def test_the_s1_protocol_of_a_small_folder_is_a_seeded_tenth(tmp_path):
    root = fake_corpus(tmp_path / "d", {"s1": (stems(21), stems(20)), "s7": (["x"], ["x"])})
    split = protocols.make_split(root, "s1")
    assert split.protocol == "s1" and len(split.test) == 2 and len(split.train) == 18
    assert sorted(split.train + split.test) == stems(20)  # bare names, s7 left aside
    assert split.speakers == {"s1": {"clips": 20, "train": 18, "test": 2, "unaligned": 1}}
    assert split.notes == ["s1: 1 videos without an alignment; left out"]
    assert protocols.make_split(root, "s1", speakers=[1, 7]).test == split.test
    assert not (root / "splits").exists()  # written in a folder of its own, then read
