"""Vocabulary, alignments and video loading, on real GRID clips."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import utils


def test_vocabulary_is_the_tutorials():
    assert "".join(utils.VOCAB) == "abcdefghijklmnopqrstuvwxyz'?!123456789 "
    assert utils.ID_TO_CHAR[0] == "" and utils.NUM_CLASSES == 41 and utils.BLANK_ID == 40


def test_vocabulary_round_trip():
    text = "place green with x seven please"
    ids = utils.text_to_ids(text)
    assert all(0 < i < utils.BLANK_ID for i in ids)
    assert utils.ids_to_text(ids) == text
    # Padding (0) and the blank vanish; unknown characters map to the OOV id 0.
    assert utils.ids_to_text([0] + ids + [utils.BLANK_ID, 0]) == text
    assert utils.text_to_ids("a#b") == [1, 0, 2]


def test_string_lookups_agree_with_the_id_table():
    char_to_num, num_to_char = utils.string_lookups()
    assert char_to_num.vocabulary_size() == 40
    ids = char_to_num(list("bin blue")).numpy().tolist()
    assert ids == utils.text_to_ids("bin blue")
    back = [c.decode() for c in num_to_char(ids).numpy()]
    assert "".join(back) == "bin blue"


def test_alignments_drop_sil_and_sp_and_accept_crlf(tmp_path):
    path = tmp_path / "clip.align"
    path.write_bytes(b"0 23750 sil\r\n23750 29500 bin\r\n29500 31000 sp\r\n"
                     b"31000 34000 blue\r\n34000 35500 at\r\n35500 41000 f\r\n"
                     b"41000 47250 two\r\n47250 53000 now\r\n53000 74500 sil\r\n\r\n\n")
    assert utils.load_alignments(path) == ["bin", "blue", "at", "f", "two", "now"]
    assert utils.load_sentence(path) == "bin blue at f two now"


def test_real_alignment_with_sp(grid_dir):
    files = sorted((grid_dir / "alignments" / "s1").glob("*.align"))
    with_sp = [f for f in files if " sp" in f.read_text()]
    assert with_sp, "the README says 24 files contain sp"
    words = utils.load_alignments(with_sp[0])
    assert len(words) == 6 and "sp" not in words and "sil" not in words


@pytest.mark.parametrize("line", ["0 23750", "zero 100 bin", "100 50 bin", "0 1 2 3"])
def test_malformed_alignment_line_is_a_clear_error(tmp_path, line):
    path = tmp_path / "bad.align"
    path.write_text(f"0 23750 sil\n{line}\n")
    with pytest.raises(utils.AlignmentError, match=r"bad\.align: line 2"):
        utils.load_alignments(path)


def test_missing_alignment(tmp_path):
    with pytest.raises(utils.AlignmentError, match="no such alignment"):
        utils.load_alignments(tmp_path / "nope.align")


def _check_input(x):
    assert x.shape == (75, 46, 140, 1) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


def test_load_video_original_mpg(grid_dir, test_names):
    path = grid_dir / "s1" / f"{test_names[0]}.mpg"
    x = utils.load_video(path)
    _check_input(x)
    # The crop is the tutorial's: rows 190:236, columns 80:220 of the gray frame.
    import cv2
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[190:236, 80:220].astype(np.float32)
    raw = utils.load_mouth_frames(path)
    assert np.array_equal(raw[0], gray.astype(np.uint8))


def test_load_video_mp4(grid_dir):
    _check_input(utils.load_video(grid_dir / "s1" / "bbaf4p.mp4"))


def test_load_video_pads_a_74_frame_clip(grid_dir):
    path = utils.video_path(grid_dir, "lrae3s")
    assert len(utils.read_gray_frames(path)) == 74
    raw = utils.load_mouth_frames(path)
    assert raw.shape == (75, 46, 140)
    assert np.array_equal(raw[74], raw[73])  # the last frame held
    _check_input(utils.load_video(path))


def test_missing_video(tmp_path):
    with pytest.raises(utils.VideoError, match=r"nope\.mpg: no such file"):
        utils.load_video(tmp_path / "nope.mpg")


def test_empty_video(tmp_path):
    (tmp_path / "empty.mpg").write_bytes(b"")
    with pytest.raises(utils.VideoError, match=r"empty\.mpg: the file is empty"):
        utils.load_video(tmp_path / "empty.mpg")


def test_random_bytes_video(tmp_path):
    path = tmp_path / "noise.mpg"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(utils.VideoError, match=r"noise\.mpg: .*(decode|video)"):
        utils.load_video(path)


def test_truncated_video(grid_dir, test_names, tmp_path):
    source = grid_dir / "s1" / f"{test_names[0]}.mpg"
    data = source.read_bytes()
    path = tmp_path / "cut.mpg"
    path.write_bytes(data[: len(data) // 5])
    with pytest.raises(utils.VideoError, match=r"cut\.mpg: .*truncated"):
        utils.load_video(path)


def test_too_small_video(tmp_path):
    import imageio.v3 as iio
    frames = np.random.default_rng(0).integers(0, 255, (75, 128, 160, 3), dtype=np.uint8)
    path = tmp_path / "small.mp4"
    iio.imwrite(path, frames, fps=25)
    with pytest.raises(utils.VideoError, match=r"small\.mp4: frames are 160x128"):
        utils.load_video(path)


def test_data_dir_layout(grid_dir, tmp_path, monkeypatch):
    clips = utils.list_clips(grid_dir)
    assert len(clips) == 900 and clips == sorted(clips)
    assert utils.video_path(grid_dir, "bbaf2n").suffix == ".mpg"
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    assert utils.resolve_data_dir() == grid_dir
    assert utils.resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.delenv("LIPREAD_DATA_DIR")
    assert str(utils.resolve_data_dir()) == "data"
    assert utils.list_clips(tmp_path) == []
    with pytest.raises(utils.VideoError, match="no video for clip"):
        utils.video_path(tmp_path, "bbaf2n")


def test_names_files(tmp_path):
    (tmp_path / "names.txt").write_text("a1\n\n# comment\nb2  # why\n")
    assert utils.read_names(tmp_path / "names.txt") == ["a1", "b2"]
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="lists no clips"):
        utils.read_names(tmp_path / "empty.txt")
