"""The mouth crop's geometry, in-process on made-up faces: where the transform puts the
mouth, how it smooths the mouth's centre, size and angle over time, and what the warp
cuts. Finding the face on real video is test_mouth.py's and test_landmarks.py's."""
from __future__ import annotations

import numpy as np
import pytest

from lipread import mouth

T = 75


def face(centre=(180.0, 200.0), width=50.0, angle=0.0) -> np.ndarray:
    """68 points of a made-up face: the lips an ellipse `width` wide between its corners
    (48, 54) centred on `centre`, the eyes level above it, all turned by `angle`."""
    p = np.zeros((68, 2))
    a = np.linspace(0, 2 * np.pi, 12, endpoint=False)  # outer lip, 48 at the left corner
    p[48:60] = np.stack([-np.cos(a), np.sin(a) * 0.4], 1) * width / 2
    b = np.linspace(0, 2 * np.pi, 8, endpoint=False)  # inner lip
    p[60:68] = np.stack([-np.cos(b), np.sin(b) * 0.2], 1) * width / 3
    p[36:42] = (-width * 0.7, -width * 1.2)  # left eye, in the image
    p[42:48] = (width * 0.7, -width * 1.2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (p @ rot.T + centre).astype(np.float32)


def apply(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:2, :2].T + m[:, 2]


@pytest.mark.parametrize("centre, width, angle", [((180, 200), 50, 0.0),
                                                  ((400, 90), 120, 0.2),
                                                  ((60.5, 33.25), 20, -0.35)])
def test_the_mouth_is_put_in_the_middle_at_its_width_with_the_eyes_level(centre, width, angle):
    points = np.repeat(face(centre, width, angle)[None], T, 0)
    transforms = mouth.similarity_transforms(points)
    assert transforms.shape == (T, 2, 3) and transforms.dtype == np.float32
    for m in transforms[[0, 37, T - 1]]:
        crop = apply(m, points[0])
        assert np.allclose(crop[mouth.MOUTH].mean(0), mouth.MOUTH_CENTRE, atol=1e-3)
        left, right = crop[mouth.MOUTH_CORNERS[0]], crop[mouth.MOUTH_CORNERS[1]]
        assert np.isclose(np.hypot(*(right - left)), mouth.MOUTH_WIDTH, atol=1e-3)
        assert abs(right[1] - left[1]) < 1e-3 and right[0] > left[0]  # level, not mirrored
        eyes = crop[mouth.RIGHT_EYE].mean(0) - crop[mouth.LEFT_EYE].mean(0)
        assert abs(eyes[1]) < 1e-3 and eyes[0] > 0
        assert (crop[36:48, 1] < crop[mouth.MOUTH, 1].min()).all()  # eyes above the mouth


def running(x: np.ndarray, window: int, reduce) -> np.ndarray:
    """The centred running `reduce` with edge values repeated, one frame at a time."""
    half = window // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    return np.stack([reduce(padded[t:t + window], axis=0) for t in range(len(x))])


def test_running_median_and_mean_are_centred_with_the_edges_repeated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, 2)) * 10 + np.linspace(0, 50, T)[:, None]
    for window in (mouth.SMOOTH_CENTRE, mouth.SMOOTH_POSE, 3):
        assert np.allclose(mouth._running_median(x, window), running(x, window, np.median))
        assert np.allclose(mouth._running_mean(x, window), running(x, window, np.mean))
    for smooth in (mouth._running_median, mouth._running_mean):
        assert np.array_equal(smooth(x[:1], 9), x[:1]) and np.array_equal(smooth(x, 1), x)
    # Two frames: each end's value repeated into the window.
    two = np.array([0.0, 9.0])
    assert np.allclose(mouth._running_mean(two, 9), [4.0, 5.0])  # (5*0 + 4*9) / 9, ...
    assert np.array_equal(mouth._running_median(two, 9), two)
    # A lone outlier is gone after the median; a step becomes a ramp after the mean.
    spike = np.zeros(T)
    spike[30] = 100.0
    assert not mouth._running_median(spike, 9).any()
    step = np.r_[np.zeros(40), np.ones(35)]
    ramp = mouth._running_mean(step, 9)
    assert np.allclose(ramp[:36], 0) and np.allclose(ramp[45:], 1)
    assert np.allclose(ramp[36:45], np.arange(1, 10) / 9)


def test_centre_size_and_angle_are_smoothed_over_their_windows():
    """A head that jumps 10 px, grows, and turns at frame 40: the crop follows the centre's
    running median then mean over 9 frames, the width's and angle's over 25."""
    points = np.stack([face((180, 200), 50, 0.0) if t < 40 else face((190, 196), 60, 0.1)
                       for t in range(T)])
    transforms = mouth.similarity_transforms(points).astype(np.float64)

    def smoothed(x, window):
        return running(running(x, window, np.median), window, np.mean)
    centre = smoothed(points[:, mouth.MOUTH].astype(np.float64).mean(1), mouth.SMOOTH_CENTRE)
    corners = points[:, 54] - points[:, 48]
    width = smoothed(np.hypot(corners[:, 0], corners[:, 1]).astype(np.float64), mouth.SMOOTH_POSE)
    eyes = points[:, 42:48].mean(1) - points[:, 36:42].mean(1)
    angle = smoothed(np.arctan2(eyes[:, 1], eyes[:, 0]).astype(np.float64), mouth.SMOOTH_POSE)
    scale = mouth.MOUTH_WIDTH / width
    assert np.allclose(transforms[:, 0, 0], scale * np.cos(angle), atol=1e-5)
    assert np.allclose(transforms[:, 0, 1], scale * np.sin(angle), atol=1e-5)
    assert np.allclose(transforms[:, 1, 0], -scale * np.sin(angle), atol=1e-5)
    assert np.allclose(transforms[:, 1, 1], scale * np.cos(angle), atol=1e-5)
    # The smoothed centre goes to the crop's middle.
    moved = np.einsum("tij,tj->ti", transforms[:, :, :2], centre) + transforms[:, :, 2]
    assert np.allclose(moved, mouth.MOUTH_CENTRE, atol=1e-3)
    assert not np.allclose(transforms[35], transforms[0])  # it has begun to move by 35


def frame_with_texture(h=288, w=360) -> np.ndarray:
    y, x = np.mgrid[:h, :w]
    return ((x * 7 + y * 13) % 251).astype(np.uint8)


def shifted(cx: int, cy: int, n: int = 3) -> mouth.MouthTrack:
    m = np.zeros((n, 2, 3), np.float32)
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, 0, 2], m[:, 1, 2] = mouth.MOUTH_CENTRE[0] - cx, mouth.MOUTH_CENTRE[1] - cy
    return mouth.MouthTrack(np.zeros((n, 68, 2), np.float32), m, (0, 0, 1, 1), 0, 1, 0)


@pytest.mark.parametrize("margin", [0, 1, 4])
def test_the_crop_is_the_window_around_the_mouth_widened_by_its_margin(margin):
    frame = frame_with_texture()
    frames = np.stack([frame, frame[::-1], 255 - frame])
    cx, cy = 170, 200  # the mouth's centre in the frame
    crops = mouth.crop(frames, shifted(cx, cy), margin)
    h, w = mouth.CROP_H // 2 + margin, mouth.CROP_W // 2 + margin
    assert crops.shape == (3, mouth.CROP_H + 2 * margin, mouth.CROP_W + 2 * margin)
    assert crops.dtype == np.uint8
    for crop, f in zip(crops, frames):
        assert np.array_equal(crop, f[cy - h:cy + h, cx - w:cx + w])


def test_the_crop_repeats_the_frames_edge_beyond_it():
    frame = frame_with_texture()
    crop = mouth.crop(frame[None], shifted(10, 280, 1))[0]  # the window hangs off the corner
    assert np.array_equal(crop[0, 60:], frame[257, :80])
    assert np.array_equal(crop[-1, 60:], frame[287, :80])  # rows past the bottom: the last
    assert np.array_equal(crop[20, :60], np.full(60, frame[277, 0]))  # columns: the first


def test_a_large_face_is_shrunk_by_area_before_the_warp():
    """Fine stripes seen at a quarter size average to grey; sampled without the shrink
    they would alias to stripes of their own."""
    stripes = np.zeros((800, 1200), np.uint8)
    stripes[:, ::2] = 255
    track = shifted(600, 400, 1)
    track.transforms[:, :, :2] *= 0.25
    track.transforms[:, 0, 2] = mouth.MOUTH_CENTRE[0] - 0.25 * 600
    track.transforms[:, 1, 2] = mouth.MOUTH_CENTRE[1] - 0.25 * 400
    crop = mouth.crop(stripes[None], track)[0].astype(float)
    assert abs(crop.mean() - 127.5) < 1.0 and crop.std() < 1.0, (crop.mean(), crop.std())


@pytest.mark.parametrize("margin", [-1, 5])
def test_a_margin_outside_the_warped_pad_is_refused(margin):
    with pytest.raises(ValueError) as err:
        mouth.crop(frame_with_texture()[None], shifted(170, 200, 1), margin)
    assert str(err.value) == f"margin must be 0 to 4, not {margin}"


def test_to_crop_moves_points_as_the_warp_moves_pixels():
    track = shifted(170, 200, 2)
    track.transforms[1, :, :2] = [[0.8, 0.6], [-0.6, 0.8]]
    points = np.array([[[170.0, 200.0], [180.0, 190.0]]] * 2)
    assert np.allclose(track.to_crop(points)[0], [[70, 23], [80, 13]])  # margin 0
    out = track.to_crop(points, margin=3)
    assert np.allclose(out[0], [[73, 26], [83, 16]])
    assert np.allclose(out[1], [apply(track.transforms[1], p) + 3 for p in points[1]])


def tracked(monkeypatch, width: float, lost: int, n: int = T):
    """locate's decision on a face tracked by made-up landmarks."""
    points = np.repeat(face(width=width)[None], n, 0)
    gone = np.zeros(n, bool)
    gone[:lost] = True
    monkeypatch.setattr(mouth, "track_landmarks",
                        lambda frames: (points, gone, (1, 2, 3, 4), 5, 2))
    return mouth.locate(np.zeros((n, 8, 8), np.uint8))


def test_locate_refuses_a_face_lost_for_over_half_the_clip(monkeypatch):
    track = tracked(monkeypatch, 50.0, 37)  # 37 of 75 lost: read
    assert (track.lost, track.faces, track.box_frame, track.face_box) == (37, 2, 5, (1, 2, 3, 4))
    assert np.array_equal(track.transforms, mouth.similarity_transforms(track.landmarks))
    assert tracked(monkeypatch, 50.0, 37, n=74).lost == 37  # exactly half: still read
    with pytest.raises(mouth.FaceError) as err:
        tracked(monkeypatch, 50.0, 38)
    assert str(err.value) == ("the face was found on only 37 of 75 frames: the video must "
                              "show one frontal face throughout")


def test_locate_refuses_a_mouth_too_small_to_crop(monkeypatch):
    assert tracked(monkeypatch, mouth.MIN_MOUTH_PX, 0).lost == 0
    with pytest.raises(mouth.FaceError) as err:
        tracked(monkeypatch, mouth.MIN_MOUTH_PX - 0.1, 0)
    assert str(err.value) == ("the mouth is only 16 px wide; the crop needs at least 16 px: "
                              "film closer or at a higher resolution")


@pytest.mark.parametrize("scale, pre", [(0.9, 1), (0.7, 1), (0.5, 1), (0.34, 1), (0.3, 2),
                                        (0.2, 3)])
def test_a_face_shrunk_over_1_5x_is_first_shrunk_by_area_by_a_whole_factor(scale, pre):
    """The warp samples bilinearly, which aliases when shrinking by more than ~1.5x: the
    frame is first shrunk by area by the whole factor that leaves under 1.5x to the warp
    (none at 1/0.34 = 2.9x / 1.5 < 2; 2 at 3.3x; 3 at 5x)."""
    import cv2

    rng = np.random.default_rng(2)
    frame = rng.integers(0, 256, (600, 900), dtype=np.uint8)
    frame[:, ::3] = 255
    track = shifted(450, 300, 1)
    track.transforms[0, :, :2] *= scale
    track.transforms[0, :, 2] = (mouth.MOUTH_CENTRE[0] - scale * 450,
                                 mouth.MOUTH_CENTRE[1] - scale * 300)
    m = track.transforms[0].astype(np.float64)
    m[:, 2] += mouth.CROP_PAD
    m[:, :2] *= pre
    small = cv2.resize(frame, (900 // pre, 600 // pre), interpolation=cv2.INTER_AREA)
    pad = mouth.CROP_PAD
    want = cv2.warpAffine(small, m, (mouth.CROP_W + 2 * pad, mouth.CROP_H + 2 * pad),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(mouth.crop(frame[None], track)[0],
                          want[pad:pad + mouth.CROP_H, pad:pad + mouth.CROP_W])


def test_a_frame_smaller_than_the_crop_is_enlarged_into_it():
    """A phone's low-resolution stream: the mouth ~16 px wide in a 64x48 frame."""
    frame = frame_with_texture(48, 64)
    track = shifted(32, 30, 1)
    track.transforms[0, :, :2] *= 2.5
    track.transforms[0, :, 2] = (mouth.MOUTH_CENTRE[0] - 2.5 * 32, mouth.MOUTH_CENTRE[1] - 2.5 * 30)
    for margin in (0, 4):
        crop = mouth.crop(frame[None], track, margin)[0]
        assert crop.shape == (mouth.CROP_H + 2 * margin, mouth.CROP_W + 2 * margin)
    # The middle pixel is the frame's at the mouth's centre.
    assert abs(int(crop[4 + 23, 4 + 70]) - int(frame[30, 32])) <= 1
