"""A browser-playable copy of any video the page shows: H.264/AAC MP4 by PyAV's FFmpeg
(lipread/encode.py, in a child process a timeout can kill), converted once per content
into the per-user cache."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lipread import formats
from lipread.app.files import cache_dir

CONVERT_TIMEOUT_S = 180  # a stuck conversion is killed after this
MAX_VIDEO_SECONDS = 60  # the browser copy of a long upload keeps its first minute
CACHE_MAX_BYTES = 1_000_000_000  # converted videos kept per user, the least recently used
CACHE_MAX_AGE_S = 30 * 86400  # go first; none is kept unused longer than this
PARTIAL_MAX_AGE_S = 3600  # a conversion still unfinished after this was killed
CHILD_SAYS = "lipread.encode: error: "  # how the child's one line starts


class ConversionError(RuntimeError):
    """ffmpeg could not make a browser-playable copy of a video."""


def to_browser_mp4(src, digest: str) -> tuple[Path, bool]:
    """An H.264/AAC MP4 copy of `src` that browsers play, converted once per content.

    Returns (path, converted_now). The copy is named by the content's sha256 and
    written under a unique temp name first, then renamed: concurrent users never
    see a half-written file. Sound is kept where the source has some.
    """
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
    # An argument list, no shell; the child checks the container again and holds FFmpeg
    # to local files and the video demuxers, as when the page reads it (formats.py).
    cmd = [sys.executable, "-m", "lipread.encode", "browser", str(src), str(partial),
           str(MAX_VIDEO_SECONDS)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=CONVERT_TIMEOUT_S, env=_child_env())
        if proc.returncode != 0 or not partial.is_file():
            lines = proc.stderr.strip().splitlines()
            said = lines[-1].removeprefix(CHILD_SAYS) if lines else f"exit {proc.returncode}"
            raise ConversionError(f"could not convert the video for the browser: {said}")
        os.replace(partial, target)
        trim_cache(folder, keep=target)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"converting the video took over {CONVERT_TIMEOUT_S} s; "
                              "gave up") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return target, True


def _child_env() -> dict:
    """This environment, with the folder that holds this lipread first on the child's path
    (the page may run from a checkout that is not installed)."""
    here = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here + (os.pathsep + path if path else "")}


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
