"""The face and lips of the newest camera frame, for the preview and the segmenter: dlib's
detector now and then (it costs ~10-30 ms a frame), the 68 landmarks on every tracked frame
(~1.5 ms) from the last box moved with them, as mouth.track_landmarks does for files.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from lipread import face, mouth

DETECT_EVERY_S = 1.0  # seconds between detector runs while a face is tracked
DARK = 40.0  # mean brightness (0-255) under which the picture is too dark to find a face
HISTORY = mouth.SMOOTH_CENTRE  # tracked frames the preview crop is smoothed over


@dataclass
class FaceState:
    """What the newest tracked frame shows."""
    t: float  # the frame's time (seconds)
    size: tuple[int, int]  # (width, height)
    brightness: float
    box: tuple[int, int, int, int] | None = None  # the face read (the largest)
    points: np.ndarray | None = None  # (68, 2) landmarks, frame pixels
    faces: int = 0  # faces the last detection found
    crop: np.ndarray | None = None  # (46, 140) uint8: the network's view of this frame

    @property
    def opening(self) -> float | None:
        """The inner lips' gap over the mouth's width (None without a face)."""
        if self.points is None:
            return None
        return float(mouth.lip_opening(self.points[mouth.MOUTH]))

    @property
    def dark(self) -> bool:
        return self.brightness < DARK


class FaceTracker:
    """One camera's face, followed frame to frame."""

    def __init__(self):
        self.box: tuple | None = None  # the detector's last box
        self.anchor: np.ndarray | None = None  # the landmarks fitted in that box
        self.last: np.ndarray | None = None  # the latest landmarks
        self.current: tuple | None = None  # the box they were fitted in
        self.detected_at = -np.inf
        self.faces = 0
        self.history: deque = deque(maxlen=HISTORY)

    def reset(self) -> None:
        self.__init__()

    def _detect(self, gray: np.ndarray, t: float) -> bool:
        boxes = face.detect_faces(gray)
        self.detected_at, self.faces = t, len(boxes)
        if not boxes or boxes[0][2] - boxes[0][0] < face.MIN_FACE_PX:
            self.box = self.anchor = self.last = None
            self.history.clear()
            return False
        self.box = self.current = boxes[0]
        self.anchor = self.last = face.landmarks(gray, self.box)
        return True

    def _follow(self, gray: np.ndarray) -> None:
        """The landmarks fitted in the detector's box moved and scaled with them since."""
        a, last, box = self.anchor, self.last, self.box
        shift = last.mean(0) - a.mean(0)
        zoom = face._spread(last) / max(face._spread(a), 1e-6)
        cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
        hw, hh = zoom * (box[2] - box[0]) / 2, zoom * (box[3] - box[1]) / 2
        self.current = (cx - hw, cy - hh, cx + hw, cy + hh)
        self.last = face.landmarks(gray, self.current)

    def track(self, gray: np.ndarray, t: float) -> FaceState:
        """The face in `gray` (H, W) uint8 at time `t`."""
        import cv2

        state = FaceState(t, (gray.shape[1], gray.shape[0]), float(gray.mean()))
        if self.box is None or t - self.detected_at >= DETECT_EVERY_S or t < self.detected_at:
            if not self._detect(gray, t):
                return state
        else:
            self._follow(gray)
        self.history.append(self.last)
        m = mouth.similarity_transforms(np.stack(self.history))[-1]
        state.crop = cv2.warpAffine(gray, m, (mouth.CROP_W, mouth.CROP_H),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        state.box = tuple(int(round(v)) for v in self.current)
        state.points, state.faces = self.last, self.faces
        return state
