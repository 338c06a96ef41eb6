"""The mouth locator: dlib's face detector and 68 facial landmarks, and a similarity
transform per frame that puts the mouth where, and at the size, the network reads it.

    track = locate(frames)            # frames: (T, H, W) uint8 grayscale, any size
    crops = crop(frames, track)       # (T, 46, 140) uint8, the mouth centred

The detector runs on a few frames and its box is carried from frame to frame by the
landmarks (detector ~8-11 ms a 360x288 frame here, the 68 points ~1.5 ms). The crop's
centre, scale and angle are smoothed over time so that it does not jitter. Both models
come from PyPI (dlib-bin; face-recognition-models ships dlib's 68-point predictor):
nothing is downloaded at run time. The predictor runs as landmarks.py's NumPy arrays
(the same points, loaded in ~0.05 s instead of ~0.9 s). It imports only the bottom
modules cache.py and landmarks.py.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipread import cache
from lipread import landmarks as trees  # (mouth.landmarks is the function below)

# --- what the network reads -------------------------------------------------------------
CROP_H, CROP_W = 46, 140  # the tutorial's window: rows 190:236, columns 80:220 of GRID's frame
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
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"

# --- tracking -----------------------------------------------------------------------------
DETECT_EVERY = 25  # frames between detector runs (1 s at 25 fps); landmarks carry the box
LANDMARK_EVERY = 3  # frames between landmark fits (~1.5 ms each), interpolated in between
# and then smoothed: every 2nd frame cost 28 ms more a clip for the same validation figures
SEARCH_EVERY = 3  # frames between tries while no face is found yet (damaged first frames)
DETECT_MAX_SIDE = 640  # frames are shrunk to this for the detector (it costs per pixel)
MIN_FACE_PX = 80  # dlib's frontal detector finds faces from ~80 px wide at upsample 0
MIN_MOUTH_PX = 16  # below this the 140 px crop would be blown up more than 2.5x
MAX_LOST_SHARE = 0.5  # a face lost for more of the clip than this is refused
SMOOTH_CENTRE = 9  # frames in the running median, then mean, of the mouth centre (0.36 s):
# the crop follows the head, not the jaw, so the lips move inside it as in the fixed window
SMOOTH_POSE = 25  # frames in the running median, then mean, of scale and angle (1 s)


CROP_VERSION = 3  # raised whenever the way crops are computed changes (caches are keyed by it)


def settings() -> str:
    """Everything that shapes the crops: caches of landmark crops are keyed by it."""
    return (f"v{CROP_VERSION} centre={MOUTH_CENTRE} width={MOUTH_WIDTH} smooth={SMOOTH_CENTRE},{SMOOTH_POSE} "
            f"every={LANDMARK_EVERY},{DETECT_EVERY}")


class FaceError(ValueError):
    """No usable face in a video: none, too small, or lost for most of it."""


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


# pragma: no mutate start (finding the face, left out of `make mutate` for its time:
# ~600 mutants x ~24 s of tests; tests/test_landmarks.py holds it to dlib's own points)
@functools.lru_cache(maxsize=1)
def predictor_path() -> Path:
    """dlib's 68-point model inside the face-recognition-models package.

    Found without importing the package: its __init__ imports pkg_resources, which
    newer setuptools no longer ship.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FaceError("the face landmark model is missing: pip install -r requirements.txt "
                        "(face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise FaceError(f"{path}: the face landmark model is missing; reinstall "
                        "face-recognition-models")
    return path


@functools.lru_cache(maxsize=1)
def _models():
    """dlib's face detector and the 68-point predictor, each loaded once, quickly: the
    detector from its saved form in the cache (dlib builds its built-in one in ~0.5 s), the
    predictor as landmarks.py's arrays (dlib parses its file in ~0.9 s)."""
    return _detector(), trees.load(predictor_path())


def prepare() -> None:
    """Build both models' cached forms now (lipread export; make setup-run)."""
    _models()


def _detector():
    import dlib

    name = f"frontal_face_detector-{dlib.__version__}.svm"
    found = cache.find("dlib", name)
    if found is not None:
        try:
            return dlib.fhog_object_detector(str(found))
        except RuntimeError:
            pass  # a damaged cache entry: saved again below
    saved = cache.folder("dlib") / name
    detector = dlib.get_frontal_face_detector()
    fd, tmp = tempfile.mkstemp(dir=saved.parent, prefix=f".{saved.name}.", suffix=".partial")
    os.close(fd)
    try:
        detector.save(tmp)
        os.replace(tmp, saved)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return detector


def detect_faces(frame: np.ndarray, upsample: int = 0) -> list[tuple[int, int, int, int]]:
    """Face boxes (left, top, right, bottom) in frame pixels, largest first."""
    import cv2

    detector, _ = _models()
    shrink = min(1.0, DETECT_MAX_SIDE / max(frame.shape))
    small = frame if shrink == 1.0 else cv2.resize(
        frame, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    boxes = [tuple(int(round(v / shrink)) for v in (r.left(), r.top(), r.right(), r.bottom()))
             for r in detector(np.ascontiguousarray(small), upsample)]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def landmarks(frame: np.ndarray, box) -> np.ndarray:
    """The 68 points (68, 2) of the face in `box` (left, top, right, bottom): by dlib's own
    predictor once use_dlib_predictor() loaded it, else by its trees in NumPy (the same)."""
    box = [int(round(v)) for v in box]
    if _dlib_predictor.cache_info().currsize:
        import dlib

        shape = _dlib_predictor()(frame, dlib.rectangle(*box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
    _, predictor = _models()
    return predictor(frame, box).astype(np.float32)


def use_dlib_predictor() -> None:
    """From now on in this process, fit landmarks with dlib's own predictor: ~0.9 s to load
    (the interpreter locked meanwhile), then ~1.4 ms a fit where the NumPy trees take ~2.6 ms
    in many small steps that each hold the interpreter. For processes that read many videos
    or a camera (lipread evaluate, the Live page's sessions); the points are the same."""
    _dlib_predictor()


@functools.lru_cache(maxsize=1)
def _dlib_predictor():
    import dlib

    return dlib.shape_predictor(str(predictor_path()))


def _overlap(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean()))


def _too_small(box) -> FaceError:
    return FaceError(f"the face is only {box[2] - box[0]} px wide; the mouth crop needs a face "
                     f"at least {MIN_FACE_PX} px wide: film closer or at a higher resolution")


def _first_face(frames: np.ndarray):
    """(frame index, boxes) of the first frame, tried every SEARCH_EVERY, showing a face."""
    for t in range(0, len(frames), SEARCH_EVERY):
        boxes = detect_faces(frames[t])
        if boxes:
            return t, boxes
    # None at the detector's own scale: a face smaller than it finds, or none at all.
    for t in range(0, len(frames), max(1, len(frames) // 4)):
        small = detect_faces(frames[t], upsample=1)
        if small:
            raise _too_small(small[0])
    raise FaceError(f"no face in the first {len(frames)} frames: the video must show one "
                    "frontal face, well lit")


def track_landmarks(frames: np.ndarray):
    """(landmarks (T, 68, 2), lost (T,) bool, first box, its frame, most faces seen).

    The 68 points are fitted on every LANDMARK_EVERY-th frame (and on each detection
    frame) and interpolated in between; each fit starts from the detector's last box,
    moved and scaled with the landmarks since. A detection that finds no face near the
    tracked one marks the frames up to the next detection lost (landmarks carried).
    """
    first, boxes = _first_face(frames)
    box = boxes[0]
    if box[2] - box[0] < MIN_FACE_PX:
        raise _too_small(box)
    faces, n = len(boxes), len(frames)
    points = np.zeros((n, 68, 2), np.float32)
    lost = np.zeros(n, bool)
    lost[:first] = True
    keys = sorted(set(range(first, n, LANDMARK_EVERY)) | set(range(first, n, DETECT_EVERY))
                  | {n - 1})
    anchor_box, anchor = box, landmarks(frames[first], box)
    points[first], last, tracking = anchor, anchor, True
    for t in keys[1:]:
        if (t - first) % DETECT_EVERY == 0:
            found = detect_faces(frames[t])
            faces = max(faces, len(found))
            near = max(found, key=lambda b: _overlap(b, anchor_box), default=None)
            tracking = near is not None and _overlap(near, anchor_box) > 0.1
            if tracking:
                anchor_box = near
                anchor = last = points[t] = landmarks(frames[t], near)
                continue
        if not tracking:
            lost[t] = True
            points[t] = last
            continue
        # The detector's box, moved and scaled with the landmarks since that detection.
        shift = last.mean(0) - anchor.mean(0)
        zoom = _spread(last) / max(_spread(anchor), 1e-6)
        cx = (anchor_box[0] + anchor_box[2]) / 2 + shift[0]
        cy = (anchor_box[1] + anchor_box[3]) / 2 + shift[1]
        hw = zoom * (anchor_box[2] - anchor_box[0]) / 2
        hh = zoom * (anchor_box[3] - anchor_box[1]) / 2
        last = points[t] = landmarks(frames[t], (cx - hw, cy - hh, cx + hw, cy + hh))
    for a, b in zip(keys, keys[1:]):  # frames between fits: interpolated, or lost if b is
        for t in range(a + 1, b):
            w = (t - a) / (b - a)
            points[t] = (1 - w) * points[a] + w * points[b]
            lost[t] = lost[b]
    points[:first] = points[first]  # damaged first frames: the first face found, carried back
    return points, lost, box, first, faces


# pragma: no mutate end


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
