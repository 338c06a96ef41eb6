"""Finding and following a face: dlib's face detector and its 68 facial landmarks.

    points, lost, box, first, faces = track_landmarks(frames)   # (T, H, W) uint8 grey

The detector runs once, and again only when the landmarks say the face moved away from
its box or a detection is needed to find it again (detector 4.5-11 ms a 360x288 frame on
these 2 cores, the 68 points 0.8-2.6 ms); its box is carried from fit to fit by the
landmarks. Both models
come from PyPI (dlib-bin; face-recognition-models ships dlib's 68-point predictor):
nothing is downloaded at run time. The predictor runs as landmarks.py's NumPy arrays
(the same points, loaded in ~0.05 s instead of ~0.9 s). It imports only the bottom
modules cache.py and landmarks.py. tests/test_tracking.py follows a face made of frames
(`make mutate` runs it); tests/test_landmarks.py holds the points to dlib's own.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from lipread import cache
from lipread import landmarks as trees  # (face.landmarks is the function below)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
LANDMARK_EVERY = 6  # frames between landmark fits (~1.8 ms each), interpolated in between
# and then smoothed: chosen on the training clips' validation slice, where it reads as
# well as every 3rd frame (docs/mouth.md), at half the fits
STILL_PX = 0.5  # px a frame: a face moving slower is taken as still (fits jitter by more
# than that from frame to frame; a box moved on by the jitter would only add to it)
SAME_FACE = 0.6  # the carried box's picture correlates at least this with the detected
# face's (speech: 0.88 and over, on 60 s1 training clips and s26, s31, s4), else the face
# is looked for again: it left, or something covered it
MOVED = 0.25  # the face detected again once the landmarks carried its box this share of the
# box's width away, or zoomed it by this share: the detector's box is where fits start
SEARCH_EVERY = 3  # frames between tries while no face is found yet (damaged first frames)
DETECT_MAX_SIDE = 640  # frames are shrunk to this for the detector (it costs per pixel)
MIN_FACE_PX = 80  # dlib's frontal detector finds faces from ~80 px wide at upsample 0
COARSE_LEVELS = 2  # the detector looks first on the frame shrunk by its own 6:5 pyramid this
# many times (half the pixels, half the time): faces whose box comes out at least
COARSE_MIN_PX = 120  # wide there get the box of its whole pyramid (a smaller box may be a
# face the lower levels fit better: the whole pyramid is run then)
BOX_PX = 72  # the frontal detector's boxes are this wide on the level they are found on


class FaceError(ValueError):
    """No usable face in a video: none, too small, or lost for most of it."""


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
    return _detector(), landmark_model(predictor_path())


@functools.lru_cache(maxsize=4)
def landmark_model(model: Path) -> trees.ShapePredictor:
    """dlib's 68-point `model` file as landmarks.py's arrays: from the cache, else converted
    and kept there (said on the one line of what reading builds once)."""
    model = Path(model)
    name = trees.cached_name(model)
    found = cache.find("landmarks", name)
    if found is not None:
        try:
            return trees.read(found)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry: converted again below
    out = cache.folder("landmarks") / name
    with cache.preparing("converting dlib's landmark model to arrays", out.parent):
        return trees.convert(model, out)


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
    with cache.preparing("saving dlib's face detector", saved.parent):
        detector = dlib.get_frontal_face_detector()
        fd, tmp = tempfile.mkstemp(dir=saved.parent, prefix=f".{saved.name}.",
                                   suffix=".partial")
        os.close(fd)
        try:
            detector.save(tmp)
            os.replace(tmp, saved)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return detector


def detect_faces(frame: np.ndarray, upsample: int = 0) -> list[tuple[int, int, int, int]]:
    """Face boxes (left, top, right, bottom) in frame pixels, largest first. At upsample 0
    the faces over ~120 px wide are looked for first (COARSE_LEVELS): where one is found,
    smaller faces beside it are not counted."""
    import cv2

    detector, _ = _models()
    shrink = min(1.0, DETECT_MAX_SIDE / max(frame.shape))
    small = np.ascontiguousarray(frame if shrink == 1.0 else cv2.resize(
        frame, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA))
    found = _coarse(detector, small) if upsample == 0 else []
    if not found or max(r.width() for r in found) < COARSE_MIN_PX * shrink:
        found = list(detector(small, upsample))
    boxes = [tuple(int(round(v / shrink)) for v in (r.left(), r.top(), r.right(), r.bottom()))
             for r in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def _coarse(detector, frame: np.ndarray) -> list:
    """The detector's boxes on the upper levels of its own pyramid only (boxes from ~100 px
    wide), mapped back to `frame`'s pixels as its whole pyramid maps them: from the level
    each was found on (a box there is BOX_PX wide), rounded once."""
    import dlib

    pyramid = dlib.pyramid_down(6)  # the frontal detector's own: 6 pixels to 5 a level
    shrunk = frame
    for _ in range(COARSE_LEVELS):
        shrunk = pyramid(shrunk)
    found = []
    for r in detector(shrunk, 0):
        level = max(0, round(math.log(r.width() / BOX_PX) / math.log(6 / 5)))
        found.append(pyramid.rect_up(pyramid.rect_down(r, level) if level else r,
                                     level + COARSE_LEVELS))
    return found


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


def _frame(frames, t: int):
    """Frame t of `frames` (an array, or pipeline's frames still being decoded), or None
    past the clip's end."""
    try:
        return frames[t]
    except IndexError:
        return None


def _first_face(frames):
    """(frame index, boxes) of the first frame, tried every SEARCH_EVERY, showing a face."""
    t = 0
    while (frame := _frame(frames, t)) is not None:
        boxes = detect_faces(frame)
        if boxes:
            return t, boxes
        t += SEARCH_EVERY
    # None at the detector's own scale: a face smaller than it finds, or none at all.
    for t in range(0, len(frames), max(1, len(frames) // 4)):
        small = detect_faces(frames[t], upsample=1)
        if small:
            raise _too_small(small[0])
    raise FaceError(f"no face in the first {len(frames)} frames: the video must show one "
                    "frontal face, well lit")


def track_landmarks(frames):
    """(landmarks (T, 68, 2), lost (T,) bool, first box, its frame, most faces seen) of
    (T, H, W) uint8 grey `frames`: an array, or any sequence whose frames[t] waits for
    frame t and raises IndexError past the end (the fits start before decoding ends).

    The 68 points are fitted on every LANDMARK_EVERY-th frame (and the last) and
    interpolated in between; each fit starts from the detector's box, moved and scaled
    with the landmarks since. The detector runs again where the landmarks carried the box
    MOVED away from it, or the box no longer shows what it showed (SAME_FACE); a detection
    that finds neither a face near the tracked one nor one that looks like it (a jump)
    marks that fit lost (landmarks carried), and each later fit detects again until the
    face is back.
    """
    first, boxes = _first_face(frames)
    box = boxes[0]
    if box[2] - box[0] < MIN_FACE_PX:
        raise _too_small(box)
    fits, gone, faces = _follow(frames, first, box)
    n = len(frames)
    points = np.zeros((n, 68, 2), np.float32)
    lost = np.zeros(n, bool)
    lost[:first] = True
    keys = sorted(fits)
    points[keys], lost[keys] = np.stack([fits[t] for t in keys]), [t in gone for t in keys]
    for a, b in zip(keys, keys[1:]):  # frames between fits: interpolated, or lost if b is
        for t in range(a + 1, b):
            w = (t - a) / (b - a)
            points[t] = (1 - w) * points[a] + w * points[b]
            lost[t] = lost[b]
    points[:first] = points[first]  # damaged first frames: the first face found, carried back
    return points, lost, box, first, max(len(boxes), faces)


def _carried(anchor_box, anchor: np.ndarray, last: np.ndarray, ahead):
    """The detector's box, moved and scaled with the landmarks since that detection and
    moved on by `ahead` (the face's expected move since the last fit); and how far that is
    (the larger of the move over the box's width and the zoom's change)."""
    shift = last.mean(0) - anchor.mean(0) + ahead
    zoom = _spread(last) / max(_spread(anchor), 1e-6)
    cx = (anchor_box[0] + anchor_box[2]) / 2 + shift[0]
    cy = (anchor_box[1] + anchor_box[3]) / 2 + shift[1]
    hw = zoom * (anchor_box[2] - anchor_box[0]) / 2
    hh = zoom * (anchor_box[3] - anchor_box[1]) / 2
    moved = max(float(np.hypot(*shift)) / max(anchor_box[2] - anchor_box[0], 1), abs(zoom - 1))
    return (cx - hw, cy - hh, cx + hw, cy + hh), moved


def _look(frame: np.ndarray, box) -> np.ndarray | None:
    """The picture in `box`, shrunk to 16x16 and standardised; None where there is nothing
    to compare (off the frame, or flat: a blank or grey frame)."""
    import cv2

    height, width = frame.shape
    left, top = max(int(round(box[0])), 0), max(int(round(box[1])), 0)
    right, bottom = min(int(round(box[2])), width), min(int(round(box[3])), height)
    if right - left < 4 or bottom - top < 4:
        return None
    x = cv2.resize(frame[top:bottom, left:right], (16, 16),
                   interpolation=cv2.INTER_AREA).astype(np.float32)
    spread = float(x.std())
    return None if spread < 2.0 else (x - x.mean()) / spread


def _alike(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Whether two _look pictures show the same thing (correlation at least SAME_FACE)."""
    return a is not None and b is not None and float((a * b).mean()) >= SAME_FACE


def _follow(frames, first: int, box):
    """track_landmarks' fits, from the face `box` found on frame `first`: every
    LANDMARK_EVERY-th frame and the last, each from where the last two fits say the face
    is heading. Returns ({frame: (68, 2) points}, the frames of them where the face was
    lost, the most faces a later detection saw)."""
    faces, gone = 0, set()
    anchor_box, anchor = box, landmarks(frames[first], box)
    anchor_look = _look(frames[first], box)
    fits, last, tracking, t, end = {first: anchor}, anchor, True, first, False
    velocity, seen = np.zeros(2), first  # the face's move a frame; the last fit's frame
    while not end:
        t += LANDMARK_EVERY
        frame = _frame(frames, t)
        if frame is None:  # past the end: the last frame is fitted too
            t, end = len(frames) - 1, True
            if t in fits:
                break
            frame = frames[t]
        carried, moved = _carried(anchor_box, anchor, last, velocity * (t - seen))
        jumped = False
        if tracking and moved < MOVED and _alike(anchor_look, _look(frame, carried)):
            fit = landmarks(frame, carried)
        else:
            found = detect_faces(frame)  # moved away, or lost: where is the face now?
            faces = max(faces, len(found))
            near = max(found, key=lambda b: _overlap(b, carried), default=None)
            jumped = near is None or _overlap(near, carried) <= 0.1
            if jumped:  # not near the box: the face it showed, gone elsewhere?
                near = next((b for b in found if _alike(anchor_look, _look(frame, b))), None)
            tracking = near is not None
            if not tracking:
                gone.add(t)
                fits[t], velocity = last, np.zeros(2)
                continue
            anchor_box, anchor_look = near, _look(frame, near)
            anchor = fit = landmarks(frame, near)
        # a jump is no pace to carry the next box at
        velocity = np.zeros(2) if jumped else (fit.mean(0) - last.mean(0)) / (t - seen)
        if np.hypot(*velocity) < STILL_PX:  # the fits' own jitter, not a move
            velocity = np.zeros(2)
        last = fits[t] = fit
        seen = t
    return fits, gone, faces
