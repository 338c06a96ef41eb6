"""What every layer agrees on about a clip, and nothing else: the network reads 3 s at 25
frames a second (75 frames) of a 46x140 grayscale mouth crop; the video files read are
known by these extensions, and a video that can't be read raises VideoError. The ground
floor: video.py, mouth.py, grid.py, the networks and the confidence all import it; it
imports nothing of the project.
"""
from __future__ import annotations

FPS = 25  # GRID's frame rate, and the network's
N_FRAMES = 75  # 3 s at 25 fps
CROP_H, CROP_W = 46, 140  # the tutorial's window: rows 190:236, columns 80:220 of GRID's frame
INPUT_SHAPE = (N_FRAMES, CROP_H, CROP_W, 1)  # one clip as the network reads it

VIDEO_EXTS = (".mpg", ".mpeg", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


class VideoError(ValueError):
    """A video that can't be turned into the network's input."""
