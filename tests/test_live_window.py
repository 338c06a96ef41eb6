"""A Live capture's window (live/window.py): its frames handed out while the capture runs,
each as soon as the camera's frames decide it, and always the frames read at the end; the
mouth found on them meanwhile, and found again when the window cannot be trusted."""
from __future__ import annotations

import threading
from collections import deque

import numpy as np
import pytest

from lipread import grid, mouth, video
from lipread.live import frames
from lipread.live.window import WAIT_S, Cancelled, Window

CLIP = "bbal6n"  # an MPEG-1 test clip
N = 90  # a capture's window: 15 frames before the sentence, then 75
HEIGHT, WIDTH = 8, 6  # the small synthetic frames' picture (yuv420p: 12 rows)


def yuv(picture: np.ndarray) -> np.ndarray:
    """A grey picture as a camera's yuv420p frame: its rows, then flat chroma."""
    h, w = picture.shape
    return np.concatenate([picture, np.full((h // 2, w), 128, np.uint8)])


def camera(count: int, fps: float, jitter: float, seed: int, start: float = 0.0):
    """(time, yuv) pairs of `count` frames from `start`, each its own picture, stamped
    unevenly about `fps`."""
    rng = np.random.default_rng(seed)
    stamps = start + np.arange(count) / fps + rng.uniform(-jitter, jitter, count)
    return [(float(t), yuv(np.full((HEIGHT, WIDTH), k % 256, np.uint8)))
            for k, t in enumerate(np.sort(stamps))]


def fetch(window: Window, i: int, timeout: float = 10.0):
    """window[i] from another thread: (what came, or the exception, or "waiting")."""
    out = ["waiting"]

    def get():
        try:
            out[0] = window[i]
        except (IndexError, Cancelled) as err:
            out[0] = err

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    thread.join(timeout)
    return out[0]


def arrive(cond, buffer, window, pairs, still_on=True):
    """The camera's frames into the buffer, and the tracker's word that the capture runs."""
    with cond:
        buffer.extend(pairs)
        if still_on:
            window.advance(pairs[-1][0])


@pytest.mark.parametrize("fps, jitter, seed", [(25.0, 0.0, 0), (15.0, 0.01, 1),
                                               (30.0, 0.012, 2), (24.0, 0.02, 3)])
def test_frames_handed_out_while_the_capture_runs_are_the_frames_it_reads(fps, jitter, seed):
    """Fed frame by frame, the window hands out frame i once a camera frame at or after its
    instant is there, and every frame handed out is the one picked when it ends."""
    cond, buffer = threading.Condition(), deque()
    pairs = camera(int(4 * fps), fps, jitter, seed)
    first = 0.37  # the window's first instant, and the capture's end: its 90th
    end = first + (N - 1) / 25
    window = Window(cond, buffer, first, N, HEIGHT)
    got, asked = {}, 0
    for k, pair in enumerate(pairs):
        if pair[0] > end:
            break
        arrive(cond, buffer, window, [pair])
        while first + asked / 25 <= pair[0] and asked < N:
            got[asked] = fetch(window, asked, timeout=2.0)  # there: no wait
            asked += 1
    assert asked >= N - 3  # all but the last few handed out before the capture ended
    waiting = fetch(window, asked, timeout=0.2)  # its instant is past what the camera sent
    assert isinstance(waiting, str)
    with cond:
        picked = frames.pick(buffer, first, end, N)
        window.finish(picked)
    assert window.same and len(window) == N
    assert all(got[i] is not None and np.shares_memory(got[i], picked[i]) for i in got)
    assert all(np.array_equal(got[i], picked[i][:HEIGHT]) for i in got)
    assert isinstance(fetch(window, N), IndexError)  # past the end: as an array's end


def test_a_button_window_knows_its_end_and_waits_for_nothing_more():
    cond, buffer = threading.Condition(), deque()
    pairs = camera(110, 25.0, 0.0, 0, start=0.01)
    window = Window(cond, buffer, 1.0, 75, HEIGHT, end=4.0)  # 3 s from 1.0 s: 75 frames
    arrive(cond, buffer, window, pairs[:60], still_on=False)  # frames up to 2.37 s
    assert np.array_equal(fetch(window, 34), pairs[59][1][:HEIGHT])  # 1.0 + 34/25 = 2.36 s
    assert isinstance(fetch(window, 35, timeout=0.2), str)  # 2.4 s: not sent yet
    arrive(cond, buffer, window, pairs[60:], still_on=False)  # past its end
    assert np.array_equal(fetch(window, 74), pairs[99][1][:HEIGHT])  # its 75th and last
    assert isinstance(fetch(window, 75, timeout=0.2), str)  # no 76th (4.0 s), whatever came
    with cond:
        window.finish(frames.pick(buffer, 1.0, 4.0, 75))
    assert isinstance(fetch(window, 75), IndexError) and window.same


def test_a_frame_stamped_at_its_instant_is_handed_out_without_waiting_for_the_next():
    cond, buffer = threading.Condition(), deque()
    pairs = camera(20, 25.0, 0.0, 0)  # stamped k / 25: on the instants exactly
    window = Window(cond, buffer, 0.0, N, HEIGHT)
    arrive(cond, buffer, window, pairs[:11])
    assert np.array_equal(fetch(window, 10), pairs[10][1][:HEIGHT])


def test_a_dropped_capture_hands_out_nothing_more():
    cond, buffer = threading.Condition(), deque()
    window = Window(cond, buffer, 0.0, N, HEIGHT)
    arrive(cond, buffer, window, camera(10, 25.0, 0.0, 0))
    out, thread = [None], None

    def wait_far():
        try:
            window[80]
        except Cancelled as err:
            out[0] = err

    thread = threading.Thread(target=wait_far, daemon=True)
    thread.start()
    with cond:
        window.cancel()
    thread.join(WAIT_S / 2)  # woken by the drop, not by its next look
    assert isinstance(out[0], Cancelled) and isinstance(fetch(window, 0), Cancelled)
    window.run()  # a locate started on it ends at once, with nothing found
    assert window.track is None and window.error is None and not window.trusted


@pytest.fixture(scope="module")
def clip_frames(grid_dir) -> np.ndarray:
    gray = video.read_clip(grid.video_path(grid_dir, CLIP)).frames
    return np.concatenate([np.repeat(gray[:1], N - len(gray), axis=0), gray])


def located(window: Window, pairs, end: float) -> list:
    """run() on a thread while the frames arrive at 25 fps; the frames picked at `end`."""
    thread = threading.Thread(target=window.run, daemon=True)
    thread.start()
    for pair in pairs:
        arrive(window.cond, window.buffer, window, [pair], still_on=pair[0] < end)
    with window.cond:
        picked = frames.pick(window.buffer, window.first, end, window.n)
        window.finish(picked)
    thread.join(60)
    return picked


def test_the_mouth_found_while_the_capture_ran_is_the_one_of_the_frames_read(clip_frames):
    cond, buffer = threading.Condition(), deque()
    pairs = [(k / 25, yuv(f)) for k, f in enumerate(clip_frames)]
    window = Window(cond, buffer, 0.0, N, clip_frames.shape[1])
    picked = located(window, pairs, end=(N - 1) / 25)
    gray = np.stack([y[:clip_frames.shape[1]] for y in picked])
    assert np.array_equal(gray, clip_frames) and window.trusted
    again = mouth.locate(gray)
    track = window.locate(gray)
    assert track is window.track  # not found a second time
    assert np.array_equal(track.landmarks, again.landmarks)
    assert np.array_equal(track.transforms, again.transforms)


def test_a_window_that_handed_out_another_frame_is_located_again(clip_frames):
    cond, buffer = threading.Condition(), deque()
    height = clip_frames.shape[1]
    pairs = [(k / 25, yuv(f)) for k, f in enumerate(clip_frames)]
    window = Window(cond, buffer, 0.0, N, height)
    thread = threading.Thread(target=window.run, daemon=True)
    thread.start()
    arrive(cond, buffer, window, pairs[:40])
    assert fetch(window, 30) is not None
    with cond:  # the buffer loses its first frames (as a full one does) and gets others
        buffer.clear()
        buffer.extend((t, y.copy()) for t, y in pairs)
        window.finish(frames.pick(buffer, 0.0, (N - 1) / 25, N))
    thread.join(60)
    gray = np.stack([y[:height] for _, y in pairs])
    assert not window.same and not window.trusted
    track = window.locate(gray)
    assert track is not window.track
    assert np.array_equal(track.landmarks, mouth.locate(gray).landmarks)


def test_no_face_in_the_window_is_the_error_of_the_frames_read():
    cond, buffer = threading.Condition(), deque()
    blank = np.full((288, 360), 128, np.uint8)
    pairs = [(k / 25, yuv(blank)) for k in range(N)]
    window = Window(cond, buffer, 0.0, N, 288)
    located(window, pairs, end=(N - 1) / 25)
    assert window.trusted and isinstance(window.error, mouth.FaceError)
    gray = np.repeat(blank[None], N, axis=0)
    with pytest.raises(mouth.FaceError) as expected:
        mouth.locate(gray)
    with pytest.raises(mouth.FaceError) as err:
        window.locate(gray)
    assert str(err.value) == str(expected.value)
