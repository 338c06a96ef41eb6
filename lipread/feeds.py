"""A clip's frames as they are decoded, for a reader that finds the face meanwhile:
feed(path, start)[t] waits for the t-th 25 fps frame (IndexError past the end), len()
and clip() wait for the whole (clip() raises what the decoding raised).

The decoding runs in a kept child process, into memory both processes map, once a process
has read a second video (start() at once: a server); before that, and for clips larger than
WORKER_BYTES, in a kept thread. A thread is not enough once the landmarks are fitted beside
it: dlib's predictor holds Python's lock for the whole fit, and the decoder needs it on
every frame (a GRID clip's 26 ms of decoding took 46 ms beside the fits). Linux only (a
memfd); elsewhere, always the thread.
"""
from __future__ import annotations

import functools
import itertools
import mmap
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import connection
from pathlib import Path

import numpy as np

from lipread import video

WORKER_BYTES = 24 * 2**20  # the most frames the child decodes into: 75 of 640x480 grey
ROOT = Path(__file__).resolve().parents[1]  # the folder lipread is imported from
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from lipread import feeds; feeds.serve(int(sys.argv[2]), int(sys.argv[3]))"
OFF = "LIPREAD_DECODE_PROCESS"  # "0": never start the child on its own (start_worker() still does)


def feed(path, start: float = 0.0):
    """The frames of 3 s of `path` from `start`, decoding: a WorkerFeed if the child is up
    and free, else a ThreadFeed (the second call in a process starts the child)."""
    if next(_readings()) == 1 and os.environ.get(OFF) != "0":
        threading.Thread(target=start_worker, daemon=True).start()
    worker = _worker_if_up()
    job = worker.decode(path, start) if worker else None
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


class WorkerGone(RuntimeError):
    """The child process ended (killed, or out of memory): readings go on in the thread."""


class _Declined(Exception):
    """(In the child) a clip larger than WORKER_BYTES: decoded in the parent's thread."""


class Worker:
    """The kept child process and the memory it decodes into (grown, never shrunk)."""

    def __init__(self):
        self._memfd = os.memfd_create("lipread-frames", os.MFD_CLOEXEC)
        mine, theirs = socket.socketpair()
        self._conn = connection.Connection(mine.detach())
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(ROOT), str(theirs.fileno()), str(self._memfd)],
                pass_fds=(theirs.fileno(), self._memfd), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._lock = threading.Lock()  # one clip at a time
        self._map, self._size, self.gone = None, 0, False
        if self.receive() != ("up",):
            raise WorkerGone("the decoding process did not start")

    def decode(self, path, start: float):
        """A WorkerFeed of the clip, or None while another clip is decoding."""
        if self.gone or not self._lock.acquire(blocking=False):
            return None
        try:
            return WorkerFeed(self, path, start)
        except (WorkerGone, OSError):
            self.release()
            return None

    def send(self, message) -> None:
        try:
            self._conn.send(message)
        except OSError as err:
            self._lost()
            raise WorkerGone(str(err)) from None

    def receive(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError) as err:
            self._lost()
            raise WorkerGone(str(err) or "the decoding process ended") from None

    def mapped(self, size: int) -> mmap.mmap:
        """The shared memory, mapped at least `size` bytes long (arrays made from an
        earlier, shorter map keep it alive)."""
        if size > self._size:
            self._map, self._size = mmap.mmap(self._memfd, size), size
        return self._map

    def release(self) -> None:
        self._lock.release()

    def _lost(self) -> None:
        self.gone = True
        self._conn.close()

    def stop(self) -> None:
        """End the child and wait for it (tests; the child also ends with this process)."""
        self._lost()
        self._proc.wait(timeout=10)


class WorkerFeed:
    """The clip decoding in the child process: frames are views of the shared memory until
    clip() copies them out. A clip the child declines (too large), or a child that dies,
    goes on in a ThreadFeed."""

    def __init__(self, worker: Worker, path, start: float):
        self._worker, self._path, self._start = worker, path, start
        self._n, self._done, self._frames, self._meta, self._error = 0, False, None, None, None
        self._fallback, self._ended = None, 0.0
        worker.send((os.getcwd(), os.fspath(path), start))

    @property
    def ended(self) -> float:
        """perf_counter() when the decoding ended."""
        return self._fallback.ended if self._fallback is not None else self._ended

    def _pump(self) -> None:
        """One message from the child."""
        try:
            kind, *rest = self._worker.receive()
        except WorkerGone:
            kind, rest = "declined", []
        if kind == "shape":
            self._frames = np.ndarray(rest[0], np.uint8, buffer=self._worker.mapped(rest[1]))
        elif kind == "ready":
            self._n = rest[0]
        else:  # done, error, declined: the child is free again
            self._done, self._ended = True, time.perf_counter()
            if not self._worker.gone:
                self._worker.release()
            if kind == "done":
                self._n, self._meta = rest[0], rest[1:]
            elif kind == "error":
                self._error = rest[0]
            else:
                self._fallback = ThreadFeed(self._path, self._start)

    def _settle(self) -> None:
        while not self._done:
            self._pump()

    def __getitem__(self, t: int) -> np.ndarray:
        while not self._done and self._n <= t:
            self._pump()
        if self._fallback is not None:
            return self._fallback[t]
        if 0 <= t < self._n:
            return self._frames[t]
        raise IndexError(t)

    def __len__(self) -> int:
        self._settle()
        return len(self._fallback) if self._fallback is not None else self._n

    def clip(self) -> video.Clip:
        self._settle()
        if self._fallback is not None:
            return self._fallback.clip()
        if self._error is not None:
            raise self._error
        frames, self._frames = np.array(self._frames[:self._n]), None  # the memory is reused
        return video.Clip(frames, *self._meta)

    def close(self) -> None:
        """Wait for the child to finish the clip (whatever the reader did with it)."""
        self._settle()
        self._frames = None


class _Started:
    """The process's worker, once started (None: it could not start, or not here)."""

    lock = threading.Lock()
    worker: list = []


def start_worker() -> Worker | None:
    """Start the decoding process (once per process) and wait until it is up; None where
    it cannot run (no memfd, or it failed to start: readings decode in the thread)."""
    with _Started.lock:
        if not _Started.worker:
            worker = None
            if hasattr(os, "memfd_create"):
                try:
                    worker = Worker()
                except (OSError, WorkerGone):
                    worker = None
            _Started.worker.append(worker)
        return _Started.worker[0]


def _worker_if_up() -> Worker | None:
    worker = _Started.worker[0] if _Started.worker else None
    return worker if worker is not None and not worker.gone else None


def serve(sock_fd: int, memfd: int) -> None:
    """The child process: decode each clip sent on the socket into the shared memory,
    saying its shape, each frame as it is final, and the end (or the error)."""
    import pickle
    import signal

    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to answer
    cv2.setNumThreads(1)  # this process decodes one frame at a time: no pool to wake
    conn = connection.Connection(sock_fd)
    memory = {"map": None, "size": 0}

    def into(shape):
        need = int(np.prod(shape))
        if need > WORKER_BYTES:
            raise _Declined
        if need > memory["size"]:
            os.ftruncate(memfd, need)
            memory["map"], memory["size"] = mmap.mmap(memfd, need), need
        conn.send(("shape", shape, memory["size"]))
        return np.ndarray(shape, np.uint8, buffer=memory["map"])

    conn.send(("up",))
    while True:
        try:
            cwd, path, start = conn.recv()
        except (EOFError, OSError):
            return
        said = [0]

        def ready(frames):
            if len(frames) > said[0]:
                said[0] = len(frames)
                conn.send(("ready", said[0]))
        try:
            os.chdir(cwd)  # the path as the reader gave it: its messages name it so
            clip = video.read_clip(path, start, ready=ready, into=into)
            message = ("done", len(clip.frames), clip.fps, clip.duration, clip.start)
        except _Declined:
            message = ("declined",)
        except Exception as err:  # noqa: BLE001: the reader raises it
            try:
                pickle.loads(pickle.dumps(err))
                message = ("error", err)
            except Exception:  # noqa: BLE001
                message = ("error", RuntimeError(f"{type(err).__name__}: {err}"))
        conn.send(message)
