"""One browser session's camera. Three threads share the work, so that the preview never
waits for the face tracker or the network:

- streamlit-webrtc's frame thread calls `on_frames`: each frame is kept (yuv420p, the last
  BUFFER_S seconds), handed to the tracker, and returned with the overlay drawn;
- this session's tracker thread follows the face on the newest frame only (it skips what
  it can't keep up with) and feeds the segmenter, which says when a capture starts and
  ends; while one runs, a thread of its own finds the mouth on its frames (window.py);
- one reader thread for the whole server reads the captures, one at a time.

The page polls `status()` and `readings`; nothing here touches Streamlit.
"""
from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lipread import face, mouth
from lipread.live import capture, frames, overlay, segment
from lipread.live.tracker import FaceTracker
from lipread.live.window import Window

BUFFER_S = segment.MAX_S + frames.LEAD_S + 1.5  # frames kept: a capture and its lead
MAX_BUFFER = 300  # ... and at most this many (5 s at 60 fps)
MAX_PIXELS = 640 * 480  # larger camera frames are scaled down on arrival (mouth ample)
GAP_S = 1.0  # no frame for this long: the camera has stopped
IDLE_EXIT_S = 30.0  # the tracker thread ends after this long without frames
MAX_READINGS = 20  # readings kept a session, newest first
NO_CAMERA_YET = (  # until the first frame: what the component's own error names mean
    "Press START and allow the camera. If the camera box then says NotAllowedError, the "
    "permission was refused: allow the camera for this page (the camera icon in the address "
    "bar) and press START again. NotFoundError: no camera was found; NotReadableError: "
    "another program holds it: connect or free one, then press START again.")
LOG_ENV = "LIPREAD_LIVE_LOG"  # a JSONL file each reading is appended to (benchmark, ops)


@functools.lru_cache(maxsize=1)
def reader_pool() -> ThreadPoolExecutor:
    """One reader for the server: captures are read one at a time (2 cores here)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lipread-reader")


class LiveSession:
    """One camera. `read=False`: captures are only recorded (their mp4), not read."""

    def __init__(self, decoder: str = "grammar", auto: bool = True, read: bool = True):
        self.model, self.decoder, self.read = None, decoder, read
        self.label = None  # what the button's next capture is for (the teach page's prompt)
        self.cond = threading.Condition()
        self.buffer: deque = deque(maxlen=MAX_BUFFER)  # (t, yuv420p) newest last
        self.size: tuple[int, int] | None = None  # the camera's (width, height)
        self.newest: tuple[float, np.ndarray] | None = None  # for the tracker
        self.last_wall = 0.0  # time.monotonic() of the newest frame
        self.tracker, self.segmenter = FaceTracker(), segment.Segmenter(auto)
        self.state = None  # the tracker's newest FaceState
        self.window: Window | None = None  # the frames of the capture under way
        self.readings: list[capture.Capture] = []
        self.version = 0  # raised whenever `readings` changes (under `changed`)
        self.changed = threading.Condition()  # told when `version` is raised
        self.alert: str | None = None  # something that went wrong, until the next capture
        self.thread: threading.Thread | None = None
        self.out_times: deque = deque(maxlen=250)  # monotonic times frames went back
        self.frame_seconds: deque = deque(maxlen=250)  # on_frame's own time, each frame
        self.tracked_times: deque = deque(maxlen=250)
        self.count = 0
        self.taken = 0  # captures so far

    # --- the page's side ---------------------------------------------------------------
    def configure(self, model, decoder: str, auto: bool) -> None:
        self.model, self.decoder, self.segmenter.auto = model, decoder, auto

    def read_next(self, label=None) -> bool:
        """The button: the next 3 s, after segment.COUNTDOWN_S (False: no camera yet).
        The reading carries `label`."""
        with self.cond:
            if self.newest is None:
                return False
            self.segmenter.arm(self.newest[0])
            self._drop_window()  # an automatic capture under way is dropped
            self.alert, self.label = None, label
            return True

    def status(self) -> tuple[str, str]:
        """(level, text) for the page: "info", "warning" or "error"."""
        if self.newest is None:
            return "info", NO_CAMERA_YET
        if time.monotonic() - self.last_wall > GAP_S:
            return "warning", ("The camera stopped sending pictures. Press START again "
                               "(or check that no other program holds the camera).")
        if self.alert:
            return "error", self.alert
        state = self.state
        if state is None:
            return "info", "Finding your face…"
        if state.box is None:
            if state.dark:
                return "warning", "Too dark to find a face: light your face from the front."
            return "warning", ("No face found: face the camera, close enough that your face "
                               "fills about a third of the picture.")
        if state.faces > 1:
            return "warning", f"{state.faces} faces in the picture: the largest one is read."
        if state.dark:
            return "warning", "The picture is dark: more light on your face reads better."
        said = {"capturing": "Reading your lips…" if self.read else "Recording…",
                "countdown": "Get ready…",
                "waiting": ("Say a GRID sentence, e.g. \"bin blue at f two now\"."
                            if self.segmenter.auto else "Press \"Read the next 3 s\"."
                            if self.read else "Press \"Record\" under a prompt.")}
        return "info", said[self.segmenter.state]

    def stats(self) -> dict:
        """The preview's frame rate and costs over the last frames (the benchmark's)."""
        out = list(self.out_times)
        span = out[-1] - out[0] if len(out) > 1 else 0.0
        tracked = list(self.tracked_times)
        tspan = tracked[-1] - tracked[0] if len(tracked) > 1 else 0.0
        return {"frames": self.count,
                "preview_fps": (len(out) - 1) / span if span > 0 else 0.0,
                "tracked_fps": (len(tracked) - 1) / tspan if tspan > 0 else 0.0,
                "frame_ms": 1000 * float(np.mean(self.frame_seconds)) if self.frame_seconds else 0.0}

    # --- the frame thread ----------------------------------------------------------------
    async def on_frames(self, frames_in: list) -> list:
        """streamlit-webrtc's queued_video_frames_callback: every frame kept, all drawn."""
        return [self.on_frame(f) for f in frames_in]

    def on_frame(self, frame):
        import av
        import cv2

        begun = time.perf_counter()
        t = float(frame.time) if frame.time is not None else time.monotonic()
        if frame.width * frame.height > MAX_PIXELS:
            shrink = (MAX_PIXELS / (frame.width * frame.height)) ** 0.5
            frame = frame.reformat(width=int(frame.width * shrink) // 2 * 2,
                                   height=int(frame.height * shrink) // 2 * 2)
        width, height = frame.width // 2 * 2, frame.height // 2 * 2
        yuv = frame.to_ndarray(format="yuv420p")
        if yuv.shape != (height * 3 // 2, width):  # odd sizes: cut to even
            yuv = frame.reformat(width=width, height=height).to_ndarray(format="yuv420p")
        with self.cond:
            if self.newest is not None and (t < self.newest[0] or (width, height) != self.size):
                self._restart()  # the camera was restarted, or changed
            self.size = (width, height)
            self.buffer.append((t, yuv))
            while self.buffer and self.buffer[0][0] < t - BUFFER_S:
                self.buffer.popleft()
            self.newest, self.last_wall = (t, yuv[:height]), time.monotonic()
            self.count += 1
            self.cond.notify_all()  # the tracker, and a capture's window
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._track_loop, daemon=True,
                                               name="lipread-tracker")
                self.thread.start()
        bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
        level, text = self._preview_status(t)
        drawn = overlay.draw(bgr, t, self.state, text, alert=level != "info")
        out = av.VideoFrame.from_ndarray(drawn, format="bgr24")
        self.out_times.append(time.monotonic())
        self.frame_seconds.append(time.perf_counter() - begun)
        return out

    def _preview_status(self, t: float) -> tuple[str, str]:
        seg = self.segmenter
        if seg.armed is not None:
            return "alert", f"{max(1, int(np.ceil(seg.armed - t)))}…"
        if seg.capturing is not None:
            return "alert", f"REC {max(0.0, t - seg.capturing.start):.1f} s"
        state = self.state
        if state is None or state.box is None:
            return "alert", "too dark" if state is not None and state.dark else "no face"
        return "info", f"{state.faces} faces: the largest is read" if state.faces > 1 else ""

    def _restart(self) -> None:
        self.buffer.clear()
        self.tracker.reset()
        self.segmenter.cancel()
        self._drop_window()
        self.state = None

    def _drop_window(self) -> None:
        """The capture under way ends unread (under `cond`)."""
        if self.window is not None:
            self.window.cancel()
            self.window = None

    def _follow_capture(self, t: float) -> None:
        """After the segmenter's update at `t` (under `cond`): a capture that has started
        gets its window, whose mouth is found meanwhile; one still under way is followed."""
        cap = self.segmenter.capturing
        if cap is None or not self.read:
            return
        if self.window is None:
            extra = max(capture.EARLIER_S) if cap.how == "auto" else 0.0
            self.window = Window(self.cond, self.buffer, cap.start - extra,
                                 round(extra * frames.FPS) + frames.N_FRAMES, self.size[1],
                                 end=cap.end if cap.how == "button" else None)
            threading.Thread(target=self.window.run, daemon=True, name="lipread-locate").start()
        self.window.advance(t)

    # --- the tracker thread ----------------------------------------------------------------
    def _track_loop(self) -> None:
        face.use_dlib_predictor()  # a camera: many fits a second, for minutes
        done_t = None
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.newest is not None and self.newest[0] != done_t,
                                   timeout=GAP_S)
                newest = self.newest
                idle = time.monotonic() - self.last_wall
                if idle > GAP_S and self.segmenter.state != "waiting":
                    self.segmenter.cancel()
                    self._drop_window()
                    self.alert = ("The camera stopped during a capture: nothing was read. "
                                  "Press START again and say the sentence again.")
                if idle > IDLE_EXIT_S:
                    self.thread = None
                    return
                if newest is None or newest[0] == done_t:
                    continue
            t, gray = newest
            done_t = t
            self.state = state = self.tracker.track(gray, t)
            self.tracked_times.append(time.monotonic())
            with self.cond:
                was = self.segmenter.state
                found = self.segmenter.update(t, state.opening)
                if was == "waiting" and self.segmenter.state != "waiting":
                    self.alert = None
                if found is not None:
                    self._submit(found)
                elif self.segmenter.capturing is None:
                    self._drop_window()  # none under way, or one too short to read
                self._follow_capture(t)

    def _submit(self, cap: segment.Capture) -> None:
        """Cut the capture's frames out of the buffer (under the lock) and queue its reading:
        an automatic one with up to max(EARLIER_S) more before it (capture.read)."""
        extra = max(capture.EARLIER_S) if cap.how == "auto" else 0.0
        lead = round(extra * frames.FPS)
        window, self.window = self.window, None
        picked = frames.pick(self.buffer, cap.start - extra, cap.end, lead + frames.N_FRAMES)
        if window is not None:
            window.finish(picked) if picked else window.cancel()
        if not picked:
            return
        starts = sorted({lead - round(e * frames.FPS) for e in capture.EARLIER_S}) if extra else [0]
        inside = [t for t, _ in self.buffer if cap.start <= t <= cap.end]
        fps = (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 1 else 0.0
        self.taken += 1
        reading = capture.Capture(self.taken, cap.how, time.time(), cap.end - cap.start,
                                  cap.start, fps, decoder=self.decoder,
                                  label=self.label if cap.how == "button" else None)
        self.readings.insert(0, reading)
        del self.readings[MAX_READINGS:]
        self._changed()
        reader_pool().submit(self._read, reading, picked, starts, self.size, self.model, window)

    # --- the reader thread -------------------------------------------------------------------
    def _read(self, reading: capture.Capture, picked: list, starts: list, size, model,
              window: Window | None = None) -> None:
        height, start = size[1], starts[-1]
        try:
            if self.read and model is None:
                raise RuntimeError("the network is not loaded yet")
            if self.read:
                gray = np.stack([y[:height] for y in picked])
                locate = window.locate if window is not None else mouth.locate
                reading.reading, start = capture.read(model, gray, reading.decoder, starts,
                                                      locate=locate)
                reading.located_early = window is not None and window.trusted
                reading.earlier = (starts[-1] - start) / frames.FPS
                reading.notices = list(reading.reading.notices)
        except Exception as err:  # noqa: BLE001: every failure is said on the page
            reading.error = str(err).replace("the capture: ", "")
        reading.read_at = time.time()
        self._changed()
        self._log(reading)
        try:
            reading.mp4 = capture.to_mp4(picked[start:start + frames.N_FRAMES], size)
        except Exception as err:  # noqa: BLE001: the reading stands without its clip
            reading.notices.append(f"the clip could not be saved as mp4 ({err})")
        self._changed()

    def _changed(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def wait_change(self, seen: int, timeout: float) -> bool:
        """Whether `version` moved on from `seen` within `timeout` seconds (at once, if it
        already has): the page's wait between looks at the session."""
        with self.changed:
            return self.changed.wait_for(lambda: self.version != seen, timeout)

    def _log(self, reading: capture.Capture) -> None:
        path = os.environ.get(LOG_ENV)
        if path:
            line = {"number": reading.number, "how": reading.how, "session": id(self),
                    "start": reading.start, "earlier": reading.earlier,
                    "ended_at": reading.ended_at, "read_at": reading.read_at,
                    "sentence": reading.reading.sentence if reading.reading else None,
                    "error": reading.error, "camera_fps": reading.camera_fps,
                    "located_early": reading.located_early,
                    "seconds": reading.reading.seconds if reading.reading else {},
                    "preview": self.stats()}
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
