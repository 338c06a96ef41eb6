"""What training loads (dataset.load_clip_arrays, label_ids, split_validation): crops,
labels and frame words, the clips it skips and why."""
from __future__ import annotations

import numpy as np
import pytest

from lipread.training import cropstore


@pytest.fixture(scope="module")
def small_corpus(grid_dir, test_names, tmp_path_factory):
    """Two s1 test clips and bbbbzz, whose video is random bytes under a valid alignment."""
    from lipread import grid
    root = tmp_path_factory.mktemp("small") / "grid"
    (root / "s1").mkdir(parents=True)
    (root / "alignments" / "s1").mkdir(parents=True)
    for name in test_names[:2]:
        video = grid.video_path(grid_dir, name)
        (root / "s1" / video.name).symlink_to(video)
        grid.alignment_path(root, name).symlink_to(grid.alignment_path(grid_dir, name))
    (root / "s1" / "bbbbzz.mpg").write_bytes(np.random.default_rng(0).bytes(4096))
    grid.alignment_path(root, "bbbbzz").write_text(
        grid.alignment_path(grid_dir, test_names[0]).read_text())
    return root


def test_training_loads_crops_labels_and_frame_words_and_says_what_it_skipped(
        small_corpus, test_names, tmp_path, capsys):
    from lipread import grid
    from lipread.training import cropstore, dataset
    names = [*test_names[:2], "bbbbzz"]
    said = []
    frames, labels, words = got = dataset.load_clip_arrays(small_corpus, names,
                                                           tmp_path / "cache", log=said.append)
    out = capsys.readouterr()
    assert got.names == test_names[:2] and list(got.failures) == ["bbbbzz"]
    assert isinstance(frames, np.ndarray) and frames.shape == (2, *cropstore.CLIP_SHAPE)
    for i, name in enumerate(test_names[:2]):
        segments = dataset.load_alignment_segments(grid.alignment_path(small_corpus, name))
        spoken = [w for _, _, w in segments if w not in grid.SILENCE_TOKENS]
        assert grid.ids_to_text(labels[i]) == " ".join(spoken)  # no sil, no sp
        np.testing.assert_array_equal(words[i], dataset.frame_word_targets(segments))
    # the report: beside the crops, named for the clips asked for (12 hex digits)
    report = got.report
    assert report.parent == cropstore.cache_root(small_corpus, tmp_path / "cache", "landmarks")
    assert report.name.startswith("skipped-") and len(report.stem) == len("skipped-") + 12
    assert cropstore.read_report(report) == got.failures
    assert [p.name for p in report.parent.glob("*.tsv")] == [report.name]  # none other
    head = [line for line in report.read_text().splitlines() if line.startswith("# ")]
    assert head[0].startswith(f"# crop cache {report.parent} (landmarks crops of ")
    assert "3 clips: 2 cached (2 new), 1 skipped" in head[1]
    assert said[-1] == (f"skipped 1 of 3 clips whose video can't be read (e.g. bbbbzz); the "
                        f"reasons are in {report}")
    assert any("crop" in line for line in said[:-1])  # the cache's own lines, to the log
    assert out.err == "" and "clips/s" in out.out  # progress off a terminal: on stdout
    # other clips asked for: another report; the same ones: the same report
    again = dataset.load_clip_arrays(small_corpus, names[1:], tmp_path / "cache", log=None)
    assert again.report.parent == report.parent and again.report != report
    assert dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache",
                                    log=None).report == report
    dataset.load_clip_arrays(small_corpus, names, tmp_path / "fresh", log=None)  # crops cut
    assert capsys.readouterr() == ("", "")  # log None: silent, bar and all
    mine = dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache", log=None,
                                    report=tmp_path / "mine.tsv", lazy=True)
    assert mine.report == tmp_path / "mine.tsv" and cropstore.read_report(mine.report)
    assert isinstance(mine.frames, cropstore.ClipStore)
    np.testing.assert_array_equal(mine.frames[1], frames[1])


def test_training_shows_a_live_bar_on_a_terminal(small_corpus, test_names, tmp_path,
                                                 monkeypatch, capsys):
    import io
    import sys

    from lipread.training import dataset

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    dataset.load_clip_arrays(small_corpus, test_names[:1], tmp_path / "cache", log=[].append)
    assert "clips/s" in terminal.getvalue() and "clips/s" not in capsys.readouterr().out


@pytest.mark.parametrize("names, crop, says", [
    ([], "landmarks", "no clips to load"),
    (["bbbbzz"], "mouth", "crop must be one of "),
    (["bbbbzz"], "landmarks", "none of the 1 clips could be read: "),
])
def test_training_refuses_nothing_to_load_an_unknown_crop_and_no_readable_clip(
        small_corpus, tmp_path, names, crop, says):
    from lipread.training import dataset
    from lipread.video import CROPS
    with pytest.raises(ValueError) as err:
        dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache", log=None, crop=crop)
    assert str(err.value).startswith(says)
    if crop == "mouth":
        assert str(err.value) == f"crop must be one of {', '.join(CROPS)}, not 'mouth'"
    if names and crop == "landmarks":
        assert "bbbbzz.mpg" in str(err.value) and "(all reasons: " in str(err.value)
        assert str(err.value).endswith(".tsv)")


def test_the_validation_slice_is_a_seeded_tenth_of_the_training_clips_at_least_one():
    from lipread.training import dataset
    names = [f"c{i:03d}" for i in range(50)]
    train, val = dataset.split_validation(list(reversed(names)), 0.1, seed=3)
    assert len(val) == 5 and sorted(train + val) == names
    assert train == sorted(train) and val == sorted(val)
    assert dataset.split_validation(names, 0.1, seed=3) == (train, val)  # whatever the order
    assert dataset.split_validation(names, 0.1, seed=4)[1] != val
    assert len(dataset.split_validation(names[:3], 0.1)[1]) == 1  # at least one
    assert len(dataset.split_validation(names, 0.25)[1]) == 12  # 12.5 rounds to even
    assert len(dataset.split_validation(names, 0.23)[1]) == 12  # 11.5 too
    assert dataset.split_validation(names) == dataset.split_validation(names, 0.1, 0)


def test_a_label_is_its_sentences_character_ids_padded_to_40_and_refused_past_40():
    from lipread import grid
    from lipread.training import dataset
    label = dataset.label_ids(["bin", "blue"])
    assert label.dtype == np.int32 and label.shape == (40,)
    assert grid.ids_to_text(label) == "bin blue" and not label[8:].any()
    forty = ["abcdefghij"] * 3 + ["abcdefg"]  # 37 letters, 3 spaces
    assert len(" ".join(forty)) == 40 and len(dataset.label_ids(forty)) == 40
    with pytest.raises(ValueError) as err:
        dataset.label_ids(forty + ["a"])
    assert str(err.value) == f"sentence longer than 40 characters: {forty + ['a']}"
