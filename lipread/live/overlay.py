"""The preview the browser shows: the camera picture with the face box (green) and the 20
lip points (red) drawn on it, a line of status, and the 46x140 crop the network reads in a
band beside (below) the picture. BGR uint8 in, BGR uint8 out; no Streamlit here.
"""
from __future__ import annotations

import numpy as np

from lipread import mouth

GREEN, RED, YELLOW, WHITE = (0, 200, 0), (0, 0, 255), (0, 220, 255), (255, 255, 255)
STALE_S = 0.5  # a tracked state older than this is not drawn (the face has moved on)
MAX_ZOOM = 3  # the crop is shown at up to 3x its 140x46 pixels


def zoom_for(width: int) -> int:
    """The crop's whole-number enlargement that fits a picture `width` wide."""
    return int(max(1, min(MAX_ZOOM, (width - 8) // mouth.CROP_W)))


def band_height(width: int) -> int:
    return mouth.CROP_H * zoom_for(width) + 8


def draw(image: np.ndarray, t: float, state=None, status: str = "",
         alert: bool = False) -> np.ndarray:
    """`image` (H, W, 3) with the overlay drawn and the crop band added below."""
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((h + band_height(w), w, 3), np.uint8)
    out[:h] = image
    fresh = state is not None and abs(t - state.t) <= STALE_S
    if fresh and state.box is not None:
        left, top, right, bottom = state.box
        cv2.rectangle(out, (left, top), (right, bottom), GREEN, 2)
        for x, y in np.round(state.points[mouth.MOUTH]).astype(int):
            cv2.circle(out, (int(x), int(y)), 2, RED, -1)
    if fresh and state.crop is not None:
        k = zoom_for(w)
        crop = cv2.resize(state.crop, (mouth.CROP_W * k, mouth.CROP_H * k),
                          interpolation=cv2.INTER_NEAREST)
        x0 = (w - crop.shape[1]) // 2
        out[h + 4:h + 4 + crop.shape[0], x0:x0 + crop.shape[1]] = crop[..., None]
    if status:
        scale = max(0.4, w / 800)
        (tw, th), base = cv2.getTextSize(status, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
        cv2.putText(out, status, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    RED if alert else WHITE, 1, cv2.LINE_AA)
    return out
