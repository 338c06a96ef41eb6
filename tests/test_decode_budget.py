"""What one reading may cost (lipread/budget.py): the frames and pixels decoded for it,
seeking included, are capped, so that any upload costs seconds of CPU: a 4K clip at 1,000
fps refused from its header, frames past the cap as they are decoded, a start far from
any keyframe from the file's packets; a start near one is read as before.
"""
from __future__ import annotations

import pytest

from conftest import made_once
from lipread import video
from test_hostile_video import ffmpeg, predict

def test_a_4k_clip_at_1000_fps_is_refused_before_decoding(tmp_path_factory):
    """3 s of 4K at 1,000 fps would be 3,000 4K frames (minutes of CPU): refused from the
    header's frame rate, in one line, before a frame is decoded."""
    clip = made_once("4k1000", tmp_path_factory, lambda folder: ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=3840x2160:r=1000:d=0.2", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / "fast4k.mp4")) / "fast4k.mp4"
    with pytest.raises(video.VideoError) as err:
        video.read_clip(clip)
    assert str(err.value).startswith(f"{clip}: too costly to read: at 1000 fps, 3 s take "
                                     "3,001 frames of 3840x2160 (one reading decodes at most "
                                     "400 frames of that size); re-encode it at 25-60 fps")
    proc = predict(clip)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "too costly to read" in lines[0], proc.stderr


def test_frames_past_the_cap_are_refused_as_they_are_decoded(tmp_path_factory):
    """A rate the header does not give usably (2,000 fps is read as unsaid): the frames
    are counted as they are decoded, and the reading stops at the cap."""
    clip = made_once("2000fps", tmp_path_factory, lambda folder: ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=160x120:r=2000:d=3.2", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / "fast.mp4")) / "fast.mp4"
    with pytest.raises(video.VideoError, match="too costly to read: decoding it reached "
                                               "4,001 frames of 160x120"):
        video.read_clip(clip)


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    """20 s of 4K at 25 fps (500 frames): one keyframe at its start, or one each second."""
    def make(folder):
        for name, gop in (("one-key", 5000), ("keys", 25)):
            ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=3840x2160:r=25:d=20", "-c:v",
                   "libx264", "-preset", "ultrafast", "-g", gop, "-pix_fmt", "yuv420p",
                   folder / f"{name}.mp4")
    return made_once("long4k", tmp_path_factory, make)


def test_a_start_far_from_any_keyframe_is_refused(long_clips):
    """Seeking to 17 s decodes from the keyframe before it, at 0 s: 500 4K frames, over
    the cap, refused from the file's packets before one is decoded (counted at the first
    frame past the start, the 427th from the keyframe)."""
    with pytest.raises(video.VideoError, match="too costly to read: seeking to 17 s and "
                                               "reading 3 s decodes at least 427 frames "
                                               "of 3840x2160"):
        video.read_clip(long_clips / "one-key.mp4", start=17)


def test_a_start_near_a_keyframe_is_read(long_clips):
    clip = video.read_clip(long_clips / "keys.mp4", start=16.5)
    assert clip.frames.shape[0] == 75 and clip.start == 16.5
