"""A capture's frames while it is still under way, so that the mouth is found as they
arrive and not after the capture ends (session.py): `window[i]` waits for the i-th 25 fps
frame of the window the capture will read, handed out as soon as the camera's frames
decide which it is, and len() waits for the capture's end. `finish` is given the frames
picked at the end (frames.pick); a window that handed out any other frame is not trusted,
and its capture is located again from those frames: the reading is always the one of the
frames read.
"""
from __future__ import annotations

import threading

from lipread import mouth
from lipread.live import frames

WAIT_S = 5.0  # the longest a frame is waited for between looks: each frame that arrives,
# the tracker's word and the capture's end or drop wake it before that


class Cancelled(Exception):
    """The capture was dropped: nothing more is handed out."""


class Window:
    """The frames from `first` (camera seconds) of one capture, up to `n`; `end` when it is
    known from the start (a button's 3 s), else the capture runs on past each time
    `advance` is told. `cond` guards `buffer` ((time, yuv420p) pairs, oldest first)."""

    def __init__(self, cond: threading.Condition, buffer, first: float, n: int, height: int,
                 end: float | None = None):
        self.cond, self.buffer, self.first, self.n, self.height = cond, buffer, first, n, height
        self.end, self.until = end, first  # `until`: the capture surely runs this long
        self.given: dict[int, object] = {}  # frames handed out, by index
        self.picked: list | None = None
        self.cancelled, self.same = False, False
        self.track, self.error = None, None  # what run() found
        self.done = threading.Event()

    def advance(self, t: float) -> None:
        """The capture is still under way at camera time `t` (call under `cond`)."""
        self.until = max(self.until, t)
        self.cond.notify_all()

    def _decided(self, i: int):
        """Frame i, if the frames so far decide it (under `cond`), else None."""
        horizon = self.until if self.end is None else self.end
        wanted = frames.instants(self.first, horizon, limit=self.n)
        if i >= len(wanted):
            return None
        pairs = frames.kept(self.buffer, self.first, horizon)
        if not pairs or pairs[-1][0] < wanted[i]:  # the frame after the instant not there yet
            return None
        return pairs[frames.resample([t for t, _ in pairs], wanted[i:i + 1])[0]][1]

    def __getitem__(self, i: int):
        with self.cond:
            while True:
                if self.cancelled:
                    raise Cancelled
                if self.picked is not None:
                    if not 0 <= i < len(self.picked):
                        raise IndexError(i)
                    return self.picked[i][:self.height]
                frame = self._decided(i)
                if frame is not None:
                    self.given[i] = frame
                    return frame[:self.height]
                self.cond.wait(WAIT_S)

    def __len__(self) -> int:
        with self.cond:
            self.cond.wait_for(lambda: self.picked is not None or self.cancelled)
            if self.cancelled:
                raise Cancelled
            return len(self.picked)

    def finish(self, picked: list) -> None:
        """The capture ended and these are the frames it reads (call under `cond`)."""
        self.picked = picked
        self.same = all(i < len(picked) and picked[i] is y for i, y in self.given.items())
        self.cond.notify_all()

    def cancel(self) -> None:
        """The capture was dropped (call under `cond`)."""
        self.cancelled = True
        self.cond.notify_all()

    def run(self) -> None:
        """Find the mouth on the frames as they come (a thread of its own)."""
        try:
            self.track = mouth.locate(self)
        except Cancelled:
            pass
        except Exception as err:  # noqa: BLE001: said by locate() when the reading asks
            self.error = err
        self.done.set()

    @property
    def trusted(self) -> bool:
        """Whether run() ended on the frames the capture reads (it handed out no other)."""
        return (self.done.is_set() and self.same and not self.cancelled
                and (self.track is not None or isinstance(self.error, mouth.FaceError)))

    def locate(self, gray) -> mouth.MouthTrack:
        """The mouth of `gray` (the frames read, those given to finish()): what run() found
        on them, or found again."""
        self.done.wait()
        if self.trusted and len(gray) == len(self.picked):
            if self.error is not None:
                raise self.error
            return self.track
        return mouth.locate(gray)
