"""Writing video: H.264 MP4s by PyAV's own FFmpeg (libx264, AAC), no ffmpeg binary needed.

    data = mp4_from_yuv(frames, (360, 288))         # frames the camera gave -> mp4 bytes
    browser_copy(src, dst)                          # any video read -> what browsers play
    refilm(src, dst, "pad=640:480:230:160")         # through FFmpeg filters, as H.264

PyAV is in the reading set already (the Live page's WebRTC runs on it); writing with it
spares the reading install imageio-ffmpeg's 165 MiB binary. A file someone gave is
converted in a child process (`python -m lipread.encode browser SRC DST`, browser.py),
which a timeout can kill whatever FFmpeg does with it; its container is checked first,
and FFmpeg held to local files and the video demuxers, as when it is read (formats.py).
"""
from __future__ import annotations

import contextlib
import itertools
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipread import formats

FPS = 25  # what the camera's frames are written at (video.FPS)
BROWSER_SECONDS = 60  # a browser copy keeps a long video's first minute
BROWSER_X264 = {"preset": "veryfast", "crf": "23"}  # to watch
REFILM_X264 = {"preset": "medium", "crf": "18"}  # to read again: near-lossless
AUDIO_BITRATE = 128_000
# FFmpeg held to local files and the demuxers formats.py names (a playlist or a concat
# list, which name other files, is refused by FFmpeg as well as by formats.check_file).
OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": ",".join(formats.DEMUXERS)}


class EncodeError(RuntimeError):
    """A video FFmpeg could not read or write; one line."""


@contextlib.contextmanager
def _written(dst):
    """`dst` as written whole, or not at all: removed when writing it fails."""
    try:
        yield str(dst)
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise


def _even(n: int) -> int:
    return max(2, n - n % 2)  # yuv420p needs even sizes


def _video_out(out, rate, width: int, height: int, options: dict):
    stream = out.add_stream("libx264", rate=rate, options=dict(options))
    stream.width, stream.height, stream.pix_fmt = _even(width), _even(height), "yuv420p"
    return stream


def _flush(out, *streams) -> None:
    for stream in streams:
        for packet in stream.encode(None):
            out.mux(packet)


def mp4_from_yuv(yuv: list[np.ndarray], size: tuple[int, int], fps: int = FPS) -> bytes:
    """yuv420p frames ((H*3/2, W) uint8 each) of `size` (W, H) as an H.264 mp4 at `fps`
    (written in a private temp folder: faststart rewrites the file once it is whole)."""
    import tempfile

    import av

    width, height = size
    with tempfile.TemporaryDirectory(prefix="lipread-mp4-") as folder:
        path = Path(folder) / "clip.mp4"
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = _video_out(out, fps, width, height, BROWSER_X264)
            for i, plane in enumerate(yuv):
                frame = av.VideoFrame.from_ndarray(plane, format="yuv420p")
                frame.pts = i  # (scaled to the stream's even size as it is encoded)
                for packet in stream.encode(frame):
                    out.mux(packet)
            _flush(out, stream)
        return path.read_bytes()


def _rotated(frame, degrees: int):
    """A frame turned as its display matrix says (phones film sideways and say so)."""
    import av

    turns = round(degrees / 90) % 4
    if not turns:
        return frame
    rgb = np.rot90(frame.to_ndarray(format="rgb24"), turns)
    turned = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    turned.pts, turned.time_base = frame.pts, frame.time_base
    return turned


def browser_copy(src, dst, seconds: float = BROWSER_SECONDS) -> Path:
    """`src`'s first `seconds` as H.264 (yuv420p, turned upright) with its first audio
    stream as AAC, an MP4 that starts playing before it has all arrived. The file is held
    open and checked first, and the very file checked is decoded (formats.opened). Raises
    EncodeError, formats.FormatError."""
    import av

    try:
        with formats.opened(src) as (_, source), av.open(source, options=OPEN_OPTIONS) as inp:
            if not inp.streams.video:
                raise EncodeError(f"{src}: no video stream")
            vin = inp.streams.video[0]
            ain = inp.streams.audio[0] if inp.streams.audio else None
            with _written(dst) as name, av.open(name, "w", format="mp4",
                                                options={"movflags": "+faststart"}) as out:
                _copy(inp, out, vin, ain, seconds)
    except av.FFmpegError as err:
        raise EncodeError(f"{src}: FFmpeg could not convert it ({err})") from None
    return Path(dst)


def _copy(inp, out, vin, ain, seconds: float) -> None:
    """The frames of `vin` (and `ain`) in their first `seconds`, encoded into `out`; the
    rest of the file is not decoded. Both streams are added before the first packet is
    written (a stream added later has no clock): sound that comes before the first picture
    waits for it (at most `seconds` of it)."""
    vout = aout = None
    early = []  # sound decoded before the first picture
    start: dict = {}  # each stream's first time: `seconds` counts from there
    for packet in inp.demux(*[s for s in (vin, ain) if s is not None]):
        for frame in packet.decode():
            if frame.time is not None:
                first = start.setdefault(packet.stream.index, frame.time)
                if frame.time - first > seconds:
                    if packet.stream is vin:  # the video has its minute: the rest
                        _flush(out, *[s for s in (vout, aout) if s is not None])  # is not
                        return  # decoded
                    continue
            if packet.stream is vin:
                frame = _rotated(frame, frame.rotation)
                if vout is None:
                    vout = _video_out(out, vin.average_rate or vin.guessed_rate or FPS,
                                      frame.width, frame.height, BROWSER_X264)
                    vout.codec_context.time_base = vin.time_base
                    if ain is not None:
                        aout = out.add_stream("aac", rate=ain.rate)
                        aout.bit_rate = AUDIO_BITRATE
                        for sound in early:
                            for p in aout.encode(sound):
                                out.mux(p)
                for p in vout.encode(frame):  # PyAV scales it to the stream's size and format
                    out.mux(p)
            elif aout is None:
                early.append(frame)
            else:
                for p in aout.encode(frame):
                    out.mux(p)
    if vout is None:
        raise EncodeError("no video frame could be decoded (corrupt or not a video)")
    _flush(out, *[s for s in (vout, aout) if s is not None])


def refilm(src, dst, filters: str) -> Path:
    """`src`'s video through an FFmpeg filter chain ("a=x:y,b=z"; no commas inside a
    filter's arguments), as near-lossless H.264 without sound: the same clip as another
    camera might have filmed it."""
    import av

    steps = [step.partition("=")[::2] for step in filters.split(",")]
    with av.open(str(src), options=OPEN_OPTIONS) as inp, _written(dst) as name, \
            av.open(name, "w", format="mp4") as out:
        vin = inp.streams.video[0]
        rate = next((Fraction(args) for name, args in steps if name == "fps"),
                    vin.average_rate or vin.guessed_rate or FPS)
        graph = av.filter.Graph()
        node = graph.add_buffer(template=vin)
        for name, args in [*steps, ("buffersink", "")]:
            after = graph.add(name, args or None)
            node.link_to(after)
            node = after
        graph.configure()
        vout = None
        for frame in itertools.chain(inp.decode(vin), [None]):  # None: the end, flushing
            graph.vpush(frame)
            while True:
                try:
                    done = graph.vpull()
                except (av.BlockingIOError, av.EOFError):
                    break
                if vout is None:
                    vout = _video_out(out, rate, done.width, done.height, REFILM_X264)
                    vout.codec_context.time_base = done.time_base
                for p in vout.encode(done):  # scaled to the stream's size and format
                    out.mux(p)
        if vout is None:
            raise EncodeError(f"{src}: no frame came through the filters {filters!r}")
        _flush(out, vout)
    return Path(dst)


def _first_line(err: Exception) -> str:
    """An error's first line, or its kind where it has no words."""
    return str(err).partition("\n")[0] or type(err).__name__


def main(argv=None) -> int:
    """`python -m lipread.encode browser SRC DST [SECONDS]`: browser_copy in a process of
    its own; one line on stderr, and exit 2 for a file that is not a video it reads (or a
    bad usage), 1 when FFmpeg fails on it."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (3, 4) or args[0] != "browser":
        print("usage: python -m lipread.encode browser SRC DST [SECONDS]", file=sys.stderr)
        return 2
    try:
        seconds = float(args[3]) if len(args) == 4 else BROWSER_SECONDS
        if not seconds > 0:
            raise ValueError(f"SECONDS must be more than 0, not {args[3]}")
        browser_copy(args[1], args[2], seconds)
    except (formats.FormatError, ValueError) as err:
        print(f"lipread.encode: error: {_first_line(err)}", file=sys.stderr)
        return 2
    except (EncodeError, OSError) as err:
        print(f"lipread.encode: error: {_first_line(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
