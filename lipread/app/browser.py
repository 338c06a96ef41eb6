"""A browser-playable copy of any video the page shows: H.264/AAC MP4 by the ffmpeg that
imageio-ffmpeg ships, converted once per content into the per-user cache."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

from lipread import formats
from lipread.app.files import cache_dir

CONVERT_TIMEOUT_S = 180  # a stuck ffmpeg is killed after this
MAX_VIDEO_SECONDS = 60  # the browser copy of a long upload keeps its first minute
CACHE_MAX_BYTES = 1_000_000_000  # converted videos kept per user, the least recently used
CACHE_MAX_AGE_S = 30 * 86400  # go first; none is kept unused longer than this
PARTIAL_MAX_AGE_S = 3600  # a conversion still unfinished after this was killed


class ConversionError(RuntimeError):
    """ffmpeg could not make a browser-playable copy of a video."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped in the imageio-ffmpeg wheel: no system ffmpeg needed."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def to_browser_mp4(src, digest: str) -> tuple[Path, bool]:
    """An H.264/AAC MP4 copy of `src` that browsers play, converted once per content.

    Returns (path, converted_now). The copy is named by the content's sha256 and
    written under a unique temp name first, then renamed: concurrent users never
    see a half-written file. Sound is kept where the source has some.
    """
    import ffmpeg  # ffmpeg-python: builds the argument list, runs it without a shell

    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("digest must be a sha256 hex string")
    folder = cache_dir()
    target = folder / f"{digest}.mp4"
    if target.is_file() and target.stat().st_size > 0:
        os.utime(target)  # used now: the last to go when the cache is trimmed
        return target, False
    partial = folder / f".{digest}.{uuid.uuid4().hex}.part.mp4"
    try:
        formats.check_file(src)
    except formats.FormatError as err:
        raise ConversionError(str(err)) from None
    # Local files and the video demuxers only, as when the page reads it (formats.py).
    source = ffmpeg.input(str(src), t=MAX_VIDEO_SECONDS, protocol_whitelist="file",
                          format_whitelist=",".join(formats.DEMUXERS))
    stream = ffmpeg.output(
        source["v:0"], str(partial), **{"map": "0:a:0?"},  # the audio, if any
        vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=23,
        vf="scale=trunc(iw/2)*2:trunc(ih/2)*2",  # yuv420p needs even sizes
        acodec="aac", audio_bitrate="128k", movflags="+faststart", format="mp4",
    ).global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
    process = stream.run_async(cmd=ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
    try:
        _, err = process.communicate(timeout=CONVERT_TIMEOUT_S)
        if process.returncode != 0 or not partial.is_file():
            lines = err.decode(errors="replace").strip().splitlines()
            raise ConversionError("ffmpeg could not convert the video: "
                                  + (lines[-1] if lines else f"exit {process.returncode}"))
        os.replace(partial, target)
        trim_cache(folder, keep=target)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise ConversionError(f"ffmpeg took over {CONVERT_TIMEOUT_S} s; gave up") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return target, True


def trim_cache(folder: Path, keep: Path | None = None, max_bytes: int = CACHE_MAX_BYTES,
               max_age_s: float = CACHE_MAX_AGE_S) -> list[Path]:
    """The cache of converted videos under its caps: copies unused for `max_age_s` go, then
    the least recently used until the rest fit in `max_bytes` (never `keep`), and the
    partial files of killed conversions. Returns what was removed."""
    now, removed, kept_bytes = time.time(), [], 0
    for part in folder.glob(".*.part.mp4"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > PARTIAL_MAX_AGE_S:
                part.unlink()
                removed.append(part)
    copies = []
    for path in folder.glob("*.mp4"):
        with contextlib.suppress(OSError):
            info = path.stat()
            copies.append((info.st_mtime, info.st_size, path))
    for mtime, size, path in sorted(copies, reverse=True):  # the most recently used first
        if path != keep and (now - mtime > max_age_s or kept_bytes + size > max_bytes):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
            continue
        kept_bytes += size
    return removed
