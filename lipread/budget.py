"""What one reading may decode, whatever the file: a cap on the frames and the pixels
decoded (seeking to a start included), so that any upload costs a few seconds of CPU.
A 3 s 4K clip at 1,000 fps is 3,000 4K frames (minutes of decoding): refused in one line,
before a frame is decoded where the file says enough, else as soon as the cap is passed.

    budget = Budget(path, width, height)   # the frame size from the stream's header
    budget.check_rate(fps, seconds)        # the header's frame rate: refused at once
    budget.check_seek(source, start, seconds, fps)   # frames a seek to `start` decodes
    budget.spend(frame)                    # each frame decoded, as it comes

Seeking decodes from the keyframe before the start: how far that is, is found from the
file's packets (OpenCV's raw mode: read, never decoded). No project imports but VideoError.
"""
from __future__ import annotations

import math

from lipread.constants import VideoError

MAX_FRAMES = 4000  # 3 s at 1,000 fps (the highest rate believed) with margin; GRID: 76
FOUR_K = 3840 * 2160
MAX_PIXELS = 400 * FOUR_K  # 400 4K frames (3 s of 4K at 120 fps): ~9 s of CPU on one core
MAX_PACKETS = 100_000  # packets looked at to find where a start lies (~1 s; 1 h at 25 fps)
ADVICE = "re-encode it at 25-60 fps and at most 1080p, or cut it to the part to read"


class Budget:
    """The frames and pixels one reading of `path` has decoded, against the caps."""

    def __init__(self, path, width: int, height: int):
        self.path, self.frames, self.pixels = path, 0, 0
        self.size = (width, height)

    def cap(self, pixels_each: int) -> int:
        """The most frames of `pixels_each` pixels one reading decodes."""
        return min(MAX_FRAMES, MAX_PIXELS // max(1, pixels_each))

    def refuse(self, frames: int, why: str) -> VideoError:
        width, height = self.size
        return VideoError(f"{self.path}: too costly to read: {why} {frames:,} frames of "
                          f"{width}x{height} (one reading decodes at most "
                          f"{self.cap(width * height):,} frames of that size); {ADVICE}")

    def check_rate(self, fps: float, seconds: float) -> None:
        """The frames the header's rate says `seconds` take, refused before decoding."""
        frames = math.ceil(fps * seconds) + 1
        if frames > self.cap(self.size[0] * self.size[1]):
            raise self.refuse(frames, f"at {fps:g} fps, {seconds:g} s take")

    def check_seek(self, source: str, start: float, seconds: float, fps: float) -> bool:
        """Refused when seeking to `start` and reading `seconds` would decode too many
        frames (from the keyframe before `start`), or `start` lies past MAX_PACKETS
        packets. False when the packets cannot be looked at (then: no seek; every frame
        from the first is decoded, and counted)."""
        import cv2

        raw = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])
        try:
            if not raw.isOpened() or raw.get(cv2.CAP_PROP_FORMAT) != -1:
                return False
            end, key, index = start + seconds + 1.0 / fps, 0, 0
            cap = self.cap(self.size[0] * self.size[1])
            while index < MAX_PACKETS:
                if not raw.grab():  # the next packet, as it is in the file
                    return True
                stamp = raw.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if stamp <= start:  # the keyframe decoding starts from is still to come
                    if raw.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                        key = index
                elif index - key + 1 > cap:
                    raise self.refuse(index - key + 1, f"seeking to {start:g} s and reading "
                                      f"{seconds:g} s decodes at least")
                if stamp > end:
                    return True
                index += 1
            raise VideoError(f"{self.path}: {start:g} s lies past the first "
                             f"{MAX_PACKETS:,} frames this looks through; {ADVICE}")
        finally:
            raw.release()

    def spend(self, frame) -> None:
        """One more frame decoded: refused once the frames or pixels pass their cap."""
        height, width = frame.shape[:2]
        self.frames += 1
        self.pixels += width * height
        if self.frames > MAX_FRAMES or self.pixels > MAX_PIXELS:
            self.size = (width, height)
            raise self.refuse(self.frames, "decoding it reached")
