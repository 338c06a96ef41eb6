"""A capture read as a file is read (the mouth found by landmarks on the 75 frames, then
reading.py: the network, a decoder, the confidence), and the clip it read as an mp4 to play
and download.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lipread import decoding, encode, likeness, mouth, pipeline, reading, video

# Where a sentence sits in GRID's 3 s varies (its first lip motion 0.28-0.76 s in, p10-p90
# of 40 s1 training clips) and the network reads best where it learned it: an automatic
# capture is also read from these much earlier, and the window whose frames fit a GRID
# sentence best (the grammar's best path) is kept. On 30 s1 training clips, windows 0.2 s
# early or late read as many right as the file's own (24 of 30), 0.4 s: 15.
EARLIER_S = (0.0, 0.2, 0.4, 0.6)


@dataclass
class Capture:
    """One capture, read (or not: `error` says why)."""
    number: int  # 1, 2, ... in this session
    how: str  # "auto" or "button"
    ended_at: float  # time.time() when the capture's last frame arrived
    seconds: float  # the capture's length (what was said, before padding to 3 s)
    start: float  # the capture's first instant, in the camera's time (seconds)
    camera_fps: float  # the camera's own rate over the capture
    reading: reading.Reading | None = None  # what was read, as a file's reading
    decoder: str = "grammar"
    earlier: float = 0.0  # the window read starts this much before the capture
    label: object = None  # what the capture was for (LiveSession.read_next's label)
    located_early: bool = False  # the mouth was found while the capture ran (window.py)
    error: str | None = None
    read_at: float | None = None  # time.time() when the sentence was ready
    mp4: bytes | None = None  # the 75 frames read, H.264 at 25 fps
    notices: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float | None:
        """Seconds from the capture's end to its sentence."""
        return None if self.read_at is None else self.read_at - self.ended_at


def read(model, gray: np.ndarray, decoder: str, starts=(0,),
         locate=mouth.locate) -> tuple[reading.Reading, int]:
    """Frames (T, H, W) uint8 at 25 fps to the Reading of the 75 from one of `starts`: the
    one the GRID grammar fits best (raises video.VideoError). Returns it and its start.

    The mouth is found once over all the frames (as for a file: landmarks, smoothed), by
    `locate` (window.Window.locate: found while the capture ran)."""
    t0 = time.perf_counter()
    frames = video.fit_length(gray, max(starts) + video.N_FRAMES)
    try:
        track = locate(frames)
    except mouth.FaceError as err:
        raise video.VideoError(str(err)) from None
    crops = mouth.crop(frames, track)
    windows = np.stack([crops[i:i + video.N_FRAMES] for i in starts])
    t1 = time.perf_counter()
    probs = pipeline.predict_probs(model, np.stack([video.normalize(w) for w in windows]))
    t2 = time.perf_counter()
    best = int(np.argmax([decoding.grammar_score(p) for p in probs])) if len(starts) > 1 else 0
    start = starts[best]
    clip = video.Clip(frames[start:start + video.N_FRAMES], float(video.FPS),
                      video.N_FRAMES / video.FPS, 0.0)
    view = video.MouthClip(windows[best], clip, track)
    said = reading.from_probs(probs[best], decoder, notices=video.notices(view), view=view,
                              seconds={"mouth": t1 - t0, "network": t2 - t1},
                              face_likeness=likeness.likeness(windows[best]))
    return said, start


def to_mp4(yuv: list[np.ndarray], size: tuple[int, int]) -> bytes:
    """yuv420p frames ((H*3/2, W) uint8 each) of `size` (W, H) as an H.264 mp4 at 25 fps."""
    return encode.mp4_from_yuv(yuv, size, video.FPS)
