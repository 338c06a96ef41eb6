"""A capture read as a file is read (pipeline.py: the mouth found by landmarks on the 75
frames, the network, a decoder), and the clip it read as an mp4 to play and download.
"""
from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lipread import pipeline, video

MP4_TIMEOUT_S = 60  # a stuck ffmpeg is killed after this


@dataclass
class Reading:
    """One capture, read (or not: `error` says why)."""
    number: int  # 1, 2, ... in this session
    how: str  # "auto" or "button"
    ended_at: float  # time.time() when the capture's last frame arrived
    seconds: float  # the capture's length (what was said, before padding to 3 s)
    start: float  # the capture's first instant, in the camera's time (seconds)
    camera_fps: float  # the camera's own rate over the capture
    transcript: pipeline.Transcript | None = None
    decoder: str = "grammar"
    error: str | None = None
    read_at: float | None = None  # time.time() when the sentence was ready
    mp4: bytes | None = None  # the 75 frames read, H.264 at 25 fps
    notices: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float | None:
        """Seconds from the capture's end to its sentence."""
        return None if self.read_at is None else self.read_at - self.ended_at


def read(model, gray: np.ndarray, decoder: str) -> pipeline.Transcript:
    """(75, H, W) uint8 frames to a Transcript (raises video.VideoError)."""
    t0 = time.perf_counter()
    clip = video.Clip(gray, float(video.FPS), video.N_FRAMES / video.FPS, 0.0)
    view = video.cut_mouth(clip, path="the capture")
    t1 = time.perf_counter()
    result = pipeline.transcribe_frames(model, video.normalize(view.crops), decoder)
    result.seconds = {"mouth": t1 - t0, **result.seconds}
    result.notices, result.view = video.notices(view), view
    return result


def to_mp4(yuv: list[np.ndarray], size: tuple[int, int]) -> bytes:
    """yuv420p frames ((H*3/2, W) uint8 each) of `size` (W, H) as an H.264 mp4 at 25 fps."""
    import imageio_ffmpeg

    width, height = size
    with tempfile.TemporaryDirectory(prefix="lipread-live-") as folder:
        out = Path(folder) / "capture.mp4"
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "rawvideo",
               "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", str(video.FPS),
               "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
               "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]
        subprocess.run(cmd, input=b"".join(f.tobytes() for f in yuv), check=True,
                       capture_output=True, timeout=MP4_TIMEOUT_S)
        return out.read_bytes()
