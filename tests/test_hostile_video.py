"""Hostile videos: files that point FFmpeg at other files,
frames too large to decode, and what is no video file at all. Real files, real FFmpeg,
`lipread predict` as a user runs it and the page under AppTest.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import made_once
from lipread import formats, grid, video

ROOT = Path(__file__).resolve().parents[1]
MAX_RSS_MB = 1500  # the bound for a 3 s 8K clip, refused or read


def predict(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lipread", "predict", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def peak_rss_mb(*argv) -> tuple[subprocess.CompletedProcess, float]:
    """Run argv from a fresh Python whose only child it is: that child's peak RSS in MB."""
    probe = ("import resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(p.stderr); sys.stdout.write(p.stdout); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", probe, *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    return proc, int(proc.stdout.strip().splitlines()[-1]) / 1024


def ffmpeg(*args) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
                    *map(str, args)], check=True, timeout=300)


@pytest.fixture
def pointers(tmp_path, grid_dir, test_names):
    """A real clip (`secret.mp4`) and files beside it that name it: an ffconcat list named
    talk.mp4 (48 bytes, as in the finding), an HLS playlist, plain text."""
    secret = tmp_path / "secret.mp4"
    shutil.copyfile(grid.video_path(grid_dir, test_names[0]), secret)
    made = {"secret": secret,
            "concat": tmp_path / "talk.mp4", "hls": tmp_path / "live.mp4",
            "text": tmp_path / "notes.mov"}
    made["concat"].write_text("ffconcat version 1.0\nfile secret.mp4\nfile secret.mp4\n")
    made["hls"].write_text("#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\nsecret.mp4\n"
                           "#EXT-X-ENDLIST\n")
    made["text"].write_text("bin blue at f two now\n")
    return made


@pytest.mark.parametrize("kind, said", [("concat", "concat list"), ("hls", "HLS playlist"),
                                        ("text", "text file")])
def test_predict_refuses_what_names_other_files(pointers, kind, said):
    before = os.stat(pointers["secret"]).st_atime_ns
    proc = predict(pointers[kind], "--json", "-", cwd=pointers["secret"].parent)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread predict: error: "), proc.stderr
    assert said in lines[0] and pointers[kind].name in lines[0] and "give a video" in lines[0]
    assert proc.stdout == ""  # no sentence: the clip it names was never read
    assert os.stat(pointers["secret"]).st_atime_ns == before


@pytest.mark.parametrize("name, head", [
    ("ps.mpg", b"\x00\x00\x01\xba#EXTM3U\n#EXTINF:3.0,\n"),  # MPEG-PS's, then a playlist
    ("box.mp4", b"\x00\x00\x00\x18ftypisom\nffconcat version 1.0\n")],  # ftyp, then ffconcat
    ids=["mpeg-ps-then-playlist", "ftyp-then-ffconcat"])
def test_a_polyglot_file_is_one_line_without_opencvs_own_warning(pointers, name, head):
    """A container's first bytes, then a file list: FFmpeg (held to the video demuxers)
    opens nothing, and the one line is all the user sees; OpenCV's log stays quiet."""
    polyglot = pointers["secret"].parent / name
    polyglot.write_bytes(head + b"file secret.mp4\n")
    proc = predict(polyglot, cwd=polyglot.parent)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"lipread predict: error: {polyglot}: not a video "
                                        "OpenCV can decode (corrupt, or not a video at all)"]


def test_ffmpeg_itself_refuses_a_concat_list(pointers):
    """Behind the check of the first bytes, OpenCV's FFmpeg is held to local files and the
    video demuxers: opened directly, the concat list opens nothing."""
    import cv2

    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == formats.FFMPEG_CAPTURE_OPTIONS
    assert "protocol_whitelist;file" in formats.FFMPEG_CAPTURE_OPTIONS
    cap = cv2.VideoCapture(str(pointers["concat"]), cv2.CAP_FFMPEG)
    assert not cap.isOpened()
    good = cv2.VideoCapture(str(pointers["secret"]), cv2.CAP_FFMPEG)
    assert good.isOpened() and good.read()[0]


@pytest.mark.parametrize("kind", ["concat", "hls"])
def test_the_browser_copy_refuses_what_names_other_files(pointers, kind, tmp_path):
    """The browser's copy (lipread/encode.py, run by browser.py in a child) checks the file
    first; behind that check PyAV's FFmpeg is held to local files and the video demuxers
    too: opened directly, the list or playlist opens nothing."""
    import av

    from lipread import encode

    out = tmp_path / "copy.mp4"
    with pytest.raises(formats.FormatError, match="names other files"):
        encode.browser_copy(pointers[kind], out)
    assert not out.exists()
    assert "protocol_whitelist" in encode.OPEN_OPTIONS
    with pytest.raises(av.FFmpegError):
        av.open(str(pointers[kind]), options=encode.OPEN_OPTIONS).close()
    with av.open(str(pointers["secret"]), options=encode.OPEN_OPTIONS) as good:
        assert good.streams.video


def test_the_encode_entry_point_says_what_was_wrong_in_one_line(pointers, tmp_path):
    """`python -m lipread.encode browser SRC DST [SECONDS]` (browser.py's child): exit 2
    and one line for a bad call or a file that is not a video, 1 for a video FFmpeg fails
    on; never a half-written DST."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 20)
    out = tmp_path / "copy.mp4"
    cases = [([], 2, "usage: python -m lipread.encode browser SRC DST"),
             (["browser", str(pointers["text"]), str(out)], 2, "a text file, not a video"),
             (["browser", str(pointers["secret"]), str(out), "0"], 2,
              "SECONDS must be more than 0"),
             (["browser", str(tmp_path / "missing.mp4"), str(out)], 2, "no such file"),
             (["browser", str(broken), str(out)], 1, "FFmpeg could not convert it")]
    for args, code, said in cases:
        proc = subprocess.run([sys.executable, "-m", "lipread.encode", *args],
                              capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == code and len(lines) == 1 and said in lines[0], (args, proc)
        assert not out.exists() and proc.stdout == ""


@pytest.mark.parametrize("name, head, kind", [
    ("a.mpg", b"\x00\x00\x01\xba\x44", "MPEG-PS"), ("a.m1v", b"\x00\x00\x01\xb3\x16", "MPEG-ES"),
    ("a.mp4", b"\x00\x00\x00\x20ftypisom", "MP4/MOV"),
    ("a.mov", b"\x00\x00\x00\x08wide", "MP4/MOV"),
    ("a.webm", b"\x1a\x45\xdf\xa3\x9f", "Matroska/WebM"), ("a.avi", b"RIFF\x00\x00\x00\x00AVI ",
                                                          "AVI"),
    ("a.ogv", b"OggS\x00\x02", "Ogg"), ("a.flv", b"FLV\x01\x05", "FLV"),
    ("a.y4m", b"YUV4MPEG2 W360 H288", "Y4M")])
def test_the_containers_read(tmp_path, name, head, kind):
    path = tmp_path / name
    path.write_bytes(head + bytes(64))
    assert formats.check_file(path) == kind


@pytest.mark.parametrize("head, said", [
    (b"ffconcat version 1.0\n", "concat list"), (b"\xef\xbb\xbf#EXTM3U\n", "HLS playlist"),
    (b"v=0\no=- 0 0 IN IP4 127.0.0.1\n", "SDP"), (b"\x89PNG\r\n\x1a\n", "image (PNG)"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image (WebP)"), (b"\x47\x40\x11\x10", "transport stream"),
    (b"\x00\x00\x00\x01\x67\x64", "raw video stream"), (b"hello\n", "text file"),
    (bytes(range(200, 256)), "not a video format"),
    # each edge of what a file is said to be
    (b" \r\n\t\xef\xbb\xbf#EXTM3U\n", "HLS playlist"),  # blank lines and a BOM first
    (b"Xv=0\n", "text file"),  # a pointer's first line is the file's first line
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a video format"),  # RIFF, but sound, not WebP
    (b"G", "text file"), (b"\x47\x40", "transport stream"),  # one byte: not a TS packet
    (b"\x00\x00\x01\x65\x88", "raw video stream"),  # a 3-byte start code
    (b"plain text\twith tabs\r\n", "text file"),
    (b"ascii and DEL\x7f", "not a video format"), (b"high bit\x80", "not a video format")])
def test_everything_else_is_refused_with_its_reason(tmp_path, head, said):
    path = tmp_path / "upload.mp4"
    path.write_bytes(head)
    with pytest.raises(formats.FormatError) as caught:
        formats.check_file(path)
    assert said in str(caught.value) and str(path) in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_pipe_and_an_empty_file_fail_before_the_network_loads(tmp_path):
    """Cheap checks first: with weights that do not exist, only the files' own lines come
    out, so the network was never reached."""
    fifo, empty = tmp_path / "camera.mp4", tmp_path / "empty.mp4"
    os.mkfifo(fifo)
    empty.write_bytes(b"")
    proc = predict(fifo, empty, "--weights", tmp_path / "none.weights.h5")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"lipread predict: error: {fifo}: not a regular file (a pipe, socket or "
                     "device): give a video file (mp4, mov, webm, mkv, avi, mpg) of at least 2 s",
                     f"lipread predict: error: {empty}: the file is empty"]


def test_an_8k_clip_is_refused_in_bounded_memory(tmp_path_factory):
    clip = made_once("8k", tmp_path_factory, lambda folder: ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:s=7680x4320:r=25:d=3", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / "big.mp4")) / "big.mp4"
    with pytest.raises(video.VideoError) as err:  # from the header, before a frame is kept
        video.read_clip(clip)
    assert str(err.value) == (f"{clip}: frames of 7680x4320 are larger than the 3840x2160 "
                              "this reads (decoding them would take gigabytes): scale the "
                              "video down, e.g. to 1280 pixels wide")
    proc, peak = peak_rss_mb(sys.executable, "-m", "lipread", "predict", clip)
    assert proc.returncode == 2
    assert "frames of 7680x4320 are larger than the 3840x2160 this reads" in proc.stderr
    assert peak < MAX_RSS_MB, f"peak RSS {peak:.0f} MB"


def test_the_largest_frames_allowed_are_read_shrunk_in_bounded_memory(tmp_path_factory,
                                                                      grid_dir, test_names):
    """A GRID clip blown up into a 3840x2160 frame: read (shrunk to 1920x1080 as decoded),
    the same sentence as the original, under the bound."""
    src = grid.video_path(grid_dir, test_names[0])
    clip = made_once("uhd", tmp_path_factory, lambda folder: ffmpeg(
        "-i", src, "-vf", "scale=2700:2160,pad=3840:2160:600:0", "-c:v", "libx264",
        "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / "uhd.mp4")) / "uhd.mp4"
    shrunk = video.read_clip(clip)
    assert shrunk.frames.shape == (75, 1080, 1920)
    proc, peak = peak_rss_mb(sys.executable, "-m", "lipread", "predict", clip, "--decoder",
                             "grammar")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) >= 6
    assert peak < MAX_RSS_MB, f"peak RSS {peak:.0f} MB"


def test_a_high_frame_rate_keeps_one_frame_per_instant(tmp_path_factory, grid_dir, test_names):
    """250 fps for 3 s would be 750 frames; what is kept is 75, the same as at 25 fps."""
    src = grid.video_path(grid_dir, test_names[0])
    fast = made_once("250fps", tmp_path_factory, lambda folder: ffmpeg(
        "-i", src, "-vf", "fps=250", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", folder / "fast.mp4")) / "fast.mp4"
    read = video.read_clip(fast)
    assert read.frames.shape[0] == 75 and read.fps == 250
    original = video.read_clip(src).frames.astype(float)
    assert abs(read.frames.astype(float) - original).mean() < 3  # codec noise only


@pytest.mark.parametrize("upload, said", [
    (b"ffconcat version 1.0\nfile ../s1/bbaf2n.mpg\n", "concat list"),
    (b"#EXTM3U\n#EXTINF:3.0,\n../s1/bbaf2n.mpg\n", "HLS playlist"),
    (b"bin blue at f two now\n", "text file")])
def test_the_page_refuses_what_names_other_files(tmp_path, monkeypatch, grid_dir, upload, said):
    """The upload names a data clip by a relative path, as the finding's did: refused from
    its first bytes with one line, no reading, no browser copy; its private temp folder is
    gone afterwards."""
    import tempfile

    from streamlit.testing.v1 import AppTest

    from lipread.app import files

    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # read TMPDIR again
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    copies = set((tmp_path / "videos").glob("*.mp4"))  # the data clip shown first
    at.file_uploader(key="upload").set_value(("talk.mp4", upload, "video/mp4"))
    at.run()
    tempfile.tempdir = None
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and said in errors[0], errors
    assert "talk.mp4:" in errors[0]
    assert errors[0].count("Try another file") == 1 and "give a video file" not in errors[0]
    assert not at.get("vega_lite_chart") and not at.get("video")
    assert set((tmp_path / "videos").glob("*.mp4")) == copies  # no browser copy of it
    assert not list((tmp_path / "tmp").glob(f"{files.UPLOAD_PREFIX}*"))


def test_the_file_decoded_is_the_file_checked(pointers, tmp_path):
    """A file swapped for a concat list after its first bytes were checked: what FFmpeg
    opens is still the file that was checked (held open, opened by descriptor)."""
    import cv2

    path = tmp_path / "swapped.mp4"
    path.write_bytes(pointers["secret"].read_bytes())
    with formats.opened(path) as (kind, source):
        os.replace(pointers["concat"], path)  # the name now holds the concat list
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
        assert kind == formats.check_file(pointers["secret"]) and cap.isOpened() and cap.read()[0]
        cap.release()
    with pytest.raises(video.VideoError, match="concat list"):
        video.read_clip(path)

