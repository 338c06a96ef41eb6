"""Vocabulary, alignments and video loading, on real GRID clips."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from lipread import grid, video


def test_vocabulary_is_the_tutorials():
    assert "".join(grid.VOCAB) == "abcdefghijklmnopqrstuvwxyz'?!123456789 "
    assert grid.ID_TO_CHAR[0] == "" and grid.NUM_CLASSES == 41 and grid.BLANK_ID == 40


def test_vocabulary_round_trip():
    text = "place green with x seven please"
    ids = grid.text_to_ids(text)
    assert all(0 < i < grid.BLANK_ID for i in ids)
    assert grid.ids_to_text(ids) == text
    # Padding (0) and the blank vanish; unknown characters map to the OOV id 0.
    assert grid.ids_to_text([0] + ids + [grid.BLANK_ID, 0]) == text
    assert grid.text_to_ids("a#b") == [1, 0, 2]


def test_string_lookups_agree_with_the_id_table():
    char_to_num, num_to_char = grid.string_lookups()
    assert char_to_num.vocabulary_size() == 40
    ids = char_to_num(list("bin blue")).numpy().tolist()
    assert ids == grid.text_to_ids("bin blue")
    back = [c.decode() for c in num_to_char(ids).numpy()]
    assert "".join(back) == "bin blue"


def test_alignments_drop_sil_and_sp_and_accept_crlf(tmp_path):
    path = tmp_path / "clip.align"
    path.write_bytes(b"0 23750 sil\r\n23750 29500 bin\r\n29500 31000 sp\r\n"
                     b"31000 34000 blue\r\n34000 35500 at\r\n35500 41000 f\r\n"
                     b"41000 47250 two\r\n47250 53000 now\r\n53000 74500 sil\r\n\r\n\n")
    assert grid.load_alignments(path) == ["bin", "blue", "at", "f", "two", "now"]
    assert grid.load_sentence(path) == "bin blue at f two now"


def test_real_alignments_drop_sil_and_sp(grid_dir):
    """Every alignment of the folder reads as a six-word GRID sentence, sp files too."""
    files = sorted((grid_dir / "alignments" / "s1").glob("*.align"))
    assert files
    with_sp = [f for f in files if " sp" in f.read_text()]
    # GRID s1 has 24 such files, 3 of them (brbg2n, prap6p, sgac4p) in the test split.
    assert with_sp, f"no alignment in {grid_dir / 'alignments' / 's1'} has an sp token"
    for f in files:
        words = grid.load_alignments(f)
        assert len(words) == 6 and not {"sp", "sil"} & set(words), (f, words)
        assert all(w in slot for w, slot in zip(words, grid.GRID_SLOTS)), (f, words)


@pytest.mark.parametrize("line", ["0 23750", "zero 100 bin", "100 50 bin", "0 1 2 3"])
def test_malformed_alignment_line_is_a_clear_error(tmp_path, line):
    path = tmp_path / "bad.align"
    path.write_text(f"0 23750 sil\n{line}\n")
    with pytest.raises(grid.AlignmentError, match=r"bad\.align: line 2"):
        grid.load_alignments(path)


def test_an_alignment_says_each_word_and_silence_in_frames(tmp_path):
    """Times are in thousandths of a frame at 25 fps; words are read in lower case; a
    word may last no time, never less."""
    path = tmp_path / "clip.align"
    path.write_text("0 23750 sil\n23750 29500 BIN\n\n29500 29500 sp\n29500 74500 Blue\n")
    assert grid.load_alignment_segments(path) == [
        (0.0, 23.75, "sil"), (23.75, 29.5, "bin"), (29.5, 29.5, "sp"), (29.5, 74.5, "blue")]


def test_alignment_files_that_are_no_alignment_say_why(tmp_path):
    """Nothing over the size bound is read whole; a folder, bytes that are not text and
    a file of blank lines each say what is wrong with them."""
    line = b"0 23750 sil\n"
    fits = tmp_path / "fits.align"
    fits.write_bytes(line * (grid.MAX_ALIGNMENT_BYTES // len(line))
                     + b"\n" * (grid.MAX_ALIGNMENT_BYTES % len(line)))
    assert fits.stat().st_size == grid.MAX_ALIGNMENT_BYTES
    assert len(grid.load_alignment_segments(fits)) == grid.MAX_ALIGNMENT_BYTES // len(line)
    big = tmp_path / "big.align"
    big.write_bytes(fits.read_bytes() + b"\n")
    cases = {big: "big.align: over 64 KB, not a GRID alignment",
             tmp_path: "not a regular file",
             tmp_path / "latin.align": "latin.align: unreadable alignment file",
             tmp_path / "blank.align": "blank.align: the alignment file holds no words"}
    (tmp_path / "latin.align").write_bytes(b"0 23750 caf\xe9\n")
    (tmp_path / "blank.align").write_text("\n  \n\t\n")
    huge = tmp_path / "huge.align"  # a terabyte of holes: refused from its first 64 KB
    with open(huge, "wb") as fh:
        fh.truncate(1 << 40)
    cases[huge] = "huge.align: over 64 KB"
    for path, message in cases.items():
        with pytest.raises(grid.AlignmentError, match=re.escape(message)):
            grid.load_alignment_segments(path)


def test_missing_alignment(tmp_path):
    with pytest.raises(grid.AlignmentError, match="no such alignment"):
        grid.load_alignments(tmp_path / "nope.align")


def _check_input(x):
    assert x.shape == (75, 46, 140, 1) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


def test_fixed_crop_is_the_tutorials_window(grid_dir, test_names):
    path = grid.video_path(grid_dir, test_names[0])
    # The fixed crop is the tutorial's: rows 190:236, columns 80:220 of the gray frame.
    import cv2
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[190:236, 80:220]
    raw = video.read_mouth(path, crop="fixed").crops
    assert raw.shape == (75, 46, 140) and raw.dtype == np.uint8
    assert np.array_equal(raw[0], gray)
    _check_input(video.load_video(path, crop="fixed"))


def test_fixed_window_widens_by_its_margin_on_every_side():
    """crop_mouth on frames whose pixels say their own row and column."""
    rows, cols = np.meshgrid(np.arange(288), np.arange(360), indexing="ij")
    frames = np.stack([rows * 1000 + cols] * 2)
    for margin in (0, 4):
        got = video.crop_mouth(frames, margin)
        assert got.shape == (2, 46 + 2 * margin, 140 + 2 * margin)
        assert got[0, 0, 0] == (190 - margin) * 1000 + 80 - margin
        assert got[0, -1, -1] == (235 + margin) * 1000 + 219 + margin
    assert np.array_equal(video.crop_mouth(frames), frames[:, 190:236, 80:220])


def test_load_video_reads_from_its_start(grid_dir, test_names):
    path = grid.video_path(grid_dir, test_names[0])
    later = video.load_video(path, crop="fixed", start=0.4)
    assert np.array_equal(later, video.normalize(video.read_mouth(path, "fixed",
                                                                  start=0.4).crops))
    assert not np.array_equal(later, video.load_video(path, crop="fixed"))


def test_landmark_crop_is_the_default_input(grid_dir, test_names):
    path = grid.video_path(grid_dir, test_names[0])
    view = video.read_mouth(path)
    assert view.track is not None and view.track.lost == 0 and view.track.faces == 1
    assert view.crops.shape == (75, 46, 140) and view.crops.dtype == np.uint8
    x = video.load_video(path)
    _check_input(x)
    np.testing.assert_allclose(x, video.normalize(view.crops), atol=1e-6)
    # Widened by a margin (training's jitter): the same crop inside, the same pixels.
    wide = video.read_mouth(path, margin=2).crops
    assert wide.shape == (75, 50, 144) and np.array_equal(wide[:, 2:-2, 2:-2], view.crops)


def _mean_abs_diff(a, b) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _mp4_and_mpg(grid_dir, names, ffmpeg_encode, tmp_path):
    """(an .mp4 clip, the same clip as MPEG-1 .mpg): the folder's own .mp4 clip, re-encoded
    to MPEG-1, when it has one; else the first .mpg clip and an H.264 copy of it."""
    folder = grid.video_dir(grid_dir)
    mp4 = next((folder / f"{n}.mp4" for n in names if (folder / f"{n}.mp4").is_file()), None)
    if mp4 is not None:
        mpg = ffmpeg_encode(mp4, tmp_path / f"{mp4.stem}.mpg",
                     "-an", "-c:v", "mpeg1video", "-q:v", 2, "-r", video.FPS)
        return mp4, mpg
    mpg = next(folder / f"{n}.mpg" for n in names if (folder / f"{n}.mpg").is_file())
    mp4 = ffmpeg_encode(mpg, tmp_path / f"{mpg.stem}.mp4",
                 "-an", "-c:v", "libx264", "-crf", 18, "-pix_fmt", "yuv420p", "-r", video.FPS)
    return mp4, mpg


def test_mp4_reads_like_mpeg1(grid_dir, train_names, test_names, ffmpeg_encode, tmp_path):
    """An H.264 .mp4 and an MPEG-1 .mpg of one clip give the same crops, codec noise aside."""
    mp4, mpg = _mp4_and_mpg(grid_dir, train_names + test_names, ffmpeg_encode, tmp_path)
    assert {mp4.suffix, mpg.suffix} == {".mp4", ".mpg"}
    clips = [video.read_clip(p) for p in (mp4, mpg)]
    assert [len(c.frames) for c in clips] == [75, 75], (mp4, mpg)
    assert clips[0].frames.shape == clips[1].frames.shape
    a, b = (video.read_mouth(p, crop="fixed").crops for p in (mp4, mpg))
    assert a.shape == b.shape == (75, 46, 140)
    same = _mean_abs_diff(a, b)
    assert same < 2.5, f"{mp4.name} and {mpg.name}: mean |difference| {same:.2f} grey levels"
    # The frames line up in time: each is closer to its counterpart than to a neighbour's.
    for shift in (1, -1):
        moved = _mean_abs_diff(a[max(shift, 0):75 + min(shift, 0)],
                               b[max(-shift, 0):75 + min(-shift, 0)])
        assert same < moved, f"one frame off ({moved:.2f}) matches as well as aligned ({same:.2f})"
    _check_input(video.load_video(mp4))  # and the landmark crop reads the .mp4 too


def test_load_video_pads_a_74_frame_clip(grid_dir, test_names, ffmpeg_encode, tmp_path):
    """GRID has clips of 74 frames (lrae3s, sbbbzp, ...): the last frame is held."""
    source = grid.video_path(grid_dir, test_names[0])
    path = ffmpeg_encode(source, tmp_path / "short.mpg",
                  "-an", "-frames:v", 74, "-c:v", "mpeg1video", "-q:v", 2, "-r", video.FPS)
    assert len(video.read_clip(path).frames) == 74
    for crop in video.CROPS:
        raw = video.read_mouth(path, crop=crop).crops
        assert raw.shape == (75, 46, 140)
        assert np.array_equal(raw[74], raw[73])  # the last frame held
    _check_input(video.load_video(path))


def test_missing_video(tmp_path):
    with pytest.raises(video.VideoError, match=r"nope\.mpg: no such file"):
        video.load_video(tmp_path / "nope.mpg")


def test_empty_video(tmp_path):
    (tmp_path / "empty.mpg").write_bytes(b"")
    with pytest.raises(video.VideoError, match=r"empty\.mpg: the file is empty"):
        video.load_video(tmp_path / "empty.mpg")


def test_random_bytes_video(tmp_path):
    path = tmp_path / "noise.mpg"
    path.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(video.VideoError, match=r"noise\.mpg: .*(decode|video)"):
        video.load_video(path)


def test_truncated_video(grid_dir, test_names, ffmpeg_encode, tmp_path):
    source = grid.video_path(grid_dir, test_names[0])
    if source.suffix != ".mpg":  # the tutorial's test clips are MPEG-1; make one that is
        source = ffmpeg_encode(source, tmp_path / "whole.mpg",
                               "-an", "-c:v", "mpeg1video", "-q:v", 2)
    data = source.read_bytes()
    path = tmp_path / "cut.mpg"
    path.write_bytes(data[: len(data) // 5])
    with pytest.raises(video.VideoError, match=r"cut\.mpg: .*truncated"):
        video.load_video(path)


def test_too_small_video(tmp_path):
    import imageio.v3 as iio
    frames = np.random.default_rng(0).integers(0, 255, (75, 128, 160, 3), dtype=np.uint8)
    path = tmp_path / "small.mp4"
    iio.imwrite(path, frames, fps=25)
    with pytest.raises(video.VideoError, match=r"small\.mp4: frames are 160x128"):
        video.load_video(path, crop="fixed")
    with pytest.raises(video.VideoError, match=r"small\.mp4: no face"):
        video.load_video(path)  # the landmark crop: noise shows no face


def test_data_dir_layout(grid_dir, train_names, test_names, tmp_path, monkeypatch):
    clips = grid.list_clips(grid_dir)
    assert clips == sorted(clips)
    # The splits are disjoint, and name clips that have a video and an alignment.
    assert test_names and train_names and not set(train_names) & set(test_names)
    assert set(train_names + test_names) <= set(clips)
    for name in train_names + test_names:
        assert grid.alignment_path(grid_dir, name).is_file(), name
    first = grid.video_path(grid_dir, test_names[0])
    assert first.parent == grid.video_dir(grid_dir) and first.stem == test_names[0]
    assert first.suffix in video.VIDEO_EXTS
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    assert grid.resolve_data_dir() == grid_dir
    assert grid.resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.delenv("LIPREAD_DATA_DIR")
    assert str(grid.resolve_data_dir()) == "data"
    assert grid.list_clips(tmp_path) == []
    with pytest.raises(video.VideoError, match="no video for clip"):
        grid.video_path(tmp_path, test_names[0])


def test_names_files(tmp_path):
    """One name a line (SPEAKER/NAME or s1's bare NAME); blank lines, # comments, a
    byte-order mark and Windows line ends are fine; anything else names its file and line."""
    (tmp_path / "names.txt").write_bytes(b"\xef\xbb\xbfa1\r\n\r\n# comment\r\n  s26/b2  # why\r\n")
    assert grid.read_names(tmp_path / "names.txt") == ["a1", "s26/b2"]
    limit = tmp_path / "limit.txt"  # exactly the largest names file read
    limit.write_bytes(b"#" * (grid.MAX_NAMES_BYTES - 3) + b"\na\n")
    assert limit.stat().st_size == grid.MAX_NAMES_BYTES and grid.read_names(limit) == ["a"]
    binary = "not a text file of clip names (binary bytes); give one clip name a line"
    not_a_name = ("(one name a line: SPEAKER/NAME, like s26/lgbj5a; a bare NAME is s1's)")
    long = "x" * 39 + "/" + "y" * 20
    refused = {"empty.txt": (b"\n# only a comment\n", "the names file lists no clips"),
               "nul.txt": (b"a1\n\x00\n", binary), "latin.txt": (b"caf\xe9\n", binary),
               "path.txt": (b"a1\n../etc/passwd\n",
                            f"line 2 is not a clip name: '../etc/passwd' {not_a_name}"),
               "deep.txt": (b"x/y/z\n", f"line 1 is not a clip name: 'x/y/z' {not_a_name}"),
               "long.txt": (long.encode() + b"\n",
                            f"line 1 is not a clip name: {long[:40]!r} {not_a_name}"),
               "speaker.txt": (b"s123/a\n", "line 1 is not a clip name: 's123/a' " + not_a_name),
               "dot.txt": (b".hidden\n", f"line 1 is not a clip name: '.hidden' {not_a_name}")}
    for name, (data, said) in refused.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError) as err:
            grid.read_names(tmp_path / name)
        assert str(err.value) == f"{tmp_path / name}: {said}"
    with pytest.raises(FileNotFoundError) as err:
        grid.read_names(tmp_path)
    assert str(err.value) == f"{tmp_path}: is a directory, not a names file"
    with pytest.raises(FileNotFoundError) as err:
        grid.read_names(tmp_path / "none.txt")
    assert str(err.value) == f"{tmp_path / 'none.txt'}: no such names file"
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(grid.MAX_NAMES_BYTES + 1)
    with pytest.raises(ValueError) as err:
        grid.read_names(big)
    assert str(err.value) == (f"{big}: over 16 MB, not a file of clip names (all of GRID's "
                              "34,000 names take under 1 MB)")


def test_a_folder_of_speakers_lists_their_clips_by_name(tmp_path):
    """Speaker folders in number order, each clip once whatever its extension's case,
    prefixed with its speaker unless s1 is the only one; what is no video, no file or no
    speaker folder is not a clip."""
    for rel in ("s10/b.mp4", "s2/a.MPG", "s2/a.mp4", "s2/c.txt", "s2/dir.mp4/x", "s1/z.mpg",
                "s3/notes.txt", "x1/a.mpg", "s2x/a.mpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        if not rel.endswith("/x"):
            (tmp_path / rel).write_bytes(b"")
    assert grid.list_speakers(tmp_path) == ["s1", "s2", "s10"]
    assert grid.list_clips(tmp_path) == ["s1/z", "s2/a", "s10/b"]
    assert grid.list_clips(tmp_path, ["s4", "s2"]) == ["s2/a"]  # s4: no folder
    assert grid.list_clips(tmp_path, ["s1"]) == ["z"]
    assert grid.list_speakers(tmp_path / "none") == []
    assert grid.video_path(tmp_path, "s2/a").name in {"a.mpg", "a.MPG", "a.mp4"}
    assert grid.video_path(tmp_path, "s2/a").parent == tmp_path / "s2"
    only_s1 = tmp_path / "tutorial"
    (only_s1 / "s1").mkdir(parents=True)
    (only_s1 / "s1" / "bbaf2n.mpg").write_bytes(b"")
    assert grid.list_clips(only_s1) == ["bbaf2n"]
    assert grid.video_path(only_s1, "bbaf2n") == only_s1 / "s1" / "bbaf2n.mpg"
    assert grid.alignment_path(only_s1, "s26/lgbj5a") == only_s1 / "alignments/s26/lgbj5a.align"
    assert grid.alignment_path(only_s1, "bbaf2n") == only_s1 / "alignments/s1/bbaf2n.align"
    assert grid.speaker_of("s26/lgbj5a") == "s26" and grid.speaker_of("lgbj5a") == "s1"


@pytest.mark.parametrize("text, chosen", [
    ("s1-s3", [1, 2, 3]), ("S4", [4]), ("1-2,s34", [1, 2, 34]), ("s3, s1", [1, 3]),
    ("s5-s5,s5", [5])])
def test_speakers_are_named_singly_or_in_ranges(text, chosen):
    assert grid.parse_speakers(text) == chosen


NOT_SPEAKERS = "(e.g. s1-s34, s1,s3,s5-s7 or 1-4)"


@pytest.mark.parametrize("text, said", [
    ("s0", "s0: GRID's speakers are s1 to s34"), ("s1-s35", "s1-s35: GRID's speakers are s1 to s34"),
    ("s3-s1", "s3-s1: a range goes from low to high (s1-s3)"),
    ("s1;s2", f"not a speaker or a range of them: 's1;s2' {NOT_SPEAKERS}"),
    ("", f"not a speaker or a range of them: '' {NOT_SPEAKERS}"),
    ("s1-", f"not a speaker or a range of them: 's1-' {NOT_SPEAKERS}")])
def test_speakers_that_grid_has_not_are_refused(text, said):
    with pytest.raises(ValueError) as err:
        grid.parse_speakers(text)
    assert str(err.value) == said


@pytest.mark.parametrize("text, said", [
    ("bin blue at f two now", None), ("BIN blue at f two now", "'BIN' is no GRID command"),
    ("bin blue at f two", "5 words; a GRID sentence has 6: command colour preposition letter "
     "digit adverb, e.g. 'bin blue at f two now'"),
    ("bin blue at f two now please", "7 words"),
    ("bin now at f two blue", "'now' is no GRID colour (blue, green, red, white, ...)"),
    ("bin blue at w two now", "'w' is no GRID letter (a, b, c, d, ...)"),
    ("bin blue at f two later", "'later' is no GRID adverb (again, now, please, soon, ...)")])
def test_a_sentence_that_is_not_grids_says_which_word(text, said):
    if said is None or said.endswith("...)"):
        assert grid.grammar_error(text) == said
    else:
        assert grid.grammar_error(text).startswith(said)


def test_normalize_is_over_the_whole_clip():
    """One mean and one std for the clip, never per frame: frames of different brightness
    keep their order of brightness, each value is (v - clip mean) / clip std, and a flat
    clip is only shifted to 0 (no division by 0)."""
    rng = np.random.default_rng(0)
    frames = np.stack([rng.integers(0, 60, (46, 140)) + 40 * t for t in range(5)]).astype(np.uint8)
    x = video.normalize(frames)
    f = frames.astype(np.float64)
    expected = (f - f.mean()) / f.std()
    assert x.shape == (5, 46, 140, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], expected, rtol=1e-5, atol=1e-5)
    means = x[..., 0].mean(axis=(1, 2))
    assert np.all(np.diff(means) > 0.5)  # per frame, every mean would be 0
    flat = video.normalize(np.full((3, 4, 5), 7, np.uint8))
    assert np.array_equal(flat, np.zeros((3, 4, 5, 1), np.float32))
    nearly = np.full((3, 4, 5), 7, np.uint8)
    nearly[0, 0, 0] = 8  # a std of 0.13 is still divided by
    assert video.normalize(nearly).std() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("fps", [30, 50])
def test_other_frame_rates_take_the_frame_shown_at_each_25_fps_instant(fps, tmp_path):
    """An H.264 file at `fps` whose frame k says k in grey (top half 20 + 4 (k % 50), bottom
    half 20 + 40 (k // 50); levels 4 apart survive the grey -> YUV -> BGR round trip): the
    75 frames read are frames round(i * fps / 25), i = 0..74 (read at the file's own rate
    they would be frames 0..74)."""
    import imageio_ffmpeg

    k = np.arange(round(3.2 * fps))
    frames = np.empty((len(k), 288, 360), np.uint8)
    frames[:, :144] = (20 + 4 * (k % 50))[:, None, None]
    frames[:, 144:] = (20 + 40 * (k // 50))[:, None, None]
    out = tmp_path / f"grey{fps}.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
                    "-f", "rawvideo", "-pix_fmt", "gray", "-s", "360x288", "-r", str(fps),
                    "-i", "-", "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(out)],
                   input=frames.tobytes(), check=True, timeout=120)
    clip = video.read_clip(out)
    assert len(clip.frames) == video.N_FRAMES and abs(clip.fps - fps) < 0.5
    top = clip.frames[:, 20:124].mean(axis=(1, 2))
    bottom = clip.frames[:, 164:268].mean(axis=(1, 2))
    shown = np.round((top - 20) / 4) + 50 * np.round((bottom - 20) / 40)
    assert shown.astype(int).tolist() == [round(i * fps / video.FPS)
                                          for i in range(video.N_FRAMES)]
