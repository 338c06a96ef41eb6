"""When a capture starts and ends. Automatic: it starts when the lips start moving (LEAD_S
of still face kept before) and ends when they have been still for STILL_S, or at 3 s.
By hand: `arm` starts one COUNTDOWN_S later, and it lasts 3 s.

The signal is the inner lips' opening over the mouth's width (mouth.lip_opening), one
value per tracked frame; the lips move while its range over the last MOTION_WINDOW_S is
MOVING or more (frame-to-frame changes are mostly landmark noise: ~0.02-0.03 a frame).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lipread.constants import FPS, N_FRAMES
from lipread.live.frames import LEAD_S

MOTION_WINDOW_S = 0.24  # 6 frames at 25 fps
MOVING = 0.06  # range of the opening (mouth widths) in that window that counts as moving:
# on 40 s1 training clips it is first reached 3 frames before the first word (median;
# p10-p90 -9 to +4) and last 2 frames after the last (-0.3 to +3.3)
STILL_S = 0.5  # still this long: the sentence is over
MIN_SPEECH_S = 0.4  # motion shorter than this (a twitch, a smile) is not read
MAX_S = N_FRAMES / FPS  # 3 s: what the network reads
COUNTDOWN_S = 3.0  # the button's countdown before its 3 s


@dataclass
class Capture:
    """A span of the camera's time to read: [start, end] in frame seconds."""
    start: float
    end: float
    how: str  # "auto" or "button"


class Segmenter:
    """Fed (time, opening or None) per tracked frame; `update` returns a finished Capture."""

    def __init__(self, auto: bool = True):
        self.auto = auto
        self.recent: deque = deque()  # (time, opening) of the last MOTION_WINDOW_S
        self.onset: float | None = None  # first moving frame of the current motion
        self.last_motion: float | None = None
        self.capturing: Capture | None = None
        self.armed: float | None = None  # the button's capture start
        self.ready = True  # still since the last capture ended

    @property
    def state(self) -> str:
        if self.capturing is not None:
            return "capturing"
        return "countdown" if self.armed is not None else "waiting"

    def arm(self, now: float, countdown: float = COUNTDOWN_S) -> None:
        """The button: 3 s from `now + countdown` (an automatic capture under way is dropped)."""
        self.capturing, self.onset = None, None
        self.armed = now + countdown

    def cancel(self) -> None:
        self.capturing, self.armed, self.onset = None, None, None
        self.recent.clear()

    def moving(self, t: float, opening: float | None) -> bool:
        if opening is None:  # no face: no motion, and the window starts again
            self.recent.clear()
            return False
        self.recent.append((t, opening))
        while self.recent[0][0] < t - MOTION_WINDOW_S:
            self.recent.popleft()
        values = [o for _, o in self.recent]
        return max(values) - min(values) >= MOVING

    def update(self, t: float, opening: float | None) -> Capture | None:
        moving = self.moving(t, opening)
        if self.armed is not None:
            if t >= self.armed:
                self.capturing, self.armed = Capture(self.armed, self.armed + MAX_S, "button"), None
            return None
        if self.capturing is not None and self.capturing.how == "button":
            if t >= self.capturing.end:
                done, self.capturing = self.capturing, None
                self.ready = False
                return done
            return None
        if moving:
            self.last_motion = t
            if self.onset is None:
                self.onset = t
        if self.capturing is None:
            if not self.ready:
                self.ready = self.last_motion is None or t - self.last_motion >= STILL_S
                if not self.ready:
                    return None
                self.onset = None
            if self.auto and self.onset is not None:
                self.capturing = Capture(self.onset - LEAD_S, self.onset - LEAD_S + MAX_S, "auto")
            return None
        still = t - self.last_motion >= STILL_S
        if still or t >= self.capturing.end:
            done, self.capturing = self.capturing, None
            done.end = min(t, done.end)
            onset = done.start + LEAD_S
            self.onset, self.ready = None, still
            if self.last_motion - onset < MIN_SPEECH_S:
                return None
            return done
        return None
