"""The video reader's own rules, in-process on made-up clips: what a reader is told about
how a video was read (`notices`), and what `read_mouth` / `cut_mouth` refuse, word for word.
Real clips are read in test_utils.py, test_hostile_video.py and test_mouth.py."""
from __future__ import annotations

import numpy as np
import pytest

from lipread import mouth, video

GRID_SECONDS = video.N_FRAMES / video.FPS  # 3.0


def view(duration: float, start: float = 0.0, faces: int = 1, lost: int = 0,
         frames: int = video.N_FRAMES) -> video.MouthClip:
    clip = video.Clip(np.zeros((frames, 288, 360), np.uint8), 25.0, duration, start)
    n = len(clip.frames)
    track = mouth.MouthTrack(np.zeros((n, 68, 2), np.float32), np.zeros((n, 2, 3), np.float32),
                             (0, 0, 10, 10), 0, faces, lost)
    return video.MouthClip(np.zeros((n, 46, 140), np.uint8), clip, track)


def test_a_grid_clip_gets_no_notice():
    assert video.notices(view(GRID_SECONDS)) == []
    # A file a little longer than 3 s (GRID clips end a frame late or early): still none.
    assert video.notices(view(GRID_SECONDS + 0.5 / video.FPS)) == []
    fixed = view(GRID_SECONDS)
    fixed.track = None  # the fixed window has no track
    assert video.notices(fixed) == []


def test_a_longer_video_says_which_seconds_were_read():
    assert video.notices(view(GRID_SECONDS + 0.6 / video.FPS)) == [
        "the video is 3.0 s long; read 0-3 s (the network reads 3 s)"]
    assert video.notices(view(7.25)) == [
        "the video is 7.2 s long; read 0-3 s (the network reads 3 s)"]
    # From a later start: said even when the rest is shorter than 3 s.
    assert video.notices(view(4.5, start=2.0)) == [
        "the video is 4.5 s long; read 2-4.5 s (the network reads 3 s)"]
    assert video.notices(view(3.5, start=0.5)) == [  # a late start alone
        "the video is 3.5 s long; read 0.5-3.5 s (the network reads 3 s)"]
    assert video.notices(view(10.0, start=0.5)) == [
        "the video is 10.0 s long; read 0.5-3.5 s (the network reads 3 s)"]
    # A file that does not say its length (duration 0) and goes on past what was read.
    assert video.notices(view(0.0)) == [
        "the video goes on past 3 s; read 0-3 s (the network reads 3 s)"]
    assert video.notices(view(0.0, start=1.5)) == [
        "the video goes on past 4.5 s; read 1.5-4.5 s (the network reads 3 s)"]


def test_faces_and_lost_frames_are_said():
    assert video.notices(view(GRID_SECONDS, faces=2)) == [
        "2 faces found; the largest one is read"]
    assert video.notices(view(GRID_SECONDS, lost=1, frames=60)) == [
        "no face found on 1 of 60 frames; the nearest landmarks were used there"]
    assert video.notices(view(8.0, faces=3, lost=15)) == [
        "the video is 8.0 s long; read 0-3 s (the network reads 3 s)",
        "3 faces found; the largest one is read",
        "no face found on 15 of 75 frames; the nearest landmarks were used there"]


def test_an_unknown_crop_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError) as err:
        video.read_mouth(tmp_path / "any.mp4", crop="lips")
    assert str(err.value) == "crop must be one of landmarks, fixed, not 'lips'"


def test_a_short_clip_is_refused_saying_how_short():
    clip = video.Clip(np.zeros((49, 288, 360), np.uint8), 25.0, 1.96, 0.5)
    with pytest.raises(video.VideoError) as err:
        video.cut_mouth(clip, "fixed", path="a.mp4")
    assert str(err.value) == ("a.mp4: only 49 frames (at 25 fps) could be read from 0.5 s on; "
                              "need at least 50 (2 s): truncated or too short")
    with pytest.raises(video.VideoError, match=r"^video: only 49 frames"):  # no file: "video"
        video.cut_mouth(clip)
    # 50 frames are enough, padded to 75 by repeating the last.
    clip.frames = np.arange(50, dtype=np.uint8)[:, None, None] * np.ones((1, 288, 360), np.uint8)
    crops = video.cut_mouth(clip, "fixed").crops
    assert crops.shape == (75, 46, 140) and (crops[49:] == 49).all() and crops[0].max() == 0


def test_a_small_frame_is_refused_by_the_fixed_window():
    for width, height, margin in ((219, 288, 0), (360, 235, 0), (221, 288, 2), (360, 237, 2)):
        clip = video.Clip(np.zeros((75, height, width), np.uint8), 25.0, 3.0, 0.0)
        with pytest.raises(video.VideoError) as err:
            video.cut_mouth(clip, "fixed", margin, path="small.mp4")
        need = (video.MOUTH_COLS[1] + margin, video.MOUTH_ROWS[1] + margin)
        assert str(err.value) == (
            f"small.mp4: frames are {width}x{height}; the fixed mouth window needs at least "
            f"{need[0]}x{need[1]} (GRID framing is 360x288): use the landmark crop")
    # Exactly the window's corner is enough.
    clip = video.Clip(np.zeros((75, 238, 222), np.uint8), 25.0, 3.0, 0.0)
    assert video.cut_mouth(clip, "fixed", 2).crops.shape == (75, 50, 144)


def test_a_frame_larger_than_4k_is_refused_as_decoded():
    """A stream can grow past the size its header gave (checked by _frame_size first)."""
    for height, width in ((2161, 3840), (3840, 2161), (4000, 2100)):
        with pytest.raises(video.VideoError) as err:
            video._gray(np.zeros((height, width), np.uint8), "big.mkv")
        assert str(err.value) == (f"big.mkv: a frame of {width}x{height} is larger than the "
                                  "3840x2160 this reads: scale the video down")


@pytest.mark.parametrize("shape, size", [((2160, 3840, 3), (1080, 1920)),  # 4K -> 1080p
                                         ((3840, 2160), (1920, 1080)),  # portrait 4K
                                         ((1440, 2560), (1080, 1920)),
                                         ((1200, 1200), (1080, 1080)),  # limited by the short side
                                         ((1080, 1920), (1080, 1920)),  # kept as it is
                                         ((720, 1280), (720, 1280)),  # never enlarged
                                         ((1000, 3840), (500, 1920)),  # by the long side
                                         ((288, 360, 3), (288, 360))])
def test_frames_are_grey_and_shrunk_to_fit_1080p_either_way_round(shape, size):
    import cv2

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    frame[:, ::2] = 255  # and 1-pixel stripes: resampled otherwise than by area, they alias
    gray = video._gray(frame, "a.mp4")
    assert gray.shape == size and gray.dtype == np.uint8
    want = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    if want.shape != size:  # shrunk by area
        want = cv2.resize(want, size[::-1], interpolation=cv2.INTER_AREA)
    assert np.array_equal(gray, want)


def made(tmp_path, name: str, *args) -> str:
    """A clip written by imageio-ffmpeg's ffmpeg from `args` (an argument list)."""
    import subprocess

    import imageio_ffmpeg

    out = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
                    *args, str(out)], check=True, timeout=60)
    return out


def test_a_file_with_a_video_header_that_opencv_cannot_open(tmp_path):
    path = tmp_path / "fake.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
                     + np.random.default_rng(0).bytes(5000))
    with pytest.raises(video.VideoError) as err:
        video.read_clip(path)
    assert str(err.value) == f"{path}: not a video OpenCV can decode (corrupt, or not a video at all)"


def test_a_frame_rate_is_believed_from_1_to_1000_a_second(tmp_path):
    """A 1.5 fps slideshow is read over its first 3 s like any clip; a rate under 1 is
    taken for a broken header and read as 25 fps (3 s: its frames at 0 and 2 s)."""
    slow = made(tmp_path, "slow.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=1.5:d=6",
                "-c:v", "libx264", "-pix_fmt", "yuv420p")
    clip = video.read_clip(slow)
    assert (clip.fps, len(clip.frames), clip.duration) == (1.5, 75, 6.0)
    slower = made(tmp_path, "slower.mp4", "-f", "lavfi", "-i", "testsrc=s=320x240:r=0.5:d=6",
                  "-c:v", "libx264", "-pix_fmt", "yuv420p")
    clip = video.read_clip(slower)
    assert (clip.fps, len(clip.frames), clip.duration) == (25.0, 51, 2.04)


@pytest.mark.parametrize("rate, believed", [(1, 1.0), (1000, 1000.0), (1001, 25.0)])
def test_the_believed_frame_rates_end_at_1_and_1000(tmp_path, rate, believed):
    clip = video.read_clip(made(tmp_path, f"r{rate}.mp4", "-f", "lavfi", "-i",
                                f"testsrc=s=64x48:r={rate}:d=3.5", "-c:v", "libx264",
                                "-pix_fmt", "yuv420p"))
    assert clip.fps == believed and len(clip.frames) == 75


def test_a_start_past_the_end_says_how_long_the_video_is_when_known(tmp_path):
    one = made(tmp_path, "one.mp4", "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=0.04",
               "-c:v", "libx264", "-pix_fmt", "yuv420p")  # a single frame: 0.04 s
    with pytest.raises(video.VideoError) as err:
        video.read_clip(one, start=1.0)
    assert str(err.value) == f"{one}: the video is 0.0 s long; nothing from 1 s on"
    # Written to a pipe, a WebM says neither its length nor its frame count.
    import subprocess

    import imageio_ffmpeg

    piped = tmp_path / "piped.webm"
    piped.write_bytes(subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=s=64x48:r=25:d=0.6", "-c:v", "libvpx", "-f", "webm", "pipe:"],
        capture_output=True, check=True, timeout=60).stdout)
    assert video.read_clip(piped).duration == pytest.approx(0.6)
    with pytest.raises(video.VideoError) as err:
        video.read_clip(piped, start=2.0)
    assert str(err.value) == f"{piped}: nothing from 2 s on"


BAND_LEVELS = 16  # a frame's number k in three bands of grey, base 16, 12 levels apart


def numbered_frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    """n grey frames, frame k showing k in three horizontal bands (top: k // 256)."""
    k = np.arange(n)
    frames = np.empty((n, height, width), np.uint8)
    third = height // 3
    for band, digit in enumerate((k // 256, (k // 16) % 16, k % 16)):
        frames[:, band * third:(band + 1) * third] = (20 + 12 * digit)[:, None, None]
    return frames


def frame_numbers(frames: np.ndarray) -> list[int]:
    """The numbers numbered_frames wrote, read back from each band's middle."""
    third = frames.shape[1] // 3
    digits = [np.round((frames[:, b * third + 4:(b + 1) * third - 4].mean(axis=(1, 2)) - 20)
                       / 12).astype(int) for b in range(3)]
    return (digits[0] * 256 + digits[1] * 16 + digits[2]).tolist()


def encoded(tmp_path, name: str, frames: np.ndarray, fps: int, *codec) -> str:
    """`frames` written at `fps` by ffmpeg with the `codec` arguments."""
    import subprocess

    import imageio_ffmpeg

    out = tmp_path / name
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
                    "-f", "rawvideo", "-pix_fmt", "gray", "-s", "64x48", "-r", str(fps),
                    "-i", "-", *codec, str(out)], input=frames.tobytes(), check=True,
                   timeout=60)
    return out


def test_the_numbered_frames_read_back():
    assert frame_numbers(numbered_frames(1200)) == list(range(1200))


@pytest.mark.parametrize("start", [0.96, 40.0])
def test_a_later_start_seeks_to_the_frame_shown_then(tmp_path, start, monkeypatch):
    """From 0.96 s or 40 s into a 45 s file, the 75 frames read are the ones numbered
    24 or 1000 on, and only they are decoded (a seek, not 1000 frames decoded and dropped;
    a seek a frame late would lose the first one)."""
    import cv2

    lossless = ("-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p")
    long = encoded(tmp_path, "long.mp4", numbered_frames(1125), 25, *lossless)
    reads, opened = [], cv2.VideoCapture

    class Counted:  # OpenCV's capture, the frames it decodes counted (not raw packets)
        def __init__(self, *args):
            self.cap = opened(*args)
            self.raw = len(args) > 2 and list(args[2][:2]) == [cv2.CAP_PROP_FORMAT, -1]

        def grab(self):
            reads.append(0 if self.raw else 1)
            return self.cap.grab()

        def read(self):
            reads.append(1)
            return self.cap.read()

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Counted)
    clip = video.read_clip(long, start=start)
    first = round(start * video.FPS)
    assert frame_numbers(clip.frames) == list(range(first, first + video.N_FRAMES))
    assert (clip.start, clip.duration) == (start, 45.0)
    # The 75, the two after them that end it, and one before (a seek may land a frame early).
    assert sum(reads) <= video.N_FRAMES + 3


def test_a_stream_without_timestamps_is_read_frame_by_frame(tmp_path):
    """A raw MPEG-1 stream of two frames: OpenCV stamps both 0 s, so its frames are
    counted at its rate instead (0 and 0.04 s), and its length is theirs."""
    grey = np.repeat(np.array([40, 160], np.uint8), 48 * 64).reshape(2, 48, 64)
    raw = encoded(tmp_path, "raw.m1v", grey, 25, "-c:v", "mpeg1video", "-q:v", "2",
                  "-f", "mpeg1video")
    clip = video.read_clip(raw)
    assert (len(clip.frames), clip.fps, clip.duration) == (2, 25.0, 0.08)
    assert np.abs(clip.frames.mean(axis=(1, 2)) - [40, 160]).max() < 3


def piped_webm(tmp_path, frames: int) -> str:
    """A WebM written to a pipe: it says neither its length nor its frame count."""
    import subprocess

    import imageio_ffmpeg

    piped = tmp_path / f"piped{frames}.webm"
    piped.write_bytes(subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", f"testsrc=s=64x48:r=25:d={frames / 25}", "-c:v", "libvpx", "-f", "webm",
         "pipe:"], capture_output=True, check=True, timeout=60).stdout)
    return piped


def test_a_length_the_file_does_not_say_is_known_only_when_it_ends_within_the_read(tmp_path):
    """Read for 3 s, decoding stops at the first frame after 3.04 s: a 77-frame WebM ends
    there (3.08 s long), a 78-frame one goes on past it (length unknown: 0)."""
    ends, goes_on = video.read_clip(piped_webm(tmp_path, 77)), video.read_clip(
        piped_webm(tmp_path, 78))
    assert (len(ends.frames), ends.duration) == (75, pytest.approx(3.08))
    assert (len(goes_on.frames), goes_on.duration) == (75, 0.0)


def test_an_instant_midway_between_two_frames_takes_the_earlier_one(tmp_path):
    """At 12.5 fps every odd 25 fps instant falls midway between two frames: the earlier,
    the one still shown then, is read (frames i // 2), however the seconds round."""
    lossless = ("-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p")
    clip = video.read_clip(encoded(tmp_path, "half.mp4", numbered_frames(40), 12.5, *lossless))
    assert frame_numbers(clip.frames) == [i // 2 for i in range(video.N_FRAMES)]
    # 20 frames, 1.6 s: its 40 instants, the last (1.56 s) half a frame after its last frame.
    short = video.read_clip(encoded(tmp_path, "short.mp4", numbered_frames(20), 12.5, *lossless))
    assert frame_numbers(short.frames) == [i // 2 for i in range(40)]


def test_a_stream_that_grows_past_its_header_is_read_at_the_headers_size(tmp_path):
    """An MPEG-2 stream of 64x48 frames, then 4000x2256 ones (over 4K's pixels): OpenCV
    scales every frame to the size the header gave, so memory stays what it said."""
    small = made(tmp_path, "small.m2v", "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=0.2",
                 "-c:v", "mpeg2video", "-f", "mpeg2video")
    big = made(tmp_path, "big.m2v", "-f", "lavfi", "-i", "color=c=gray:s=4000x2256:r=25:d=0.08",
               "-c:v", "mpeg2video", "-f", "mpeg2video")
    grows = tmp_path / "grows.m2v"
    grows.write_bytes(small.read_bytes() + big.read_bytes())
    clip = video.read_clip(grows)
    assert clip.frames.shape[1:] == (48, 64) and len(clip.frames) >= 5


def test_a_file_that_opens_but_gives_no_frame_says_so(tmp_path):
    """Cut just after its header: a WebM that does not say its length (read from 0), an MP4
    whose header says 3 s (read from 1 s): no frame, not "nothing from ... on"."""
    webm = piped_webm(tmp_path, 75).read_bytes()
    header = tmp_path / "header.webm"
    header.write_bytes(webm[:webm.index(bytes.fromhex("1f43b675")) + 30])  # a cluster begun
    mp4 = made(tmp_path, "whole.mp4", "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=3",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4[:mp4.index(b"mdat") + 54])
    for path, start in ((header, 0.0), (cut, 1.0)):
        with pytest.raises(video.VideoError) as err:
            video.read_clip(path, start=start)
        assert str(err.value) == f"{path}: no frame could be decoded (corrupt or not a video)"


def test_a_start_at_the_very_end_or_before_0_is_refused(tmp_path):
    one = made(tmp_path, "one.mp4", "-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=0.04",
               "-c:v", "libx264", "-pix_fmt", "yuv420p")
    with pytest.raises(video.VideoError) as err:
        video.read_clip(one, start=0.04)  # its one frame ends at 0.04 s
    assert str(err.value) == f"{one}: the video is 0.0 s long; nothing from 0.04 s on"
    with pytest.raises(video.VideoError) as err:
        video.read_clip(one, start=-0.5)
    assert str(err.value) == f"{one}: the start time must be 0 or more, not -0.5"
