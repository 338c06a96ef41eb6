"""The decoding budget (lipread/budget.py) at its edges, with small caps: frames and pixels
counted as they are decoded, the header's rate against the cap, and the walk over a
video's packets that finds how many frames a seek decodes (a 20 fps clip with a keyframe
every 5 s). test_decode_budget.py reads real hostile videos through `lipread predict`.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import made_once
from test_hostile_video import ffmpeg

from lipread import budget
from lipread.budget import Budget
from lipread.constants import VideoError

ADVICE = budget.ADVICE


def frame(width=3, height=2):
    return np.zeros((height, width, 3), np.uint8)


def test_a_reading_is_stopped_at_the_first_frame_past_the_frame_cap(monkeypatch):
    monkeypatch.setattr(budget, "MAX_FRAMES", 3)
    spent = Budget("clip.mp4", 3, 2)
    for _ in range(3):  # three frames: at the cap, taken
        spent.spend(frame())
    with pytest.raises(VideoError) as err:
        spent.spend(frame())
    assert str(err.value) == ("clip.mp4: too costly to read: decoding it reached 4 frames of "
                              "3x2 (one reading decodes at most 3 frames of that size); "
                              f"{ADVICE}")


def test_a_reading_is_stopped_at_the_first_frame_past_the_pixel_cap(monkeypatch):
    monkeypatch.setattr(budget, "MAX_PIXELS", 18)  # three frames of 3x2
    spent = Budget("clip.mp4", 3, 2)
    for _ in range(3):
        spent.spend(frame())
    assert (spent.frames, spent.pixels) == (3, 18)
    with pytest.raises(VideoError, match=r"reached 4 frames of 3x2 \(one reading decodes at "
                                         "most 3 frames"):
        spent.spend(frame())
    # frames of another size than the header's count by their own size, and say it
    spent = Budget("clip.mp4", 3, 2)
    spent.spend(frame(3, 4))
    with pytest.raises(VideoError, match=r"reached 2 frames of 3x4 \(one reading decodes at "
                                         "most 1 frames"):
        spent.spend(frame(3, 4))


def test_the_cap_is_frames_or_what_the_pixels_allow_whichever_is_fewer(monkeypatch):
    monkeypatch.setattr(budget, "MAX_FRAMES", 100)
    monkeypatch.setattr(budget, "MAX_PIXELS", 10)
    spent = Budget("clip.mp4", 1, 1)
    assert [spent.cap(p) for p in (0, 1, 2, 3, 10, 11)] == [10, 10, 5, 3, 1, 0]
    monkeypatch.setattr(budget, "MAX_PIXELS", 10**9)
    assert spent.cap(1) == 100


def test_the_headers_rate_is_refused_past_the_cap_and_taken_at_it(monkeypatch):
    monkeypatch.setattr(budget, "MAX_FRAMES", 100)
    monkeypatch.setattr(budget, "MAX_PIXELS", 400)  # 50 frames of 4x2
    spent = Budget("clip.mp4", 4, 2)
    spent.check_rate(49, 1.0)  # 50 frames: at the cap
    with pytest.raises(VideoError) as err:
        spent.check_rate(50, 1.0)
    assert str(err.value) == ("clip.mp4: too costly to read: at 50 fps, 1 s take 51 frames "
                              "of 4x2 (one reading decodes at most 50 frames of that size); "
                              f"{ADVICE}")


@pytest.fixture(scope="module")
def gop(tmp_path_factory):
    """10 s at 20 fps, 32x32, a keyframe every 100 frames (at 0 and 5 s) and none between."""
    return made_once("budget-gop", tmp_path_factory, lambda folder: ffmpeg(
        "-f", "lavfi", "-i", "testsrc=s=32x32:r=20:d=10", "-c:v", "libx264", "-preset",
        "ultrafast", "-g", "100", "-keyint_min", "100", "-sc_threshold", "0", "-bf", "0",
        "-pix_fmt", "yuv420p", folder / "gop.mp4")) / "gop.mp4"


def _seek(path, monkeypatch, frames, start, seconds):
    monkeypatch.setattr(budget, "MAX_FRAMES", frames)
    return Budget(path, 32, 32).check_seek(str(path), start, seconds, 20.0)


def test_a_seek_decodes_from_the_keyframe_at_or_before_the_start_to_just_past_the_end(
        gop, monkeypatch):
    # from 5 s (a keyframe) for 1.98 s: frames 100 to 141 (7.05 s, the first past the end
    # at 7.03 s) are decoded, 42 of them
    assert _seek(gop, monkeypatch, 42, 5.0, 1.98) is True
    with pytest.raises(VideoError) as err:
        _seek(gop, monkeypatch, 41, 5.0, 1.98)
    assert str(err.value) == (f"{gop}: too costly to read: seeking to 5 s and reading 1.98 s "
                              "decodes at least 42 frames of 32x32 (one reading decodes at "
                              f"most 41 frames of that size); {ADVICE}")


def test_a_seek_just_past_a_keyframe_counts_from_that_keyframe(gop, monkeypatch):
    with pytest.raises(VideoError, match="seeking to 6 s and reading 1 s decodes at least "
                                         "22 frames"):  # 100 (5 s) to 121, past the start
        _seek(gop, monkeypatch, 21, 6.0, 1.0)
    assert _seek(gop, monkeypatch, 42, 6.0, 1.0) is True  # ... and on to 141 (7.05 s)


def test_a_start_at_a_late_keyframe_is_not_refused_for_the_frames_before_it(
        gop, monkeypatch):
    """The frames before the keyframe a seek starts from are never decoded: walking past
    them (here 100 of them to the keyframe at 5 s, with a cap of 50) costs nothing."""
    assert _seek(gop, monkeypatch, 50, 5.0, 1.0) is True


def test_a_start_past_the_packets_looked_at_is_refused(gop, monkeypatch):
    monkeypatch.setattr(budget, "MAX_PACKETS", 50)  # 2.5 s of this clip
    with pytest.raises(VideoError) as err:
        _seek(gop, monkeypatch, 50, 4.0, 1.0)  # 50 frames from the first keyframe: allowed
    assert str(err.value) == (f"{gop}: 4 s lies past the first 50 frames this looks through; "
                              f"{ADVICE}")


def test_the_packets_looked_at_are_exactly_the_first_max_packets(gop, monkeypatch):
    monkeypatch.setattr(budget, "MAX_PACKETS", 50)  # frames 0 to 49 (2.45 s)
    assert _seek(gop, monkeypatch, 4000, 2.0, 0.39) is True  # its end passed at frame 49
    with pytest.raises(VideoError, match="2 s lies past the first 50 frames"):
        _seek(gop, monkeypatch, 4000, 2.0, 0.44)  # frame 50 (2.5 s) would be needed


def test_a_start_between_two_frames_is_counted_from_the_first_after_it(gop, monkeypatch):
    with pytest.raises(VideoError, match="seeking to 5.045 s and reading 0 s decodes at "
                                         "least 2 frames"):  # 100 (5 s) and 101 (5.05 s)
        _seek(gop, monkeypatch, 1, 5.045, 0.0)


def test_a_file_whose_packets_cannot_be_looked_at_is_not_sought(tmp_path, monkeypatch):
    (tmp_path / "not.mp4").write_bytes(b"not a video")
    assert _seek(tmp_path / "not.mp4", monkeypatch, 100, 1.0, 1.0) is False
