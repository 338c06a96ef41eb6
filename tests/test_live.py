"""The Live page's parts without a browser: frames to 25 fps, the segmenter, the ICE
settings, the fake camera file, and a LiveSession fed a real GRID clip frame by frame as
the WebRTC thread feeds it (in real time, as a camera would), read as `predict` reads it."""
from __future__ import annotations

import threading
import time
from fractions import Fraction

import numpy as np
import pytest

import lipread
from lipread import grid, video
from lipread.live import capture, fakecam, frames, ice, overlay, segment
from lipread.live.session import LiveSession

CLIP = "bbal6n"  # an MPEG-1 test clip
TIME_BASE = Fraction(1, 90000)  # RTP's video clock


# --- frames ----------------------------------------------------------------------------------

def test_instants_are_25fps_and_at_most_75():
    assert np.allclose(frames.instants(1.0, 2.0), 1.0 + np.arange(26) / 25)
    assert len(frames.instants(0.0, 10.0)) == video.N_FRAMES


def test_resample_takes_the_frame_shown_at_each_instant():
    stamps = [0.0, 0.033, 0.066, 0.1, 0.133, 0.166]  # 30 fps
    wanted = np.array([0.0, 0.04, 0.08, 0.12, 0.16])
    assert frames.resample(stamps, wanted).tolist() == [0, 1, 2, 4, 5]
    # uneven delivery: a gap repeats the frame shown during it
    assert frames.resample([0.0, 0.2], np.array([0.0, 0.04, 0.08, 0.12, 0.16])).tolist() == [
        0, 0, 0, 1, 1]
    with pytest.raises(ValueError):
        frames.resample([], wanted)


def test_grid_window_pads_with_still_frames_to_three_seconds():
    out = frames.grid_window(list(range(40)), lead=10)
    assert len(out) == video.N_FRAMES
    assert out[:11] == [0] * 11 and out[10:50] == list(range(40))
    assert out[50:] == [39] * 25
    assert frames.grid_window(list(range(100))) == list(range(75))
    with pytest.raises(ValueError):
        frames.grid_window([])


# --- the segmenter ---------------------------------------------------------------------------

def feed(seg, signal, fps=25.0, t0=0.0):
    """`signal`: openings (None: no face), one per frame; the captures found."""
    found = []
    for i, value in enumerate(signal):
        cap = seg.update(t0 + i / fps, value)
        if cap is not None:
            found.append(cap)
    return found


def speech(seconds, fps=25.0):
    """An opening that swings 0.1-0.3 at 4 Hz, as syllables do."""
    t = np.arange(int(seconds * fps)) / fps
    return list(0.2 + 0.1 * np.sin(2 * np.pi * 4 * t))


def test_a_sentence_is_captured_from_just_before_the_lips_move_to_half_a_second_after():
    still = [0.1] * 50
    found = feed(segment.Segmenter(), still + speech(1.5) + still)
    assert len(found) == 1
    cap = found[0]
    onset = 2.0  # the first moving frame
    assert cap.how == "auto"
    assert cap.start == pytest.approx(onset - frames.LEAD_S)
    assert 3.5 + segment.STILL_S - 0.2 <= cap.end <= 3.5 + segment.STILL_S + 0.3
    assert cap.end - cap.start <= segment.MAX_S + 1e-6


def test_a_twitch_is_not_read_and_noise_never_starts_a_capture():
    rng = np.random.default_rng(0)
    noise = list(0.1 + rng.uniform(-0.02, 0.02, 200))  # landmark jitter on a still face
    assert feed(segment.Segmenter(), noise) == []
    assert feed(segment.Segmenter(), [0.1] * 50 + speech(0.2) + [0.1] * 50) == []


def test_long_speech_is_cut_at_three_seconds_and_waits_for_stillness():
    seg = segment.Segmenter()
    found = feed(seg, [0.1] * 25 + speech(6.0))
    assert len(found) == 1 and found[0].end - found[0].start == pytest.approx(segment.MAX_S)
    assert seg.state == "waiting" and not seg.ready  # mid-sentence: no second capture yet
    again = feed(seg, [0.1] * 25 + speech(1.0) + [0.1] * 25, t0=7.0)  # a pause, a sentence
    assert [c.start for c in again] == [pytest.approx(8.0 - frames.LEAD_S)]


def test_no_face_is_no_motion_and_manual_mode_waits_for_the_button():
    assert feed(segment.Segmenter(), [None] * 100) == []
    seg = segment.Segmenter(auto=False)
    assert feed(seg, [0.1] * 25 + speech(1.5) + [0.1] * 25) == []
    seg.arm(now=3.0)
    assert seg.state == "countdown"
    found = feed(seg, [0.1] * 200, t0=3.04)
    assert len(found) == 1 and found[0].how == "button"
    assert found[0].start == pytest.approx(3.0 + segment.COUNTDOWN_S)
    assert found[0].end - found[0].start == pytest.approx(segment.MAX_S)


def test_each_sentence_after_a_pause_is_a_capture_of_its_own():
    still = [0.1] * 50
    found = feed(segment.Segmenter(), still + speech(1.5) + still + speech(1.0) + still)
    assert [c.how for c in found] == ["auto", "auto"]
    assert found[0].start == pytest.approx(2.0 - frames.LEAD_S, abs=0.1)
    assert found[1].start == pytest.approx(2.0 + 1.5 + 2.0 - frames.LEAD_S, abs=0.1)
    assert found[0].end <= found[1].start


def test_the_lips_move_when_their_opening_spans_moving_within_the_window():
    """Openings MOVING apart inside MOTION_WINDOW_S are motion; less apart, or as far apart
    but further apart in time, or across a frame without a face, are not."""
    apart = [0.0, segment.MOVING] * 40
    assert len(feed(segment.Segmenter(), [0.0] * 25 + apart + [0.0] * 50)) == 1
    assert feed(segment.Segmenter(), [0.0] * 25 + [0.0, segment.MOVING * 0.9] * 40) == []
    seg = segment.Segmenter()
    assert seg.moving(0.0, 0.0) is False
    assert seg.moving(segment.MOTION_WINDOW_S, segment.MOVING) is True
    seg = segment.Segmenter()
    assert seg.moving(0.0, 0.0) is False and seg.moving(0.28, segment.MOVING) is False
    lost = [0.0, None, segment.MOVING, None] * 20  # a face lost between the openings
    assert feed(segment.Segmenter(), [0.0] * 25 + lost + [0.0] * 50) == []


def test_the_button_overrides_an_automatic_capture_and_cancel_stops_both():
    seg = segment.Segmenter()
    feed(seg, [0.1] * 25 + speech(0.5))
    assert seg.state == "capturing"
    seg.arm(now=1.5, countdown=1.0)
    assert seg.state == "countdown"
    seg.cancel()
    assert seg.state == "waiting"
    assert feed(seg, [0.1] * 200, t0=1.54) == []  # no capture left to finish
    seg.arm(now=10.0, countdown=0.0)
    found = feed(seg, [0.1] * 100, t0=10.0)
    assert [(c.how, c.start, c.end) for c in found] == [("button", 10.0, 10.0 + segment.MAX_S)]


def test_a_motion_of_the_shortest_speech_is_read_and_ends_after_stillness():
    """Times of a 10 fps camera: the lips move from 0.5 s to 0.9 s (MIN_SPEECH_S), are
    read, and the capture ends on the first frame STILL_S after the last motion."""
    opening = [0.0] * 5 + [0.1, 0.0, 0.1] + [0.0] * 20
    seg = segment.Segmenter()
    out = [(k / 10, seg.update(k / 10, o)) for k, o in enumerate(opening)]
    found = [(t, c) for t, c in out if c is not None]
    assert seg.last_motion == 0.9 and 0.9 - 0.5 == segment.MIN_SPEECH_S
    assert len(found) == 1
    t, cap = found[0]
    assert t == cap.end == 1.5  # 0.9 + STILL_S, the first frame at it or after
    assert cap.start == pytest.approx(0.5 - frames.LEAD_S)


def test_captures_come_out_on_the_frame_they_end_and_the_button_starts_on_time():
    seg = segment.Segmenter(auto=False)
    seg.arm(now=0.0, countdown=1.0)
    assert seg.update(0.875, 0.1) is None and seg.state == "countdown"
    assert seg.update(1.0, 0.1) is None and seg.state == "capturing"
    ends = [t for t in np.arange(1.125, 5.0, 0.125) if seg.update(t, 0.1) is not None]
    assert ends == [1.0 + segment.MAX_S]  # 4.0 exactly, a frame time


def test_stillness_and_the_three_seconds_end_on_the_frame_that_reaches_them():
    """At 8 fps (times exact in binary): a sentence ends on the frame STILL_S after the
    last motion, not a frame later; a capture cut at MAX_S comes out on a frame at its very
    end; and after a cut the next capture may start from the frame STILL_S after motion."""
    speaking = [0.1, 0.0] * 4  # a second of motion at 8 fps
    seg, ended = segment.Segmenter(), None
    for k, o in enumerate([0.0] * 8 + speaking + [0.0] * 16):
        if seg.update(k / 8, o) is not None:
            ended = k / 8
            break
    assert ended == seg.last_motion + segment.STILL_S

    seg, k = segment.Segmenter(), 0
    while seg.state != "capturing":
        seg.update(k / 8, [0.0, 0.1][k % 2] if k >= 8 else 0.0)
        k += 1
    end = seg.capturing.end
    while (k + 1) / 8 < end:
        k += 1
        assert seg.update(k / 8, [0.0, 0.1][k % 2]) is None
    assert seg.update(end, 0.0) is not None and not seg.ready  # cut mid-sentence
    ready_at = None
    for k in range(k + 1, k + 40):
        seg.update(k / 8, [0.0, 0.1][k % 2] if k < 40 else 0.0)  # speech goes on to 5 s
        if seg.ready:
            ready_at = k / 8
            break
    assert ready_at == seg.last_motion + segment.STILL_S


def test_after_the_button_an_automatic_capture_waits_for_stillness():
    seg = segment.Segmenter()
    seg.arm(now=0.0, countdown=0.0)
    found = feed(seg, speech(4.0) + [0.1] * 25 + speech(1.0) + [0.1] * 25)
    assert [c.how for c in found] == ["button", "auto"]
    assert found[1].start == pytest.approx(5.0 - frames.LEAD_S)


# --- ICE servers -----------------------------------------------------------------------------

def test_no_ice_server_is_contacted_unless_configured(monkeypatch):
    monkeypatch.delenv(ice.ENV, raising=False)
    assert ice.rtc_configuration() == {"iceServers": []}
    monkeypatch.setenv(ice.ENV, '[{"urls": "turn:turn.example.org:3478", "username": "u", '
                                '"credential": "p"}]')
    assert ice.ice_servers() == [{"urls": ["turn:turn.example.org:3478"], "username": "u",
                                  "credential": "p"}]


def test_ice_servers_from_secrets():
    secrets = {"ice_servers": [{"urls": ["stun:stun.example.org:3478"]}]}
    assert ice.ice_servers(secrets) == [{"urls": ["stun:stun.example.org:3478"]}]


@pytest.mark.parametrize("text, said", [
    ("[{", "not valid JSON"),
    ('{"urls": "stun:x"}', "must be a list"),
    ('[{"url": "stun:x"}]', 'with "urls"'),
    ('[{"urls": "http://x"}]', "is not a stun:"),
    ('[{"urls": "stun:x", "password": "p"}]', "unknown keys"),
])
def test_bad_ice_settings_say_what_is_wrong(monkeypatch, text, said):
    monkeypatch.setenv(ice.ENV, text)
    with pytest.raises(ice.IceError, match=said) as err:
        ice.ice_servers()
    assert ice.ENV in str(err.value)


# --- the fake camera file and the capture's mp4 ----------------------------------------------

def test_fake_camera_file_is_padded_and_tagged_for_chromium(grid_dir, tmp_path):
    out = fakecam.write_y4m(grid.video_path(grid_dir, CLIP), tmp_path / "cam.y4m")
    data = out.read_bytes()
    header = data[:data.index(b"\n")].split()
    assert header[0] == b"YUV4MPEG2" and b"C420" in header and b"W360" in header
    frame_bytes = 360 * 288 * 3 // 2 + len(b"FRAME\n")
    assert (len(data) - len(header) - 1) // frame_bytes == 75 + 2 * 50
    assert [p.name for p in tmp_path.iterdir()] == ["cam.y4m"]


def test_fake_camera_file_from_a_bad_video_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(Exception):
        fakecam.write_y4m(bad, tmp_path / "cam.y4m")
    assert [p.name for p in tmp_path.iterdir()] == ["bad.mp4"]


def test_capture_mp4_plays_back_its_frames():
    import imageio.v3 as iio

    grey = np.full((288 // 2, 360), 128, np.uint8)  # U and V: no colour
    yuv = [np.vstack([np.full((288, 360), 16 + 2 * i, np.uint8), grey]) for i in range(75)]
    data = capture.to_mp4(yuv, (360, 288))
    assert data[4:8] == b"ftyp"
    back = iio.imread(data, index=None, extension=".mp4")
    assert back.shape[:3] == (75, 288, 360)
    brightness = back.reshape(75, -1).mean(1)  # each frame brighter than the one before:
    assert (np.diff(brightness) > 0.5).all()  # all 75, in their order


# --- a session fed a camera ------------------------------------------------------------------

def camera_frames(path, pad_s=2.0):
    """A clip's frames as a camera sends them (yuv420p), padded with still frames."""
    import av
    import imageio.v3 as iio

    rgb = list(iio.imiter(path, plugin="pyav"))
    pad = int(pad_s * video.FPS)
    for image in [rgb[0]] * pad + rgb + [rgb[-1]] * pad:
        yield av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
            format="yuv420p")


def play(session, frames_in, fps=25.0, jitter_s=0.0, seed=0, at=None):
    """Feed frames in real time, stamped as RTP stamps them (optionally unevenly);
    `at`: {frame index: what to call before it}."""
    rng = np.random.default_rng(seed)
    out, begun = None, time.monotonic()
    for i, frame in enumerate(frames_in):
        (at or {}).get(i, lambda: None)()
        stamp = i / fps + (rng.uniform(-jitter_s, jitter_s) if i else 0.0)
        frame.pts, frame.time_base = round(stamp / TIME_BASE), TIME_BASE
        out = session.on_frame(frame)
        time.sleep(max(0.0, begun + (i + 1) / fps - time.monotonic()))
    return out


def wait_read(session, n=1, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [r for r in session.readings if r.read_at is not None and r.mp4 is not None]
        if len(done) >= n:
            return done
        time.sleep(0.1)
    pytest.fail(f"no reading within {timeout} s: {session.readings}")


@pytest.fixture(scope="module")
def shipped_model():
    from lipread.model import loader

    return loader.load_model("lipnet")


def test_a_session_reads_a_clip_as_predict_reads_the_file(grid_dir, shipped_model):
    path = grid.video_path(grid_dir, CLIP)
    expected = lipread.read(path, shipped_model, "grammar").sentence
    session = LiveSession()
    session.configure(shipped_model, "grammar", auto=True)
    last = play(session, camera_frames(path), jitter_s=0.008)
    (reading,) = wait_read(session)
    assert reading.how == "auto" and reading.error is None
    assert reading.reading.sentence == expected and reading.reading.reliable  # s1: sure
    assert reading.located_early  # the mouth was found on its frames as they came
    assert reading.reading.view.crops.shape == (75, 46, 140)
    assert 23 <= reading.camera_fps <= 27 and reading.latency < 30
    assert reading.mp4[4:8] == b"ftyp"
    # the preview: the picture as sent, the face box drawn in green, the crop in its corner
    assert (last.width, last.height) == (360, 288)
    drawn = last.to_ndarray(format="rgb24")
    green = (drawn[..., 1] > 150) & (drawn[..., 0] < 80) & (drawn[..., 2] < 80)
    assert green.sum() > 200
    left, top, right, bottom = overlay.inset_box(360)
    inset = drawn[top:bottom, left:right].astype(int)
    assert np.abs(inset[..., 0] - inset[..., 2]).max() < 20  # grayscale: the crop, not the
    # blue background of GRID's frame
    assert inset.std() > 10
    stats = session.stats()
    assert stats["frames"] == 175 and stats["preview_fps"] > 15


def test_the_page_wakes_when_the_readings_change_and_only_then():
    """What the Live page waits on between looks at the session: a change since the version
    it drew wakes it (at once if it came already, while the page was drawing); without one
    it waits its time out."""
    session = LiveSession(read=False)
    seen = session.version
    assert not session.wait_change(seen, 0.01)
    timer = threading.Timer(0.05, session._changed)
    timer.start()
    assert session.wait_change(seen, 60)  # woken by the change, long before 60 s
    timer.join()
    assert session.version == seen + 1 and session.wait_change(seen, 0)
    assert not session.wait_change(session.version, 0)


def test_the_button_reads_the_next_three_seconds(grid_dir, shipped_model):
    path = grid.video_path(grid_dir, CLIP)
    session = LiveSession()
    session.configure(shipped_model, "greedy", auto=False)
    clip = list(camera_frames(path, pad_s=0.2))
    # pressed at frame 3 (after the frame of 0.08 s): the capture runs 3.08 s to 6.08 s
    play(session, clip[:3] + [clip[0]] * 72 + clip + [clip[-1]] * 40,
         at={3: session.read_next})
    (reading,) = wait_read(session)
    assert reading.how == "button" and reading.located_early
    assert reading.start == pytest.approx(0.08 + segment.COUNTDOWN_S, abs=0.05)
    assert reading.seconds == pytest.approx(segment.MAX_S)


def still_session(image, seconds=1.5):
    import av

    session = LiveSession()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    play(session, (frame.reformat(format="yuv420p") for _ in range(int(seconds * 25))))
    time.sleep(0.3)
    return session


def first_frame(grid_dir):
    import imageio.v3 as iio

    return iio.imread(grid.video_path(grid_dir, CLIP), index=0, plugin="pyav")


def test_status_says_too_dark_no_face_and_several_faces(grid_dir):
    face = first_frame(grid_dir)
    assert "Too dark" in still_session(np.zeros_like(face)).status()[1]
    assert "No face found" in still_session(np.full_like(face, 128)).status()[1]
    assert "2 faces" in still_session(np.concatenate([face, face], axis=1)).status()[1]
    level, text = still_session(face).status()
    assert level == "info" and "Say a GRID sentence" in text


def test_the_camera_stopping_mid_capture_is_said(grid_dir, shipped_model):
    path = grid.video_path(grid_dir, CLIP)
    session = LiveSession()
    session.configure(shipped_model, "grammar", auto=True)
    clip = list(camera_frames(path, pad_s=1.0))
    play(session, clip[:25 + 40])  # the still face, then 1.6 s of the sentence: stop
    time.sleep(2.5)
    level, text = session.status()
    assert level == "warning" and "stopped sending pictures" in text
    assert "stopped during a capture" in (session.alert or "")
    assert session.readings == []


# --- python -m benchmarks --live: its flags ---------------------------------------------------------

@pytest.mark.parametrize("args, said", [
    (["--clips", "0"], "--clips must be 1 to 100"),
    (["--data-dir", "{tmp}"], "no test split there"),
    (["--chromium", "{tmp}/no-chromium"], "no chromium there"),
])
def test_bench_live_refuses_bad_flags_in_one_line(grid_dir, tmp_path, args, said):
    import subprocess
    import sys

    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--data-dir" not in args:
        args += ["--data-dir", str(grid_dir)]
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--live", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert said in lines[-1] and "Traceback" not in out.stderr
    assert lines[-1].startswith("python -m benchmarks --live: error:")
    assert list(tmp_path.iterdir()) == []


def test_a_recording_session_keeps_the_clip_unread_with_its_label(grid_dir):
    """The teach page's camera: the button's 3 s recorded as mp4, not read, labelled."""
    import imageio.v3 as iio

    path = grid.video_path(grid_dir, CLIP)
    session = LiveSession(read=False)
    session.configure(None, "grammar", auto=False)
    assert not session.read_next(label=(0, 4))  # no camera yet: nothing armed
    clip = list(camera_frames(path, pad_s=0.0))
    armed = []
    play(session, clip[:2] + [clip[0]] * 75 + clip,
         at={2: lambda: armed.append(session.read_next((0, 4)))})
    assert armed == [True]  # a camera: armed
    (recording,) = wait_read(session)
    assert recording.label == (0, 4) and recording.how == "button"
    assert recording.reading is None and recording.error is None
    assert iio.imread(recording.mp4, index=None, extension=".mp4").shape[0] == video.N_FRAMES
    assert "Record" in session.status()[1]


def test_the_previews_figures_are_rates_over_the_frames_kept_and_their_mean_cost():
    """What the Live page and `make bench-live` show of the preview: frames sent back a
    second over the last ones kept, faces tracked a second, and the mean time a frame took
    in on_frame; 0 where fewer than two frames (or no time) give no rate."""
    session = LiveSession(read=False)
    assert session.stats() == {"frames": 0, "preview_fps": 0.0, "tracked_fps": 0.0,
                               "frame_ms": 0.0}
    session.count = 7
    session.out_times.extend([10.0, 10.04, 10.08, 10.2])  # 3 frames in 0.2 s
    session.tracked_times.extend([10.0, 10.5])  # 1 in 0.5 s
    session.frame_seconds.extend([0.002, 0.004, 0.009])
    assert session.stats() == pytest.approx({"frames": 7, "preview_fps": 15.0,
                                             "tracked_fps": 2.0, "frame_ms": 5.0})
    session.out_times.clear()
    session.out_times.append(3.0)  # one frame: no rate
    session.tracked_times.extend([10.5])  # no time between two: no rate
    assert session.stats()["preview_fps"] == 0.0
    session.tracked_times.clear()
    session.tracked_times.extend([4.0, 4.0])
    assert session.stats()["tracked_fps"] == 0.0


def test_a_capture_is_read_from_the_start_the_grammar_fits_best(grid_dir, shipped_model):
    """Live reads 3 s of the frames from the start (of those it tries) whose reading the
    GRID grammar fits best: 20 still frames and then the sentence are read from frame 20,
    as the sentence alone is; the reading's clip is those 75 frames at 25 fps."""
    from lipread import mouth

    gray = video.read_clip(grid.video_path(grid_dir, CLIP)).frames
    padded = np.concatenate([np.repeat(gray[:1], 20, axis=0), gray])
    said, start = capture.read(shipped_model, padded, "grammar", starts=(0, 20))
    alone, at = capture.read(shipped_model, gray, "grammar")
    assert (start, at) == (20, 0) and said.sentence == alone.sentence
    clip = said.view.clip
    assert np.array_equal(clip.frames, video.fit_length(padded[20:]))
    assert (clip.fps, clip.duration, clip.start) == (25.0, 3.0, 0.0)
    assert said.view.crops.shape[0] == 75 and said.face_likeness > 0.75
    blank = np.full((75, *gray.shape[1:]), 128, np.uint8)
    with pytest.raises(mouth.FaceError) as no_face:
        mouth.locate(blank)
    with pytest.raises(video.VideoError) as err:
        capture.read(shipped_model, blank, "grammar")
    assert str(err.value) == str(no_face.value) and "face" in str(err.value)


# --- what the page and the preview say, state by state (no camera played) -------------------

def said_with(state=None, *, read=True, auto=True, newest=10.0, idle_s=0.0, alert=None,
              segment_state=None):
    """A session as the tracker leaves it: its newest frame at `newest` s (None: no camera
    yet), `idle_s` since a frame came, `state` the tracker's FaceState."""
    from lipread.live.tracker import FaceState

    session = LiveSession(read=read, auto=auto)
    if newest is not None:
        session.newest = (newest, np.zeros((4, 4), np.uint8))
        session.last_wall = time.monotonic() - idle_s
    session.alert = alert
    session.state = state if state is None or isinstance(state, FaceState) else FaceState(
        t=newest or 0.0, size=(360, 288), **state)
    if segment_state == "countdown":
        session.segmenter.arm(newest)
    elif segment_state == "capturing":
        session.segmenter.capturing = segment.Capture(newest - 0.4, newest, "auto")
    return session


FACE = {"brightness": 120.0, "box": (100, 100, 220, 220), "faces": 1}


@pytest.mark.parametrize("kw, level, text", [
    ({"newest": None}, "info", "Press START and allow the camera"),
    ({"state": FACE, "idle_s": 1.5}, "warning", "The camera stopped sending pictures"),
    ({"state": FACE, "idle_s": 0.9}, "info", "Say a GRID sentence"),  # within the gap
    ({"state": FACE, "alert": "It broke."}, "error", "It broke."),
    ({}, "info", "Finding your face"),
    ({"state": {"brightness": 39.0}}, "warning", "Too dark to find a face"),
    ({"state": {"brightness": 40.0}}, "warning", "No face found: face the camera"),
    ({"state": {**FACE, "faces": 2}}, "warning", "2 faces in the picture: the largest"),
    ({"state": {**FACE, "brightness": 30.0}}, "warning", "The picture is dark"),
    ({"state": FACE, "segment_state": "capturing"}, "info", "Reading your lips"),
    ({"state": FACE, "segment_state": "capturing", "read": False}, "info", "Recording"),
    ({"state": FACE, "segment_state": "countdown"}, "info", "Get ready"),
    ({"state": FACE, "auto": False}, "info", 'Press "Read the next 3 s"'),
    ({"state": FACE, "auto": False, "read": False}, "info", 'Press "Record" under a prompt'),
])
def test_the_page_says_what_the_camera_and_the_face_need(kw, level, text):
    got_level, got_text = said_with(**kw).status()
    assert got_level == level and got_text.startswith(text), got_text


@pytest.mark.parametrize("kw, alert, text", [
    ({}, True, "no face"),
    ({"state": {"brightness": 10.0}}, True, "too dark"),
    ({"state": {**FACE, "faces": 2}}, False, "2 faces: the largest is read"),
    ({"state": FACE}, False, ""),
    ({"state": FACE, "segment_state": "countdown"}, True, "3…"),
    ({"state": FACE, "segment_state": "capturing"}, True, "REC 0.4 s"),
])
def test_the_preview_counts_down_shows_rec_and_says_what_is_missing(kw, alert, text):
    session = said_with(**kw)
    level, said = session._preview_status(10.0)
    assert (level != "info") == alert and said == text
    if kw.get("segment_state") == "countdown":  # 0.2 s before its end: the last second
        assert session._preview_status(12.8) == ("alert", "1…")


def test_the_button_arms_the_next_three_seconds_from_the_newest_frame_with_its_label():
    session = said_with(FACE, alert="an earlier failure")
    assert session.read_next(label=("s26", 3))
    assert session.segmenter.armed == 10.0 + segment.COUNTDOWN_S
    assert session.label == ("s26", 3) and session.alert is None
    assert not said_with(newest=None).read_next("x")  # no camera yet: nothing armed


def test_a_restarted_camera_starts_the_session_afresh():
    session = said_with(FACE, segment_state="countdown")
    session.buffer.append((9.9, np.zeros((6, 4), np.uint8)))
    session._restart()
    assert not session.buffer and session.state is None
    assert session.segmenter.state == "waiting"
