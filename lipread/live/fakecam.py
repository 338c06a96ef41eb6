"""A video as Chromium's fake camera: `--use-file-for-fake-video-capture=FILE.y4m` plays an
uncompressed yuv420p Y4M file in a loop. The clip is padded with PAD_S of its first frame
before and of its last after (a still face, then the sentence, then still again), and the
colour-space tag ffmpeg writes (`C420jpeg`, `C420mpeg2`), which Chromium rejects, becomes
`C420`. For the browser tests and the Live benchmark.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

PAD_S = 2.0  # still frames before and after the clip
TIMEOUT_S = 120  # a stuck ffmpeg is killed after this


def write_y4m(src, dst, pad_s: float = PAD_S) -> Path:
    """`src` (any video ffmpeg reads) as a padded Y4M file at `dst`, written whole or not at all."""
    import imageio_ffmpeg

    dst = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    try:
        pad = (f"tpad=start_duration={pad_s}:start_mode=clone:"
               f"stop_duration={pad_s}:stop_mode=clone")
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error",
                        "-y", "-i", str(src), "-an", "-vf", pad, "-pix_fmt", "yuv420p",
                        "-f", "yuv4mpegpipe", tmp], check=True, capture_output=True,
                       timeout=TIMEOUT_S)
        with open(tmp, "r+b") as f:
            header = f.readline()
            fixed = re.sub(rb" C420\w*", b" C420", header)
            rest = f.read()
            f.seek(0)
            f.write(fixed + rest)
            f.truncate()
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst
