"""Following a face through a clip (face.track_landmarks), directly: a textured square that
stands still, drifts, jumps, leaves and comes back, in frames made here, with the detector
and the landmark fits played by template matching, so that every detection and every fit
is seen and counted. Then the real detector and landmarks on one real GRID frame.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipread import face, grid, video

H, W, SIDE = 240, 320, 96  # the frame, and the face's box (the detector's smallest: 80)
N = 75
rng = np.random.default_rng(7)
TEXTURE = rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
BACKGROUND = np.full((H, W), 90, np.uint8)
# 68 points: a fixed pattern inside the face's box, as a share of its side
PATTERN = rng.uniform(0.2, 0.8, (68, 2)).astype(np.float32)


def world(path, blank=()):
    """(T, H, W) frames with the face's top-left corner at path[t] (x, y), none at the
    frames in `blank`."""
    frames = np.repeat(BACKGROUND[None], len(path), 0)
    for t, (x, y) in enumerate(path):
        if t not in blank:
            frames[t, y:y + SIDE, x:x + SIDE] = TEXTURE
    return frames


def where(frame):
    """The face's top-left corner in `frame`, or None."""
    score = cv2.matchTemplate(frame, TEXTURE, cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(score)
    return (x, y) if best > 0.9 else None


class Fakes:
    """The detector and the fits, as dlib would see this world: a detection finds the
    square; a fit started from a box over the square lands on its points, one started
    elsewhere on the box's own (a fit knows no better than where it starts)."""

    def __init__(self, monkeypatch, extra_faces=0, sizes=None):
        self.detections, self.fits = [], []
        self.extra_faces, self.sizes = extra_faces, sizes or {}
        monkeypatch.setattr(face, "detect_faces", self.detect)
        monkeypatch.setattr(face, "landmarks", self.fit)

    def detect(self, frame, upsample=0):
        self.detections.append(upsample)
        corner = where(frame)
        if corner is None:
            return []
        side = self.sizes.get(upsample, SIDE)
        x, y = corner
        boxes = [(x, y, x + side, y + side)]
        return boxes + [(0, 0, 10, 10)] * self.extra_faces

    def fit(self, frame, box):
        self.fits.append(tuple(float(v) for v in box))
        corner = where(frame)
        if corner is not None and face._overlap(box, (*corner, corner[0] + SIDE,
                                                      corner[1] + SIDE)) > 0.3:
            x, y = corner
        else:
            x, y = box[0], box[1]
        return (PATTERN * SIDE + np.array([x, y], np.float32)).astype(np.float32)


def truth(path):
    return np.stack([PATTERN * SIDE + np.array(p, np.float32) for p in path])


def test_a_still_face_is_detected_once_and_fitted_every_sixth_frame_and_the_last(monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(100, 60)] * N
    points, lost, box, first, faces = face.track_landmarks(world(path))
    assert fakes.detections == [0]
    assert len(fakes.fits) == len(range(0, N, face.LANDMARK_EVERY)) + 1  # 0, 6, ..., 72, 74
    assert fakes.fits[0] == (100, 60, 196, 156)
    assert box == (100, 60, 196, 156) and first == 0 and faces == 1
    assert points.shape == (N, 68, 2) and points.dtype == np.float32
    assert np.allclose(points, truth(path)) and not lost.any()


def test_a_drifting_face_is_followed_by_its_fits_and_found_again_each_quarter_width(
        monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(60 + t, 50 + t // 3) for t in range(N)]  # 1 px a frame right, 1/3 down
    points, lost, *_ = face.track_landmarks(world(path))
    assert fakes.detections == [0] * 4  # 74 px: 3 times a quarter of 96
    assert np.abs(points - truth(path)).max() <= 1.0  # straight lines between fits
    assert not lost.any()
    # each fit started from the box carried ahead at the face's pace: on the face
    for t, fitted in zip([*range(0, N, 6), N - 1], fakes.fits):
        x, y = path[t]
        assert abs(fitted[0] - x) <= 1 and abs(fitted[1] - y) <= 1, (t, fitted, path[t])


def test_a_face_that_moved_a_quarter_of_its_width_is_detected_again(monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(40, 60)] * 30 + [(40 + 3 * (t - 29), 60) for t in range(30, N)]  # 3 px a frame
    points, lost, *_ = face.track_landmarks(world(path))
    assert len(fakes.detections) == 6  # 135 px from frame 30 on: 5 quarters of 96
    assert np.abs(points - truth(path)).max() <= 3.0 and not lost.any()
    assert [round(b[0]) for b in fakes.fits][5:8] == [43, 61, 79]  # carried at its pace


def test_a_face_that_jumps_is_found_where_it_went(monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(20, 20)] * 33 + [(200, 130)] * (N - 33)
    points, lost, *_ = face.track_landmarks(world(path))
    assert fakes.detections == [0, 0]  # the fit at 36 found the square gone from its box
    assert np.allclose(points[36:], truth(path)[36:])  # found where it went, and followed
    assert np.allclose(points[:31], truth(path)[:31]) and not lost.any()


def test_a_face_that_leaves_is_lost_until_it_is_back_and_carried_meanwhile(monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(100, 60)] * N
    gone = set(range(20, 45))
    points, lost, *_ = face.track_landmarks(world(path, blank=gone))
    # fits at 24, 30, 36, 42 find no face (each detects again), 48 finds it back
    assert fakes.detections == [0, 0, 0, 0, 0, 0]
    assert lost.tolist() == [t in range(19, 43) for t in range(N)]
    assert np.allclose(points, truth(path))  # carried: the last points seen


def test_a_face_that_leaves_is_not_swapped_for_another_in_the_picture(monkeypatch):
    stranger = rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    frames = world([(20, 20)] * N, blank=set(range(30, N)))
    frames[:, 130:130 + SIDE, 210:210 + SIDE] = stranger  # someone else, all along
    fakes = Fakes(monkeypatch)
    detect = fakes.detect
    fakes.detect = lambda frame, upsample=0: detect(frame, upsample) + [(210, 130, 306, 226)]
    monkeypatch.setattr(face, "detect_faces", fakes.detect)
    points, lost, *_ = face.track_landmarks(frames)
    assert lost.tolist() == [t >= 25 for t in range(N)]  # from the fit before it left
    assert np.allclose(points, truth([(20, 20)] * N))  # carried, never the stranger's


def test_a_face_that_appears_late_is_looked_for_every_third_frame_and_carried_back(
        monkeypatch):
    fakes = Fakes(monkeypatch)
    path = [(100, 60)] * N
    points, lost, box, first, _ = face.track_landmarks(world(path, blank=set(range(7))))
    assert first == 9 and fakes.detections[:4] == [0, 0, 0, 0]  # frames 0, 3, 6, 9
    assert lost.tolist() == [t < 9 for t in range(N)]
    assert np.allclose(points, truth(path)) and box == (100, 60, 196, 156)
    assert fakes.fits[:2] == [(100, 60, 196, 156), (100, 60, 196, 156)]  # frames 9 and 15


def test_the_faces_seen_are_the_most_any_detection_saw(monkeypatch):
    Fakes(monkeypatch, extra_faces=1)
    *_, faces = face.track_landmarks(world([(100, 60)] * N))
    assert faces == 2
    fakes = Fakes(monkeypatch, extra_faces=2)
    path = [(20, 20)] * 33 + [(200, 130)] * (N - 33)
    *_, faces = face.track_landmarks(world(path))
    assert faces == 3 and fakes.detections == [0, 0]


def test_frames_still_being_decoded_are_followed_as_an_array_is(monkeypatch):
    path = [(60 + t, 50) for t in range(N)]
    frames = world(path)

    class Decoding:  # frames[t] past the end: IndexError; len() once decoding ended
        def __getitem__(self, t):
            if t >= N:
                raise IndexError(t)
            return frames[t]

        def __len__(self):
            return N

    Fakes(monkeypatch)
    lazy = face.track_landmarks(Decoding())
    Fakes(monkeypatch)
    whole = face.track_landmarks(frames)
    assert np.array_equal(lazy[0], whole[0]) and np.array_equal(lazy[1], whole[1])
    assert lazy[2:] == whole[2:]


def test_a_clip_of_exactly_whole_steps_fits_its_last_frame_once(monkeypatch):
    fakes = Fakes(monkeypatch)
    n = 6 * 4 + 1  # frames 0..24: the last frame is a step's
    points, lost, *_ = face.track_landmarks(world([(100, 60)] * n))
    assert len(fakes.fits) == 5 and points.shape == (n, 68, 2)


def test_no_face_at_all_says_so_after_looking_closer(monkeypatch):
    fakes = Fakes(monkeypatch)
    with pytest.raises(face.FaceError) as err:
        face.track_landmarks(world([(0, 0)] * 40, blank=set(range(40))))
    assert str(err.value) == ("no face in the first 40 frames: the video must show one "
                              "frontal face, well lit")
    assert fakes.detections == [0] * 14 + [1] * 4  # every 3rd frame, then 0, 10, 20, 30 closer


@pytest.mark.parametrize("seen_at, side", [(0, 79), (1, 60)])
def test_a_face_too_small_says_how_wide_it_is_and_what_to_do(monkeypatch, seen_at, side):
    sizes = {0: side} if seen_at == 0 else {1: side}
    fakes = Fakes(monkeypatch, sizes=sizes)
    frames = world([(100, 60)] * 20)
    if seen_at == 1:  # the detector's own scale finds none; looking closer finds it
        fakes.detect = lambda frame, upsample=0, d=fakes.detect: (
            d(frame, upsample) if upsample == 1 else [])
        monkeypatch.setattr(face, "detect_faces", fakes.detect)
    with pytest.raises(face.FaceError) as err:
        face.track_landmarks(frames)
    assert str(err.value) == (f"the face is only {side} px wide; the mouth crop needs a face "
                              "at least 80 px wide: film closer or at a higher resolution")
    face.track_landmarks(world([(100, 60)] * 20)) if seen_at == 0 and side >= 80 else None


def test_a_face_of_the_smallest_width_is_followed(monkeypatch):
    Fakes(monkeypatch, sizes={0: 80})
    _, lost, box, *_ = face.track_landmarks(world([(100, 60)] * 20))
    assert box == (100, 60, 180, 140) and not lost.any()


def test_the_box_carried_with_the_face_moves_and_zooms_with_its_points():
    anchor = PATTERN * 100
    box, moved = face._carried((0, 0, 100, 100), anchor, anchor + [10, 0], np.zeros(2))
    assert np.allclose(box, (10, 0, 110, 100), atol=1e-4) and moved == pytest.approx(0.1)
    box, moved = face._carried((0, 0, 100, 100), anchor, anchor, np.array([0.0, 30.0]))
    assert np.allclose(box, (0, 30, 100, 130), atol=1e-4) and moved == pytest.approx(0.3)
    centre = anchor.mean(0)
    box, moved = face._carried((0, 0, 100, 50), anchor, (anchor - centre) * 1.2 + centre,
                               np.zeros(2))
    assert np.allclose(box, (-10, -5, 110, 55), atol=1e-4) and moved == pytest.approx(0.2)
    box, moved = face._carried((0, 0, 100, 50), anchor, (anchor - centre) * 0.7 + centre,
                               np.zeros(2))
    assert moved == pytest.approx(0.3)


def test_boxes_overlap_by_their_shared_area_over_their_union():
    assert face._overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert face._overlap((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert face._overlap((0, 0, 10, 10), (0, 5, 10, 15)) == pytest.approx(50 / 150)
    assert face._overlap((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert face._overlap((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert face._overlap((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert face._overlap((0, 0, 10, 20), (2, 4, 6, 8)) == pytest.approx(16 / 200)
    assert face._overlap((3, 3, 4, 4), (3, 3, 4, 4)) == 1.0  # one pixel each, the same
    # boxes anywhere, of any shape: the share of their pixels they have in common
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b = ((*sorted(rng.integers(0, 30, 2)), *sorted(rng.integers(0, 30, 2)))
                for _ in range(2))
        a, b = (a[0], a[2], a[1], a[3]), (b[0], b[2], b[1], b[3])  # (x0, y0, x1, y1)
        masks = []
        for x0, y0, x1, y1 in (a, b):
            m = np.zeros((30, 30), bool)
            m[y0:y1, x0:x1] = True
            masks.append(m)
        union = (masks[0] | masks[1]).sum()
        expected = (masks[0] & masks[1]).sum() / union if union else 0.0
        assert face._overlap(a, b) == pytest.approx(expected), (a, b)


def test_a_pictures_look_is_none_off_the_frame_or_flat_and_alike_only_to_itself():
    frame = world([(100, 60)])[0]
    look = face._look(frame, (100, 60, 196, 156))
    assert look.shape == (16, 16) and abs(look.mean()) < 1e-5 and abs(look.std() - 1) < 1e-4
    assert face._alike(look, look)
    assert not face._alike(look, face._look(frame, (120, 80, 216, 176)))  # another picture
    assert not face._alike(look, -look) and not face._alike(None, look)
    assert not face._alike(look, None)
    assert face._look(frame, (0, 0, 40, 40)) is None  # the flat background
    assert face._look(frame, (318, 100, 400, 200)) is None  # 2 px on the frame
    assert face._look(frame, (100, 238, 200, 300)) is None
    assert face._look(frame, (-50, -50, 3, 300)) is None
    edge = face._look(frame, (-20, -10, 150, 120))  # the part on the frame is compared
    assert edge is not None and edge.shape == (16, 16)
    grey = np.full((H, W), 100, np.uint8)
    grey[0:50:2, 0:50] = 101  # a spread under 2 grey levels: nothing to compare
    assert face._look(grey, (0, 0, 50, 50)) is None


def test_alike_is_a_correlation_of_at_least_six_tenths():
    a = np.zeros((16, 16), np.float32)
    a[:8] = 1
    a[8:] = -1
    noise = np.where(np.arange(256).reshape(16, 16) % 5 == 0, -1.0, 1.0).astype(np.float32)
    assert face._alike(a, a * 0.6 + 1e-6)
    assert not face._alike(a, a * 0.59)
    assert float((a * (a * noise)).mean()) == pytest.approx(0.6, abs=0.01)


def test_the_spread_of_points_is_their_rms_distance_from_their_centre():
    assert face._spread(np.array([[0, 0], [2, 0]], np.float32)) == pytest.approx(1.0)
    assert face._spread(np.array([[1, 1], [4, 5]], np.float32)) == pytest.approx(2.5)


@pytest.fixture(scope="module")
def real_frame(grid_dir, test_names):
    return video.read_clip(grid.video_path(grid_dir, test_names[0]), seconds=0.04).frames[0]


def test_the_real_detector_finds_the_speakers_face_largest_first(real_frame):
    boxes = face.detect_faces(real_frame)
    assert len(boxes) == 1
    left, top, right, bottom = boxes[0]
    assert 60 < left < 200 and 60 < top < 180 and 90 < right - left < 170
    assert bottom - top == pytest.approx(right - left, abs=2)
    big = cv2.resize(real_frame, None, fx=2.5, fy=2.5)  # 900 px: shrunk for the detector
    (bl, bt, br, bb), = face.detect_faces(big)
    assert abs(bl - 2.5 * left) < 20 and abs(br - 2.5 * right) < 20
    assert face.detect_faces(np.zeros_like(real_frame)) == []


def _whole_pyramid(frame):
    detector, _ = face._models()
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in detector(frame, 0)]


@pytest.mark.parametrize("scale", [1.0, 0.6, 0.5, 1.3])
def test_a_face_of_any_size_gets_the_box_of_the_detectors_whole_pyramid(real_frame, scale):
    # 0.6: the upper levels alone find this face in a box 40% too wide; 0.5: not at all
    frame = np.ascontiguousarray(cv2.resize(real_frame, None, fx=scale, fy=scale))
    (whole,), (found,) = _whole_pyramid(frame), face.detect_faces(frame)
    assert found == whole


def test_the_real_landmarks_put_the_mouth_below_the_nose_inside_the_box(real_frame):
    box = face.detect_faces(real_frame)[0]
    points = face.landmarks(real_frame, box)
    assert points.shape == (68, 2) and points.dtype == np.float32
    mouth, nose = points[48:68].mean(0), points[27:36].mean(0)
    assert mouth[1] > nose[1] + 10 and abs(mouth[0] - nose[0]) < 10
    assert (points[:, 0] > box[0] - 10).all() and (points[:, 0] < box[2] + 10).all()
    again = face.landmarks(real_frame, [v + 0.4 for v in box])  # rounded to the same box
    assert np.array_equal(points, again)
