"""What the page draws: the mouth-crop GIF, the raw tokens as characters, the per-frame
probability heatmap, and where the mouth was found. No Streamlit here."""
from __future__ import annotations

import numpy as np

from lipread.grid import BLANK_ID, ID_TO_CHAR
from lipread.mouth import CROP_H, CROP_W
from lipread.video import FPS, MOUTH_COLS, MOUTH_ROWS

PICTURE_W = 480  # pixels: the landmark picture, wide enough to see the lips
GIF_SCALE = 3  # the 140x46 crops shown 420x138: the lips visible, pixels kept sharp


def gif_bytes(frames: np.ndarray, fps: int = FPS, scale: int = 1) -> bytes:
    """A looping GIF of uint8 grayscale frames (T, H, W), one GIF frame each, each pixel
    `scale` x `scale` pixels."""
    import imageio.v3 as iio

    frames = np.asarray(frames, dtype=np.uint8)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    return iio.imwrite("<bytes>", frames, extension=".gif",
                       duration=round(1000 / fps), loop=0)


def class_label(class_id: int) -> str:
    if class_id == BLANK_ID:
        return "blank"
    if class_id == 0:
        return "(none)"
    return "space" if ID_TO_CHAR[class_id] == " " else ID_TO_CHAR[class_id]


def token_chars(tokens) -> str:
    """The raw per-frame tokens as one character each: '_' blank, '·' space."""
    return "".join("_" if t == BLANK_ID else "·" if ID_TO_CHAR[t] == " " else
                   (ID_TO_CHAR[t] or "?") for t in map(int, tokens))


def probability_rows(probs: np.ndarray, floor: float = 0.02) -> list[dict]:
    """Long-format (frame, class, p) rows for the classes that ever reach `floor`."""
    probs = np.asarray(probs, dtype=np.float32)
    keep = [c for c in range(probs.shape[1]) if probs[:, c].max() >= floor]
    return [{"frame": t, "second": round(t / FPS, 2), "order": c,
             "token": class_label(c), "p": round(float(probs[t, c]), 4)}
            for c in keep for t in range(probs.shape[0])]


def probability_chart(probs: np.ndarray) -> tuple:
    """A Vega-Lite heatmap (data, spec): frames across, tokens down, colour = probability.

    A plain spec rather than an Altair object: Altair validates every inline row
    against its schema, which costs about a second per clip here.
    """
    import pandas as pd

    data = pd.DataFrame(probability_rows(probs))
    order = [class_label(c) for c in sorted(set(data["order"]))] if len(data) else []
    spec = {
        "mark": {"type": "rect", "tooltip": True},
        "height": max(160, 20 * len(order)),
        "config": {"axis": {"labelFontSize": 13, "titleFontSize": 13},
                   "legend": {"labelFontSize": 12, "titleFontSize": 13}},
        "encoding": {
            "x": {"field": "frame", "type": "ordinal", "title": "frame (25 per second)",
                  "axis": {"values": list(range(0, len(probs), 5)), "labelAngle": 0}},
            # Every token labelled: by default Vega drops every other label when rows are tight.
            "y": {"field": "token", "type": "nominal", "sort": order, "title": None,
                  "axis": {"labelOverlap": False}},
            "color": {"field": "p", "type": "quantitative", "title": "probability",
                      "scale": {"domain": [0, 1], "scheme": "viridis"}},
            "tooltip": [{"field": "frame", "type": "ordinal"},
                        {"field": "second", "type": "quantitative"},
                        {"field": "token", "type": "nominal"},
                        {"field": "p", "type": "quantitative", "format": ".3f"}],
        },
    }
    return data, spec


def landmark_picture(frames: np.ndarray, track, width: int = PICTURE_W) -> np.ndarray:
    """RGB frame of the first detection: the face box (green), the crop's outline (yellow)
    and the 20 lip points (red), scaled to `width` for the page."""
    import cv2


    t = track.box_frame
    rgb = cv2.cvtColor(np.ascontiguousarray(frames[t]), cv2.COLOR_GRAY2RGB)
    shrink = width / rgb.shape[1]
    if shrink != 1.0:
        rgb = cv2.resize(rgb, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA
                         if shrink < 1.0 else cv2.INTER_CUBIC)
    thick = max(1, round(rgb.shape[1] / 240))
    left, top, right, bottom = (round(v * shrink) for v in track.face_box)
    cv2.rectangle(rgb, (left, top), (right, bottom), (0, 200, 0), thick)
    back = cv2.invertAffineTransform(track.transforms[t].astype(np.float64))
    corners = np.array([[0, 0], [CROP_W, 0], [CROP_W, CROP_H], [0, CROP_H]], np.float64)
    outline = (corners @ back[:, :2].T + back[:, 2]) * shrink
    cv2.polylines(rgb, [np.round(outline).astype(np.int32)], True, (255, 200, 0), thick)
    for x, y in track.mouth_points[t] * shrink:
        cv2.circle(rgb, (round(float(x)), round(float(y))), thick + 1, (255, 40, 40), -1)
    return rgb


def window_picture(frames: np.ndarray, width: int = PICTURE_W) -> np.ndarray:
    """RGB first frame with the tutorial's fixed window outlined (yellow)."""
    import cv2


    rgb = cv2.cvtColor(np.ascontiguousarray(frames[0]), cv2.COLOR_GRAY2RGB)
    cv2.rectangle(rgb, (MOUTH_COLS[0], MOUTH_ROWS[0]), (MOUTH_COLS[1], MOUTH_ROWS[1]),
                  (255, 200, 0), 1)
    shrink = width / rgb.shape[1]
    return rgb if shrink == 1.0 else cv2.resize(
        rgb, None, fx=shrink, fy=shrink,
        interpolation=cv2.INTER_AREA if shrink < 1.0 else cv2.INTER_CUBIC)
