"""The mouth crop: a similarity transform per frame that puts the mouth where, and at the
size, the network reads it, from the 68 face landmarks face.py finds and follows.

    track = locate(frames)            # frames: (T, H, W) uint8 grayscale, any size
    crops = crop(frames, track)       # (T, 46, 140) uint8, the mouth centred

The crop's centre, scale and angle are smoothed over time so that it does not jitter.
`FaceError` and `track_landmarks` are face.py's, named here for the crop's callers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipread.constants import CROP_H, CROP_W  # the crop's size (named here for its callers)
from lipread.face import (LANDMARK_EVERY, MOVED, SAME_FACE, STILL_PX, FaceError,
                          track_landmarks)

# --- what the network reads -------------------------------------------------------------
# Where the crop puts the mouth: its centre (the mean of the 20 lip points) in the middle of
# the crop, and its corner-to-corner width at 39.7 px, s1's median width inside the tutorial's
# window (791 training clips, every 5th frame; widths 32-45 px); the eye line level.
MOUTH_CENTRE = (CROP_W / 2, CROP_H / 2)
MOUTH_WIDTH = 39.7
CROP_PAD = 4  # pixels warped around the crop: training's jitter margin (dataset.MARGIN)

# --- dlib's 68-point scheme (iBUG 300-W) --------------------------------------------------
MOUTH = slice(48, 68)  # outer (48-59) and inner (60-67) lip contours
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
MOUTH_CORNERS = (48, 54)
INNER_TOP, INNER_BOTTOM, LEFT, RIGHT = 14, 18, 0, 6  # of MOUTH's 20 lip points

# --- tracking (how the face is found and followed: face.py) -------------------------------
MIN_MOUTH_PX = 16  # below this the 140 px crop would be blown up more than 2.5x
MAX_LOST_SHARE = 0.5  # a face lost for more of the clip than this is refused
SMOOTH_CENTRE = 9  # frames in the running median, then mean, of the mouth centre (0.36 s):
# the crop follows the head, not the jaw, so the lips move inside it as in the fixed window
SMOOTH_POSE = 25  # frames in the running median, then mean, of scale and angle (1 s)


CROP_VERSION = 4  # raised whenever the way crops are computed changes (caches are keyed by it)


def settings() -> str:
    """Everything that shapes the crops: caches of landmark crops are keyed by it."""
    return (f"v{CROP_VERSION} centre={MOUTH_CENTRE} width={MOUTH_WIDTH} smooth={SMOOTH_CENTRE},{SMOOTH_POSE} "
            f"every={LANDMARK_EVERY} moved={MOVED} still={STILL_PX} same={SAME_FACE}")


@dataclass
class MouthTrack:
    """Where the mouth is in each frame, and how each frame is cut."""
    landmarks: np.ndarray  # (T, 68, 2) float32 in frame pixels; carried where the face was lost
    transforms: np.ndarray  # (T, 2, 3) float32: frame pixels -> crop pixels
    face_box: tuple[int, int, int, int]  # (left, top, right, bottom) of the first detection
    box_frame: int  # the frame that detection was made on
    faces: int  # the most faces seen in one detection (the largest one is read)
    lost: int  # frames on which no face was found (their landmarks are carried)

    @property
    def mouth_points(self) -> np.ndarray:
        """(T, 20, 2) lip points in frame pixels."""
        return self.landmarks[:, MOUTH]

    def to_crop(self, points: np.ndarray, margin: int = 0) -> np.ndarray:
        """(T, K, 2) frame points to crop pixels (of the crop widened by `margin`)."""
        m = self.transforms
        out = np.einsum("tij,tkj->tki", m[:, :, :2], points) + m[:, None, :, 2]
        return out + margin


def lip_opening(lips: np.ndarray) -> np.ndarray:
    """The inner lips' gap over the mouth's width (at least 1 px), of (..., 20, 2) lip points
    (MOUTH's): one frame's, or a clip's (T, 20, 2). What moves when a person speaks."""
    lips = np.asarray(lips, np.float64)
    side = lips[..., RIGHT, :] - lips[..., LEFT, :]
    gap = lips[..., INNER_BOTTOM, :] - lips[..., INNER_TOP, :]
    width = np.maximum(np.hypot(side[..., 0], side[..., 1]), 1.0)
    return np.hypot(gap[..., 0], gap[..., 1]) / width


def _running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centred running median along axis 0, edges padded with the edge values."""
    if window <= 1 or len(x) < 2:
        return x
    half = window // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    return np.median(windows, axis=-1)


def _running_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Centred running mean along axis 0, edges padded with the edge values."""
    if window <= 1 or len(x) < 2:
        return x
    half = window // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    return np.lib.stride_tricks.sliding_window_view(padded, window, axis=0).mean(-1)


def similarity_transforms(points: np.ndarray) -> np.ndarray:
    """(T, 2, 3) frame -> crop transforms: mouth centre to MOUTH_CENTRE, mouth width to
    MOUTH_WIDTH, the eye line level; centre, scale and angle smoothed over time."""
    centre = _running_mean(_running_median(points[:, MOUTH].mean(1), SMOOTH_CENTRE),
                           SMOOTH_CENTRE)
    corners = points[:, MOUTH_CORNERS[1]] - points[:, MOUTH_CORNERS[0]]
    width = _running_mean(_running_median(np.hypot(corners[:, 0], corners[:, 1]), SMOOTH_POSE),
                          SMOOTH_POSE)
    eyes = points[:, RIGHT_EYE].mean(1) - points[:, LEFT_EYE].mean(1)
    angle = _running_mean(_running_median(np.arctan2(eyes[:, 1], eyes[:, 0]), SMOOTH_POSE),
                          SMOOTH_POSE)
    scale = MOUTH_WIDTH / np.maximum(width, 1e-3)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    m = np.zeros((len(points), 2, 3), np.float32)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, sin, -sin, cos
    m[:, 0, 2] = MOUTH_CENTRE[0] - (cos * centre[:, 0] + sin * centre[:, 1])
    m[:, 1, 2] = MOUTH_CENTRE[1] - (-sin * centre[:, 0] + cos * centre[:, 1])
    return m


def locate(frames: np.ndarray) -> MouthTrack:
    """Find and follow the mouth in (T, H, W) uint8 grayscale frames (raises FaceError)."""
    points, lost, box, first, faces = track_landmarks(frames)
    if lost.sum() > MAX_LOST_SHARE * len(frames):
        raise FaceError(f"the face was found on only {len(frames) - lost.sum()} of "
                        f"{len(frames)} frames: the video must show one frontal face "
                        "throughout")
    corners = points[:, MOUTH_CORNERS[1]] - points[:, MOUTH_CORNERS[0]]
    mouth_px = float(np.median(np.hypot(corners[:, 0], corners[:, 1])))
    if mouth_px < MIN_MOUTH_PX:
        raise FaceError(f"the mouth is only {mouth_px:.0f} px wide; the crop needs at least "
                        f"{MIN_MOUTH_PX} px: film closer or at a higher resolution")
    return MouthTrack(points, similarity_transforms(points), box, first, faces, int(lost.sum()))


def crop(frames: np.ndarray, track: MouthTrack, margin: int = 0) -> np.ndarray:
    """(T, 46 + 2 margin, 140 + 2 margin) uint8 mouth crops; the middle 46x140 is the crop.

    Always warped with CROP_PAD pixels around the crop and then sliced: warpAffine rounds
    source positions to 1/32 px, and a shifted output grid would tip some of them the
    other way, so training's crops (margin 4) would differ from inference's (margin 0).
    """
    import cv2

    if not 0 <= margin <= CROP_PAD:
        raise ValueError(f"margin must be 0 to {CROP_PAD}, not {margin}")
    size = (CROP_W + 2 * CROP_PAD, CROP_H + 2 * CROP_PAD)
    off = CROP_PAD - margin  # where the wanted crop starts in the warped one
    out = np.empty((len(frames), CROP_H + 2 * margin, CROP_W + 2 * margin), np.uint8)
    # Shrinking by more than ~1.5 with bilinear sampling aliases: shrink by area first.
    scale = float(np.median(np.hypot(track.transforms[:, 0, 0], track.transforms[:, 0, 1])))
    pre = max(1, int(1.0 / scale / 1.5)) if scale < 1 / 1.5 else 1
    for t, frame in enumerate(frames):
        m = track.transforms[t].astype(np.float64)
        m[:, 2] += CROP_PAD
        if pre > 1:
            frame = cv2.resize(frame, (frame.shape[1] // pre, frame.shape[0] // pre),
                               interpolation=cv2.INTER_AREA)
            m[:, :2] *= pre
        warped = cv2.warpAffine(frame, m, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        out[t] = warped[off:off + CROP_H + 2 * margin, off:off + CROP_W + 2 * margin]
    return out
