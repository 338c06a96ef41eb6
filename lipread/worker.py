"""The process videos decode in (feeds.py starts it): a child that decodes each clip it is
sent into memory both processes map (a memfd), and says its shape, each frame as it is
final, and the end or the error. Linux only.
"""
from __future__ import annotations

import mmap
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing import connection
from pathlib import Path

import numpy as np

from lipread import video

WORKER_BYTES = 24 * 2**20  # the most frames the child decodes into: 75 of 640x480 grey
STARTUP_S = 60  # the longest wait for the child to be up (it imports NumPy and OpenCV)
ROOT = Path(__file__).resolve().parents[1]  # the folder lipread is imported from
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from lipread import worker; "
        "worker.main(int(sys.argv[2]), int(sys.argv[3]))")


class WorkerGone(RuntimeError):
    """The child process ended (killed, or out of memory): readings go on in the thread."""


class _Declined(Exception):
    """(In the child) a clip larger than WORKER_BYTES: decoded in the parent's thread."""


def spawn(sock_fd: int, memfd: int) -> subprocess.Popen:
    """The child process, serving on the socket `sock_fd` into `memfd` (both passed on);
    nothing of it reaches the user's terminal."""
    return subprocess.Popen(
        [sys.executable, "-c", BOOT, str(ROOT), str(sock_fd), str(memfd)],
        pass_fds=(sock_fd, memfd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


class Worker:
    """The kept child process and the memory it decodes into (grown, never shrunk).
    `fallback(path, start)`: the feed a clip goes on in when the child cannot decode it;
    `launch(sock_fd, memfd)`: what serves them (spawn; its result's kill() and wait())."""

    def __init__(self, fallback, launch=spawn):
        self.fallback = fallback
        self._memfd = os.memfd_create("lipread-frames", os.MFD_CLOEXEC)
        mine, theirs = socket.socketpair()
        self._conn = connection.Connection(mine.detach())
        try:
            self._proc = launch(theirs.fileno(), self._memfd)
        finally:
            theirs.close()
        self._pid = os.getpid()  # a forked copy of this process must not share the child
        self._lock = threading.Lock()  # one clip at a time
        self._map, self._size, self.gone = None, 0, False
        if not self._conn.poll(STARTUP_S) or self.receive() != ("up",):
            self._proc.kill()
            self._lost()
            raise WorkerGone("the decoding process did not start")

    def decode(self, path, start: float):
        """A WorkerFeed of the clip, or None while another clip is decoding."""
        if self.gone or os.getpid() != self._pid or not self._lock.acquire(blocking=False):
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
    goes on in the worker's fallback."""

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
                self._fallback = self._worker.fallback(self._path, self._start)

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


def main(sock_fd: int, memfd: int) -> None:
    """The child process (BOOT): serve until the reader's process ends."""
    import signal

    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to answer
    cv2.setNumThreads(1)  # this process decodes one frame at a time: no pool to wake
    serve(sock_fd, memfd)


def serve(sock_fd: int, memfd: int) -> None:
    """Decode each clip sent on the socket into the shared memory, saying its shape, each
    frame as it is final, and the end (or the error); return when the socket closes."""
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

    try:
        conn.send(("up",))
        while True:
            _serve_one(conn, conn.recv(), into)
    except (EOFError, OSError):  # the reader's process ended: so does this one
        return
    finally:
        conn.close()


def _serve_one(conn, job, into) -> None:
    """(In the child) one clip: its shape, each frame as it is final, then the end."""
    import pickle

    cwd, path, start = job
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
