"""The clips a person teaches with, directly: found in a folder (GRID's layout, a flat folder
of videos with a sentence beside each, or names listed), each with its sentence checked
against the grammar, gathered from a list with sentences given, and each take checked at
once (a face, lips that move, not too long) in words a visitor can act on, naming no path.
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from conftest import ffmpeg_exe
from lipread import grid
from lipread.enroll import checks, clips

SAID = "bin blue at f two now"


@pytest.fixture(scope="module")
def s26(others_dir):
    names = grid.list_clips(others_dir, ["s26"])[:3]
    return [(n, grid.video_path(others_dir, n), grid.load_sentence(
        grid.alignment_path(others_dir, n))) for n in names]


def grid_folder(root, s26, speaker="s26"):
    for name, video, _ in s26:
        stem = grid.split_name(name)[1]
        (root / speaker).mkdir(parents=True, exist_ok=True)
        (root / "alignments" / speaker).mkdir(parents=True, exist_ok=True)
        (root / speaker / video.name).symlink_to(video)
        (root / "alignments" / speaker / f"{stem}.align").symlink_to(
            grid.alignment_path(video.parent.parent, name))
    return root


def test_a_grid_folders_clips_come_with_their_alignments_sentences(tmp_path, s26):
    root = grid_folder(tmp_path / "d", s26)
    found = clips.find(root)
    assert [(c.name, c.sentence) for c in found] == [(n, s) for n, _, s in s26]
    assert all(c.path == root / "s26" / v.name for c, (_, v, _) in zip(found, s26))
    assert clips.find(root, speakers=["s26"]) == found
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root, speakers=["s31", "s4"])
    assert str(err.value) == f"--speakers: none of s31, s4 has videos in {root} (it holds s26)"


def test_names_listed_pick_clips_and_must_name_their_speaker(tmp_path, s26):
    root = grid_folder(tmp_path / "d", s26)
    names = tmp_path / "names.txt"
    names.write_text(f"{s26[2][0]}\n{s26[0][0]}\n")
    assert [c.name for c in clips.find(root, names)] == [s26[2][0], s26[0][0]]
    assert [c.name for c in clips.find(root, names, speakers=["s26"])] == [s26[2][0], s26[0][0]]
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root, names, speakers=["s31", "s4"])
    assert str(err.value) == f"--names {names}: no clips of --speakers s31, s4"
    bare = tmp_path / "bare.txt"
    bare.write_text(grid.split_name(s26[0][0])[1] + "\n")
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root, bare)
    said = str(err.value)
    assert said.startswith(f"--names {bare}: ") and said.endswith(
        f"; name each clip SPEAKER/NAME as its folder in {root} says (s26/lgbj5a; a bare "
        "name is s1's)")
    with pytest.raises(clips.EnrollError, match=r"^--names: .*none.txt: no such names file$"):
        clips.find(root, tmp_path / "none.txt")


def test_a_flat_folder_of_videos_takes_the_sentence_beside_each(tmp_path, s26):
    root = tmp_path / "takes"
    root.mkdir()
    for i, (_, video, said) in enumerate(s26[:2]):
        shutil.copyfile(video, root / f"take{i}.MPG")
        (root / f"take{i}.txt").write_bytes(("\ufeff" + said.upper().replace(" ", "  \n ")
                                             ).encode("utf-8"))
    (root / "notes.md").write_text("not a video")
    (root / "dir.mp4").mkdir()  # a folder named like a video: not one
    found = clips.find(root)
    assert [(c.name, c.path.name, c.sentence) for c in found] == [
        ("take0", "take0.MPG", s26[0][2]), ("take1", "take1.MPG", s26[1][2])]


@pytest.mark.parametrize("text, said", [
    (b"bin blue at f two", "'bin blue at f two' is not a GRID sentence: "),
    (b"\xff\xfe", "not text; write the sentence said, e.g. 'bin blue at f two now'"),
    (b"x" * 4097, "over 4096 bytes; a sentence file holds the one sentence said in its video"),
    (b"bin blue at f two now " * 5, "'" + ("bin blue at f two now " * 3)[:60] + "' is not a "
     "GRID sentence: "),  # a long one quoted to 60 characters
])
def test_a_sentence_file_that_is_no_sentence_names_itself(tmp_path, s26, text, said):
    root = tmp_path / "takes"
    root.mkdir()
    shutil.copyfile(s26[0][1], root / "take.mpg")
    (root / "take.txt").write_bytes(text)
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root)
    assert str(err.value).startswith(f"{root / 'take.txt'}: {said}")


def test_the_speakers_chosen_are_the_only_ones_taught(others_dir):
    present = grid.list_speakers(others_dir)
    one = present[-1]
    found = clips.find(others_dir, speakers=[one])
    assert [c.name for c in found] == grid.list_clips(others_dir, [one])
    with pytest.raises(clips.EnrollError) as err:
        clips.find(others_dir, speakers=["s99"])
    assert str(err.value) == (f"--speakers: none of s99 has videos in {others_dir} (it holds "
                              f"{', '.join(present)})")


def test_as_many_videos_as_the_limit_are_gathered(others_dir):
    names = grid.list_clips(others_dir, grid.list_speakers(others_dir))[:clips.MAX_CLIPS]
    if len(names) < clips.MAX_CLIPS:
        pytest.skip(f"fewer than {clips.MAX_CLIPS} clips of other speakers")
    paths = [grid.video_path(others_dir, n) for n in names]  # the limit exactly
    assert [c.path for c in clips.gather(paths)] == paths


def test_a_sentence_file_of_exactly_the_bound_is_read(tmp_path, s26):
    root = tmp_path / "takes"
    root.mkdir()
    shutil.copyfile(s26[0][1], root / "take.mpg")
    (root / "take.txt").write_text(SAID + " " * (4096 - len(SAID)))
    assert clips.find(root)[0].sentence == SAID


def test_a_video_without_a_sentence_says_where_to_put_one(tmp_path, s26):
    root = tmp_path / "takes"
    root.mkdir()
    shutil.copyfile(s26[0][1], root / "take.mpg")
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root)
    assert str(err.value) == (
        f"{root / 'take.mpg'}: no sentence for it: give "
        f"{grid.alignment_path(root, 'take')} or {root / 'take.txt'} (the words said, e.g. "
        "'bin blue at f two now')")


def test_an_alignment_that_is_damaged_is_named(tmp_path, s26):
    root = grid_folder(tmp_path / "d", s26[:1])
    align = grid.alignment_path(root, s26[0][0])
    align.unlink()
    align.write_text("0 1 sil\nnot numbers here\n")
    with pytest.raises(clips.EnrollError, match=str(align)):
        clips.find(root)


def test_a_folder_with_nothing_or_too_much_to_teach_says_so(tmp_path, s26, monkeypatch):
    with pytest.raises(clips.EnrollError) as err:
        clips.find(tmp_path / "nosuch")
    assert str(err.value) == (f"{tmp_path / 'nosuch'}: no such folder; give --data-dir a "
                              "folder of clips (GRID layout, or videos with a .txt sentence "
                              "beside each)")
    (tmp_path / "empty").mkdir()
    with pytest.raises(clips.EnrollError) as err:
        clips.find(tmp_path / "empty")
    assert str(err.value).startswith(f"{tmp_path / 'empty'}: no videos (.mpg, ")
    assert str(err.value).endswith(") in it or in speaker folders (s1/, s26/, ...)")
    root = grid_folder(tmp_path / "d", s26)
    monkeypatch.setattr(clips, "MAX_CLIPS", 2)
    with pytest.raises(clips.EnrollError) as err:
        clips.find(root)
    assert str(err.value) == (f"{root}: 3 clips; enrollment takes at most 2 (pick some "
                              "with --names)")
    monkeypatch.setattr(clips, "MAX_CLIPS", 3)
    assert len(clips.find(root)) == 3


def test_videos_gathered_one_by_one_take_the_sentences_given(tmp_path, s26):
    root = grid_folder(tmp_path / "d", s26)
    paths = [root / "s26" / v.name for _, v, _ in s26]
    found = clips.gather(paths)
    assert [(c.name, c.sentence) for c in found] == [(n, s) for n, _, s in s26]
    given = clips.gather(paths[:2], ["  Bin  Blue at f two NOW ", "lay red by a one soon"])
    assert [(c.name, c.sentence) for c in given] == [
        (s26[0][0], SAID), (s26[1][0], "lay red by a one soon")]
    flat = tmp_path / "flat.mpg"
    shutil.copyfile(s26[0][1], flat)
    (tmp_path / "flat.txt").write_text(SAID)
    assert [(c.name, c.sentence) for c in clips.gather([flat])] == [("flat", SAID)]
    assert [(c.name, c.sentence) for c in clips.gather([flat], [123 and SAID])] == [
        ("flat", SAID)]
    assert clips.gather([found[0], flat]) == [found[0], clips.Clip("flat", flat, SAID)]
    assert clips.gather(root) == clips.find(root)


@pytest.mark.parametrize("videos, sentences, said", [
    ("folder", [SAID], "{folder}: a folder's clips have their sentences in it; give "
                       "sentences with a list of videos"),
    ([], None, "no videos given"),
    (["a"], SAID, "sentences: give a list, one sentence a video"),
    (["a", "b"], [SAID], "2 videos and 1 sentences: give one sentence a video"),
    (["missing"], None, "{missing}: no such video file"),
    (["video"], ["bin blue"], "{video}: 'bin blue' is not a GRID sentence: "),
    (["video"] * 3, None, "3 videos; enrollment takes at most 2"),
])
def test_a_gathering_that_cannot_be_taught_says_why(tmp_path, s26, monkeypatch, videos,
                                                     sentences, said):
    monkeypatch.setattr(clips, "MAX_CLIPS", 2)
    shutil.copyfile(s26[0][1], tmp_path / "video.mpg")
    names = {"folder": tmp_path, "missing": tmp_path / "missing.mpg",
             "video": tmp_path / "video.mpg", "a": tmp_path / "video.mpg",
             "b": tmp_path / "video.mpg"}
    videos = names["folder"] if videos == "folder" else [names[v] for v in videos]
    with pytest.raises(clips.EnrollError) as err:
        clips.gather(videos, sentences)
    assert str(err.value).startswith(said.format(**names))


def test_a_clips_crops_have_trainings_margin_and_a_bad_file_is_one_line(tmp_path, s26):
    from lipread.training.cropstore import MARGIN

    crops = clips.crops(clips.Clip(*s26[0][:2], s26[0][2]))
    assert crops.dtype == np.uint8 and crops.shape == (75, 46 + 2 * MARGIN, 140 + 2 * MARGIN)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4000)
    with pytest.raises(clips.EnrollError, match="junk.mp4"):
        clips.crops(clips.Clip("junk", junk, SAID))


# --- a take, checked at once ---------------------------------------------------------

def test_a_good_take_has_its_crops_and_no_problems(s26):
    take = checks.check_take(s26[0][1])
    assert take.ok and take.problems == [] and take.crops.shape == (75, 46, 140)
    assert take.crops.dtype == np.uint8 and 2.9 < take.seconds < 3.1


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)],
                   check=True, timeout=120)


def test_a_long_take_a_still_face_and_two_faces_are_each_said(tmp_path, s26):
    long = tmp_path / "long.mp4"
    ffmpeg("-i", s26[0][1], "-i", s26[1][1], "-filter_complex",
           "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", long)
    take = checks.check_take(long)
    assert take.problems == ["it is 6.0 s long; only the first 3 s are read: say the "
                             "sentence at once, in under 3 s"] and not take.ok
    still = tmp_path / "still.mp4"
    ffmpeg("-i", s26[0][1], "-vf", "select=eq(n\\,0),loop=74:1:0,setpts=N/25/TB", "-r", 25,
           "-c:v", "libx264", still)
    assert checks.check_take(still).problems == ["the lips hardly move: say the sentence "
                                                 "clearly"]
    two = tmp_path / "two.mp4"
    ffmpeg("-i", s26[0][1], "-i", s26[1][1], "-filter_complex",
           "[0:v][1:v]hstack=inputs=2[v]", "-map", "[v]", "-c:v", "libx264", two)
    assert checks.check_take(two).problems == ["2 faces: only yours should be in the picture"]


def test_a_take_as_long_as_the_limit_is_taken_as_it_is(tmp_path, s26):
    edge = tmp_path / "edge.mp4"  # 4.5 s: 45 frames at 10 fps
    ffmpeg("-i", s26[0][1], "-i", s26[1][1], "-filter_complex",
           "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-t", checks.MAX_SECONDS, "-r", 10,
           "-c:v", "libx264", edge)
    take = checks.check_take(edge)
    assert take.seconds == checks.MAX_SECONDS and take.problems == []


def test_a_take_without_a_face_or_not_a_video_names_the_take_never_its_folder(tmp_path):
    blank = tmp_path / "blank.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=360x288:r=25:d=3", "-c:v", "libx264", blank)
    take = checks.check_take(blank)
    assert take.crops is None and 2.9 < take.seconds < 3.1
    assert take.problems == ["no face in the first 75 frames: the video must show one "
                             "frontal face, well lit"]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4000)
    take = checks.check_take(junk)
    assert take.crops is None and take.seconds == 0.0
    assert take.problems[0].startswith("the video can't be read (")
    assert take.problems[0].endswith("); record it again") and "junk.mp4" in take.problems[0]
    assert str(tmp_path) not in take.problems[0]


def test_a_message_about_a_take_names_its_file_only(tmp_path):
    path = tmp_path / "sub" / "take.mp4"
    assert checks.unplaced(f"{path}: broken", path) == "take.mp4: broken"
    assert checks.unplaced(f"{tmp_path / 'sub'}/other.mp4 near {path}", path) == (
        "other.mp4 near take.mp4")
    assert checks.unplaced("sub/take.mp4: bad", "sub/take.mp4") == "take.mp4: bad"
    assert checks.unplaced("take.mp4: bad", "take.mp4") == "take.mp4: bad"


def test_a_message_about_a_linked_take_names_neither_the_link_nor_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "upload-7f3a.mp4").write_bytes(b"")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    path = tmp_path / "link" / "take.mp4"
    path.symlink_to(real / "upload-7f3a.mp4")  # a take that is a link to a file elsewhere
    said = checks.unplaced(f"{real / 'upload-7f3a.mp4'}: broken; {real}/other.mp4 too", path)
    assert said == "take.mp4: broken; other.mp4 too"


def test_a_message_naming_the_takes_folder_by_a_relative_path_names_no_folder():
    assert checks.unplaced("uploads/other.mp4 and uploads/take.mp4 differ",
                           "uploads/take.mp4") == "other.mp4 and take.mp4 differ"


def test_lip_motion_is_the_spread_of_the_lips_opening():
    class Track:  # the inner lips (60-67 of the 20 mouth points 48-67) opening by t
        def __init__(self, gaps):
            points = np.zeros((len(gaps), 20, 2), np.float32)
            points[:, 0] = (0, 0)
            points[:, 6] = (10, 0)  # the mouth 10 wide
            for t, g in enumerate(gaps):
                points[t, 13:16, 1] = -g / 2  # 61-63, upper inner lip
                points[t, 17:20, 1] = g / 2  # 65-67, lower inner lip
            self.mouth_points = points

    assert checks.lip_motion(Track([0.0] * 20)) == 0.0
    moving = checks.lip_motion(Track(list(np.linspace(0, 4, 21))))
    assert moving == pytest.approx(0.38 - 0.02)  # the 95th percentile of 0-0.4 less the 5th
