"""A clip's frames as they are decoded, for a reader that finds the face meanwhile:
feed(path, start)[t] waits for the t-th 25 fps frame (IndexError past the end), len()
and clip() wait for the whole (clip() raises what the decoding raised).

The decoding runs in a kept child process (worker.py), into memory both processes map, once
a process has read a second video (start_worker() at once: a server); before that, and for
clips larger than worker.WORKER_BYTES, in a kept thread. A thread is not enough once the landmarks are fitted beside
it: dlib's predictor holds Python's lock for the whole fit, and the decoder needs it on
every frame (a GRID clip's 26 ms of decoding took 46 ms beside the fits). Linux only (a
memfd); elsewhere, always the thread.
"""
from __future__ import annotations

import functools
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lipread import video, worker
from lipread.worker import Worker

OFF = "LIPREAD_DECODE_PROCESS"  # "0": never start the child on its own (start_worker() still does)


def feed(path, start: float = 0.0):
    """The frames of 3 s of `path` from `start`, decoding: a WorkerFeed if the child is up
    and free, else a ThreadFeed (the second call in a process starts the child)."""
    if next(_readings()) == 1 and os.environ.get(OFF) != "0":
        threading.Thread(target=start_worker, daemon=True).start()
    up = _worker_if_up()
    job = up.decode(path, start) if up else None
    return job if job is not None else ThreadFeed(path, start)


@functools.lru_cache(maxsize=1)
def _readings():
    """The readings so far in this process (next(): thread-safe)."""
    return itertools.count()


class ThreadFeed:
    """The clip decoding in a kept thread."""

    def __init__(self, path, start: float = 0.0):
        self._ready, self._done, self._clip, self._error = [], False, None, None
        self.ended = 0.0  # perf_counter() when the decoding ended
        self._changed = threading.Condition()
        self._job = threads().submit(self._decode, path, start)

    def _decode(self, path, start):
        try:
            self._clip = video.read_clip(path, start, ready=self._publish)
        except BaseException as err:  # raised to the reader by clip()
            self._error = err
        with self._changed:
            self._done, self.ended = True, time.perf_counter()
            if self._clip is not None:
                self._ready = self._clip.frames
            self._changed.notify_all()

    def _publish(self, frames: np.ndarray) -> None:
        with self._changed:
            self._ready = frames
            self._changed.notify_all()

    def __getitem__(self, t: int) -> np.ndarray:
        with self._changed:
            self._changed.wait_for(lambda: self._done or len(self._ready) > t)
            if 0 <= t < len(self._ready):
                return self._ready[t]
        raise IndexError(t)

    def __len__(self) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._done)
            return len(self._ready)

    def clip(self) -> video.Clip:
        self._job.result()
        if self._error is not None:
            raise self._error
        return self._clip

    def close(self) -> None:
        """(Nothing to give back: the thread finishes the clip on its own.)"""


@functools.lru_cache(maxsize=1)
def threads() -> ThreadPoolExecutor:
    """The thread clips decode in, kept: a new thread's first frames land in memory the
    system must first hand over (measured: a 3 s clip's 7.8 MB of frames stacked in 40-110
    ms, against 2 ms in a thread that has decoded before)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lipread-decode")


class _Started:
    """The process's worker, once started (None: it could not start, or not here)."""

    lock = threading.Lock()
    worker: list = []


def start_worker() -> Worker | None:
    """Start the decoding process (once per process) and wait until it is up; None where
    it cannot run (no memfd, or it failed to start: readings decode in the thread)."""
    with _Started.lock:
        if not _Started.worker:
            found = None
            if hasattr(os, "memfd_create"):
                try:
                    found = Worker(fallback=ThreadFeed)
                except (OSError, worker.WorkerGone):
                    found = None
            _Started.worker.append(found)
        return _Started.worker[0]


def _worker_if_up() -> Worker | None:
    found = _Started.worker[0] if _Started.worker else None
    return found if found is not None and not found.gone else None
