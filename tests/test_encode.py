"""Writing video in this process (lipread.encode), read back with PyAV: the camera's frames
as an MP4, a browser's copy (H.264 and AAC, upright, its first seconds, even sizes), a clip
filmed again through FFmpeg's filters, each written whole or not at all, and the child
process's command line with its one-line errors.
"""
from __future__ import annotations

import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from conftest import ffmpeg_exe
from lipread import encode, formats


def lavfi(path, source, *args):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source,
                    *args, str(path)], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Small videos: 3 s with a tone, 2 s of an odd size without sound, one filmed
    sideways (a display matrix), and one with sound only."""
    d = tmp_path_factory.mktemp("clips")
    voiced = d / "voiced.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=s=96x64:r=25:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3",
                    "-c:v", "mpeg4", "-c:a", "pcm_s16le", str(voiced)], check=True, timeout=60)
    odd = lavfi(d / "odd.mkv", "testsrc=s=75x49:r=10:d=2", "-c:v", "mpeg4")
    land = lavfi(d / "land.mp4", "testsrc=s=96x64:r=25:d=1", "-c:v", "libx264",
                 "-pix_fmt", "yuv420p")
    phone = d / "phone.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-display_rotation:v:0",
                    "90", "-i", str(land), "-c", "copy", str(phone)], check=True, timeout=60)
    sound = lavfi(d / "sound.mkv", "sine=f=440:d=1", "-c:a", "pcm_s16le")
    return {"voiced": voiced, "odd": odd, "land": land, "phone": phone, "sound": sound}


def probe(path):
    """(video codec, pix_fmt, width, height, frame rate, frames, seconds of video, audio
    codec or None, the first frame in RGB, its rotation)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0].codec_context.name if c.streams.audio else None
        frames = list(c.decode(v))
        first = frames[0]
        seconds = float((frames[-1].pts - frames[0].pts) * v.time_base)
        return (v.codec_context.name, v.codec_context.pix_fmt, v.width, v.height,
                v.average_rate, len(frames), seconds, a,
                first.to_ndarray(format="rgb24").astype(np.int16), first.rotation)


def test_the_cameras_frames_become_an_h264_mp4_at_25_fps():
    frames = []
    for i in range(30):
        y = np.full((48, 64), 40 + 5 * i, np.uint8)
        y[10:20, 10:30] = 200
        frames.append(np.concatenate([y, np.full((24, 64), 128, np.uint8)]))
    data = encode.mp4_from_yuv(frames, (64, 48))
    assert data[4:8] == b"ftyp" and b"moov" in data[:4096]  # faststart: the index first
    import io

    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        got = [f.to_ndarray()[:48] for f in c.decode(v)]  # yuv420p: Y, as written
        assert v.codec_context.name == "h264" and v.average_rate == 25
    assert len(got) == 30 and got[0].shape == (48, 64)
    assert abs(int(got[29][40, 50]) - (40 + 5 * 29)) <= 4 and abs(int(got[0][15, 20]) - 200) <= 8
    slow = encode.mp4_from_yuv(frames[:5], (64, 48), fps=10)
    with av.open(io.BytesIO(slow)) as c:
        assert c.streams.video[0].average_rate == 10 and c.streams.video[0].frames == 5


def test_frames_of_an_odd_size_are_written_at_the_even_size_below():
    import io

    data = encode.mp4_from_yuv([np.full((72, 66), 100, np.uint8)] * 3, (65, 49))
    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (64, 48) and v.frames == 3
    assert encode._even(1) == 2 and encode._even(2) == 2 and encode._even(75) == 74


def test_a_browser_copy_is_h264_with_aac_sound(clips, tmp_path):
    out = encode.browser_copy(clips["voiced"], tmp_path / "copy.mp4")
    assert out == tmp_path / "copy.mp4"
    codec, pix, w, h, rate, n, seconds, audio, first, rotation = probe(out)
    assert (codec, pix, w, h, rate, n, audio, rotation) == ("h264", "yuv420p", 96, 64, 25, 75,
                                                            "aac", 0)
    _, _, _, _, _, _, _, _, original, _ = probe(clips["voiced"])
    assert np.abs(first - original).mean() < 8
    with av.open(str(out)) as c:
        assert c.streams.audio[0].bit_rate in range(100_000, 140_000)
        assert c.streams.audio[0].rate == 44100


def test_a_browser_copy_keeps_the_first_seconds_asked_for(clips, tmp_path):
    out = encode.browser_copy(clips["voiced"], tmp_path / "copy.mp4", seconds=1)
    *_, n, seconds, audio, _, _ = probe(out)
    assert n in (25, 26) and seconds <= 1.0 and audio == "aac"
    with av.open(str(out)) as c:
        sound = sum(f.samples for f in c.decode(audio=0))
    assert 44100 * 0.9 < sound < 44100 * 1.2  # the sound cut with the video


def test_a_browser_copy_of_an_odd_silent_video_is_even_and_silent(clips, tmp_path):
    codec, pix, w, h, rate, n, _, audio, _, _ = probe(
        encode.browser_copy(clips["odd"], tmp_path / "copy.mp4"))
    assert (codec, pix, w, h, rate, n, audio) == ("h264", "yuv420p", 74, 48, 10, 20, None)


def test_a_browser_copy_stands_a_sideways_video_upright(clips, tmp_path):
    *_, phone_first, phone_rotation = probe(clips["phone"])
    assert phone_rotation != 0
    _, _, w, h, *_, first, rotation = probe(encode.browser_copy(clips["phone"],
                                                                tmp_path / "copy.mp4"))
    assert (w, h, rotation) == (64, 96, 0)
    *_, land, _ = probe(clips["land"])
    turned = np.rot90(land, round(phone_rotation / 90) % 4)
    assert np.abs(first - turned).mean() < 8 < np.abs(first - turned[::-1, ::-1]).mean()


def test_frames_are_turned_by_whole_quarter_turns():
    frame = av.VideoFrame.from_ndarray(np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3),
                                       format="rgb24")
    frame.pts, frame.time_base = 7, Fraction(1, 25)
    assert encode._rotated(frame, 0) is frame and encode._rotated(frame, 360) is frame
    for degrees, turns in ((90, 1), (-90, 3), (180, 2), (270, 3), (89, 1)):
        turned = encode._rotated(frame, degrees)
        assert np.array_equal(turned.to_ndarray(format="rgb24"),
                              np.rot90(frame.to_ndarray(format="rgb24"), turns))
        assert turned.pts == 7 and turned.time_base == Fraction(1, 25)


def test_a_file_with_no_video_makes_no_copy(clips, tmp_path):
    with pytest.raises(encode.EncodeError, match=r"sound\.mkv: no video stream$"):
        encode.browser_copy(clips["sound"], tmp_path / "copy.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_file_ffmpeg_cannot_decode_leaves_no_copy(tmp_path):
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 20)
    with pytest.raises((encode.EncodeError, formats.FormatError)) as err:
        encode.browser_copy(broken, tmp_path / "copy.mp4")
    assert "broken.mkv" in str(err.value) or "no video frame" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mkv"]


def test_what_is_written_is_whole_or_removed(tmp_path):
    dst = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with encode._written(dst) as name:
            assert name == str(dst)
            dst.write_bytes(b"half")
            raise KeyboardInterrupt
    assert not dst.exists()
    with encode._written(dst) as name:
        dst.write_bytes(b"whole")
    assert dst.read_bytes() == b"whole"


def test_refilm_pads_and_resamples_as_its_filters_say(clips, tmp_path):
    out = encode.refilm(clips["land"], tmp_path / "padded.mp4", "pad=160:100:30:20")
    codec, pix, w, h, rate, n, _, audio, first, _ = probe(out)
    assert (codec, pix, w, h, rate, n, audio) == ("h264", "yuv420p", 160, 100, 25, 25, None)
    *_, land, _ = probe(clips["land"])
    assert np.abs(first[20:84, 30:126] - land).mean() < 4 and first[:15].max() < 20
    faster = encode.refilm(clips["land"], tmp_path / "fps50.mp4", "fps=50")
    _, _, w, h, rate, n, *_ = probe(faster)
    assert (w, h, rate) == (96, 64, 50) and n in (49, 50, 51)


def test_refilm_with_no_frame_through_its_filters_leaves_nothing(clips, tmp_path):
    with pytest.raises(encode.EncodeError) as err:
        encode.refilm(clips["land"], tmp_path / "none.mp4", "trim=start=100")
    assert str(err.value) == f"{clips['land']}: no frame came through the filters 'trim=start=100'"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, code, said", [
    ([], 2, "usage: python -m lipread.encode browser SRC DST [SECONDS]"),
    (["copy", "a", "b"], 2, "usage: python -m lipread.encode browser SRC DST [SECONDS]"),
    (["browser", "a"], 2, "usage: python -m lipread.encode browser SRC DST [SECONDS]"),
    (["browser", "a", "b", "1", "2"], 2, "usage: python -m lipread.encode"),
    (["browser", "{voiced}", "{dst}", "0"], 2,
     "lipread.encode: error: SECONDS must be more than 0, not 0"),
    (["browser", "{voiced}", "{dst}", "nan"], 2,
     "lipread.encode: error: SECONDS must be more than 0, not nan"),
    (["browser", "{voiced}", "{dst}", "soon"], 2,
     "lipread.encode: error: could not convert string to float: 'soon'"),
    (["browser", "{sound}", "{dst}"], 1, "lipread.encode: error: {sound}: no video stream"),
    (["browser", "{missing}", "{dst}"], 2, "lipread.encode: error: "),
])
def test_the_child_process_command_says_one_line_and_its_exit_code(clips, tmp_path, capsys,
                                                                     argv, code, said):
    names = {"voiced": clips["voiced"], "sound": clips["sound"], "dst": tmp_path / "c.mp4",
             "missing": tmp_path / "missing.mp4"}
    argv = [a.format(**names) for a in argv]
    assert encode.main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith(said.format(**names)) and err.count("\n") == 1
    assert not (tmp_path / "c.mp4").exists()


def test_the_child_process_command_writes_the_copy(clips, tmp_path, capsys):
    assert encode.main(["browser", str(clips["voiced"]), str(tmp_path / "c.mp4"), "2"]) == 0
    assert capsys.readouterr().err == ""
    *_, n, _, audio, _, _ = probe(tmp_path / "c.mp4")
    assert n in (50, 51) and audio == "aac"


def boxes(path) -> list[bytes]:
    """The MP4's top-level boxes, in order."""
    data, at, names = path.read_bytes(), 0, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        names.append(data[at + 4:at + 8])
        at += size if size >= 8 else len(data)
    return names


def test_a_browser_copy_is_an_mp4_whose_index_comes_first_whatever_it_is_called(clips,
                                                                                tmp_path):
    """The copy starts playing before it has all arrived (faststart: the index, moov, before
    the media, mdat), and is an MP4 even when its file's name says nothing."""
    out = encode.browser_copy(clips["voiced"], tmp_path / "upload-1")
    found = boxes(out)
    assert found[0] == b"ftyp" and found.index(b"moov") < found.index(b"mdat")
    assert probe(out)[0] == "h264"
    refilmed = boxes(encode.refilm(clips["land"], tmp_path / "refilmed", "fps=25"))
    assert refilmed[0] == b"ftyp" and b"mdat" in refilmed


def test_an_odd_sized_copy_shows_the_same_picture(clips, tmp_path):
    *_, first, _ = probe(encode.browser_copy(clips["odd"], tmp_path / "copy.mp4"))
    import cv2

    *_, original, _ = probe(clips["odd"])
    def coarse(rgb):  # the picture, not its compression's fine detail
        return cv2.resize(rgb.astype(np.uint8), (37, 24), interpolation=cv2.INTER_AREA)
    assert first.shape == (48, 74, 3)
    assert np.abs(coarse(first).astype(int) - coarse(original)).mean() < 8


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    """3 s of video whose clock starts at 5 s; 3 s of video with its sound 0.5 s late; and
    3 s with its picture 0.5 s late."""
    d = tmp_path_factory.mktemp("late")
    offset = lavfi(d / "offset.mkv", "testsrc=s=96x64:r=25:d=3", "-c:v", "mpeg4",
                   "-output_ts_offset", "5")
    made = {"offset": offset}
    for name, video, sound in (("sound_late", [], ["-itsoffset", "0.5"]),
                               ("picture_late", ["-itsoffset", "0.5"], [])):
        made[name] = d / f"{name}.mkv"
        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *video, "-f", "lavfi",
                        "-i", "testsrc=s=96x64:r=25:d=3", *sound, "-f", "lavfi", "-i",
                        "sine=f=440:d=3", "-c:v", "mpeg4", "-c:a", "pcm_s16le",
                        str(made[name])], check=True, timeout=60)
    return made


def test_the_seconds_kept_count_from_the_videos_first_frame_not_from_zero(late, tmp_path):
    with av.open(str(late["offset"])) as c:
        assert next(c.decode(video=0)).time == pytest.approx(5.0)
    *_, n, seconds, _, _, _ = probe(encode.browser_copy(late["offset"], tmp_path / "c.mp4",
                                                        seconds=1))
    # frames at 5.00 ... 6.00 s: one second's 25 frames and the one at its end
    assert n == 26 and seconds == pytest.approx(1.0)


def sound_seconds(path) -> float:
    with av.open(str(path)) as c:
        return sum(f.samples for f in c.decode(audio=0)) / c.streams.audio[0].rate


def test_sound_that_starts_after_the_picture_is_copied_with_it(late, tmp_path):
    out = encode.browser_copy(late["sound_late"], tmp_path / "c.mp4", seconds=1)
    assert probe(out)[5] == 26  # the picture's second
    assert 0.4 < sound_seconds(out) < 0.7  # and the half second of sound within it


def test_sound_before_the_picture_is_kept_and_the_picture_keeps_its_own_seconds(late,
                                                                               tmp_path):
    out = encode.browser_copy(late["picture_late"], tmp_path / "c.mp4", seconds=1)
    assert probe(out)[5] == 26  # 0.5 s to 1.5 s
    assert 0.9 < sound_seconds(out) < 1.2  # the sound's own first second


def test_refilm_runs_every_filter_of_the_chain_on_the_video_alone(clips, tmp_path):
    out = encode.refilm(clips["voiced"], tmp_path / "both.mp4", "pad=160:100:30:20,fps=50")
    _, _, w, h, rate, n, _, audio, _, _ = probe(out)
    assert (w, h, rate, audio) == (160, 100, 50, None) and n in (149, 150, 151)


def test_refilm_reads_only_local_files_of_the_video_demuxers(clips, tmp_path):
    import shutil

    shutil.copy(clips["land"], tmp_path / "land.mp4")
    listing = tmp_path / "list.ffconcat"  # a concat list names other files: refused
    listing.write_text("ffconcat version 1.0\nfile 'land.mp4'\n")
    with pytest.raises(av.FFmpegError):
        encode.refilm(listing, tmp_path / "out.mp4", "fps=25")
    assert not (tmp_path / "out.mp4").exists()


def test_frames_are_turned_by_the_nearest_quarter_turn():
    frame = av.VideoFrame.from_ndarray(np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3),
                                       format="rgb24")
    frame.pts, frame.time_base = 0, Fraction(1, 25)
    for degrees, turns in ((136, 2), (134, 1), (-136, 2), (44, 0)):
        assert np.array_equal(encode._rotated(frame, degrees).to_ndarray(format="rgb24"),
                              np.rot90(frame.to_ndarray(format="rgb24"), turns))


def test_the_child_process_command_reads_its_arguments_and_any_seconds_above_0(
        clips, tmp_path, capsys, monkeypatch):
    dst = tmp_path / "c.mp4"
    monkeypatch.setattr("sys.argv", ["lipread.encode", "browser", str(clips["voiced"]),
                                     str(dst), "0.5"])
    assert encode.main() == 0 and capsys.readouterr().err == ""
    assert probe(dst)[5] in (13, 14)  # half a second at 25 fps
    monkeypatch.setattr("sys.argv", ["lipread.encode", "browser", str(clips["voiced"])])
    assert encode.main() == 2


@pytest.mark.parametrize("error, code", [(PermissionError(), 1), (encode.EncodeError(""), 1),
                                         (ValueError(), 2), (OSError("one\ntwo"), 1)])
def test_an_error_without_words_is_named_by_its_kind(clips, tmp_path, capsys, monkeypatch,
                                                     error, code):
    def fails(src, dst, seconds):
        raise error
    monkeypatch.setattr(encode, "browser_copy", fails)
    assert encode.main(["browser", str(clips["voiced"]), str(tmp_path / "c.mp4")]) == code
    said = str(error).split("\n")[0] or type(error).__name__  # the first line, or the kind
    assert capsys.readouterr().err == f"lipread.encode: error: {said}\n"


def test_a_video_with_two_sound_tracks_is_copied_with_the_first(tmp_path):
    src = tmp_path / "two.mkv"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=s=96x64:r=25:d=3", "-f", "lavfi", "-i", "sine=f=440:d=1", "-f",
                    "lavfi", "-i", "sine=f=880:d=3", "-map", "0", "-map", "1", "-map", "2",
                    "-c:v", "mpeg4", "-c:a", "pcm_s16le", str(src)], check=True, timeout=60)
    out = encode.browser_copy(src, tmp_path / "c.mp4")
    assert probe(out)[5] == 75
    assert 0.9 < sound_seconds(out) < 1.2  # the first track's second, not both tracks' four


def test_a_video_stream_without_a_frame_makes_no_copy(tmp_path):
    src = tmp_path / "no-pictures.mkv"
    with av.open(str(src), "w") as out:  # a video stream declared, only sound written
        pictures = out.add_stream("mpeg4", rate=25)
        pictures.width, pictures.height, pictures.pix_fmt = 96, 64, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=8000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 800
            for p in sound.encode(frame):
                out.mux(p)
        for stream in (sound, pictures):
            for p in stream.encode(None):
                out.mux(p)
    with pytest.raises(encode.EncodeError) as err:
        encode.browser_copy(src, tmp_path / "c.mp4")
    assert str(err.value) == "no video frame could be decoded (corrupt or not a video)"
    assert not (tmp_path / "c.mp4").exists()


def test_each_kind_of_copy_is_encoded_at_its_quality(clips, tmp_path):
    """x264 writes its settings into the stream: a copy to watch at crf 23, the camera's
    clip too, a clip filmed again near-lossless at crf 18."""
    watch = encode.browser_copy(clips["voiced"], tmp_path / "watch.mp4").read_bytes()
    again = encode.refilm(clips["land"], tmp_path / "again.mp4", "fps=25").read_bytes()
    frames = [np.full((72, 64), 100, np.uint8) for _ in range(5)]
    camera = encode.mp4_from_yuv(frames, (64, 48))
    assert b"crf=23.0" in watch and b"crf=23.0" in camera and b"crf=18.0" in again
    assert b"subme=2" in watch and b"subme=7" in again  # veryfast and medium presets
    (tmp_path / "camera.mp4").write_bytes(camera)
    found = boxes(tmp_path / "camera.mp4")  # the camera's clip starts playing at once too
    assert found[0] == b"ftyp" and found.index(b"moov") < found.index(b"mdat")
