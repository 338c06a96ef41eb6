"""The preview the browser shows: the camera picture with the face box (green) and the 20
lip points (red) drawn on it, a line of status, and the 46x140 crop the network reads beside
the face, in the picture's top-right corner. BGR uint8 in, BGR uint8 out, the same size
(the component sizes its frame by the first picture: a taller one would be cut off).
"""
from __future__ import annotations

import numpy as np

from lipread import mouth

GREEN, RED, YELLOW, WHITE = (0, 200, 0), (0, 0, 255), (0, 220, 255), (255, 255, 255)
STALE_S = 0.5  # a tracked state older than this is not drawn (the face has moved on)
MAX_ZOOM = 3  # the crop is shown at up to 3x its 140x46 pixels ...
INSET_SHARE = 0.45  # ... and at most this share of the picture's width
MARGIN = 4  # pixels between the inset and the picture's edge


def zoom_for(width: int) -> int:
    """The crop's whole-number enlargement that fits the inset of a picture `width` wide."""
    return int(max(1, min(MAX_ZOOM, (width * INSET_SHARE) // mouth.CROP_W)))


def inset_box(width: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the crop's inset in a picture `width` wide."""
    k = zoom_for(width)
    right = width - MARGIN
    return right - mouth.CROP_W * k, MARGIN, right, MARGIN + mouth.CROP_H * k


def draw(image: np.ndarray, t: float, state=None, status: str = "",
         alert: bool = False) -> np.ndarray:
    """`image` (H, W, 3) with the overlay drawn (a copy)."""
    import cv2

    h, w = image.shape[:2]
    out = image.copy()
    fresh = state is not None and abs(t - state.t) <= STALE_S
    if fresh and state.box is not None:
        left, top, right, bottom = state.box
        cv2.rectangle(out, (left, top), (right, bottom), GREEN, 2)
        for x, y in np.round(state.points[mouth.MOUTH]).astype(int):
            cv2.circle(out, (int(x), int(y)), 2, RED, -1)
    if fresh and state.crop is not None:
        left, top, right, bottom = inset_box(w)
        if bottom < h:
            crop = cv2.resize(state.crop, (right - left, bottom - top),
                              interpolation=cv2.INTER_NEAREST)
            out[top:bottom, left:right] = crop[..., None]
            cv2.rectangle(out, (left - 1, top - 1), (right, bottom), WHITE, 1)
    if status:
        scale = max(0.4, w / 800)
        (tw, th), base = cv2.getTextSize(status, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
        cv2.putText(out, status, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    RED if alert else WHITE, 1, cv2.LINE_AA)
    return out
