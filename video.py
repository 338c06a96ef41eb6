"""Decoding a video: any file OpenCV reads, at any size and frame rate, as the network's
25 frames a second. No project imports: this module sits at the bottom.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# FFmpeg's decoder chatter on damaged video ("invalid cbp", "ac-tex damaged") would bury
# the one-line error a bad file gets; OpenCV reads this once, at the first VideoCapture.
# Set OPENCV_FFMPEG_LOGLEVEL=24 to see FFmpeg's warnings again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

FPS = 25  # GRID's frame rate, and the network's
N_FRAMES = 75  # 3 s at 25 fps
# How image files begin: one renamed .mpg must be called an image, not a broken video.
IMAGE_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
               (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "WebP"))


class VideoError(ValueError):
    """A video that can't be turned into the network's input."""


@dataclass
class Clip:
    """A video's first seconds, resampled to 25 fps: what the network reads."""
    frames: np.ndarray  # (T, H, W) uint8 grayscale, T <= 75
    fps: float  # the file's own frame rate
    duration: float  # the whole video's length in seconds (0 when the file doesn't say)
    start: float  # where the frames begin, in seconds


def _image_kind(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(16)
    for magic, kind in IMAGE_MAGIC:
        if head.startswith(magic) and (kind != "WebP" or head[8:12] == b"WEBP"):
            return kind
    return None


def read_clip(path, start: float = 0.0, seconds: float = N_FRAMES / FPS) -> Clip:
    """Decode `seconds` of a video from `start`, resampled to 25 fps by the frames' timestamps.

    Any frame rate: each 25 fps instant takes the frame shown at that moment, so a 30 or
    50 fps video gives the same 75 frames as its 25 fps original.
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a directory, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty")
    image = _image_kind(path)
    if image:
        raise VideoError(f"{path}: an image ({image}), not a video: give a video file "
                         "(mp4, mpg, mov, avi, mkv, webm) of at least 2 s")
    if start < 0:
        raise VideoError(f"{path}: the start time must be 0 or more, not {start}")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a video OpenCV can decode "
                             "(corrupt, or not a video at all)")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        fps = fps if 1.0 <= fps <= 1000.0 else float(FPS)
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
        duration = count / fps if count > 0 else 0.0
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000.0)
        frames, stamps = [], []
        end = start + seconds + 1.0 / fps
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            stamp = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if stamps and not stamp > stamps[-1]:  # no usable timestamps: count frames
                stamp = stamps[-1] + 1.0 / fps
            if stamp > end:
                break
            if stamp >= start - 1.0 / fps:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3
                              else frame)
                stamps.append(stamp)
    finally:
        cap.release()
    if not frames:
        if start > 0 and duration and start >= duration:
            raise VideoError(f"{path}: the video is {duration:.1f} s long; nothing from "
                             f"{start:g} s on")
        raise VideoError(f"{path}: no frame could be decoded (corrupt or not a video)")
    stamps = np.asarray(stamps)
    wanted = start + np.arange(round(seconds * FPS)) / FPS
    wanted = wanted[wanted <= stamps[-1] + 0.5 / fps + 1e-6]
    nearest = np.abs(stamps[None, :] - wanted[:, None]).argmin(1)
    return Clip(np.stack(frames)[nearest], fps, max(duration, stamps[-1] + 1.0 / fps), start)
