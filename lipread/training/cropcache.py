"""Filling the crop cache (cropstore.py): every clip's uint8 mouth crops computed once, in
parallel over processes. Each file is written under a temporary name and renamed: a run
stopped at any point (Ctrl-C, a crash, a full disk) leaves only whole files, and the next
run computes the rest.

A video that can't be read (corrupt, no face, too short) is skipped, never a crash half-way
through 33,000 clips: `preprocess` returns it with the reason and writes a report file
(`name<TAB>reason` a line). Such a failure is remembered beside the crops
(`<stem>.failed`, with the video's size and time) so that later runs don't decode it again
until the file changes (retry_failed=True tries them all again). A worker process that
dies costs only the clip it was cutting. No TensorFlow or Keras here.
"""
from __future__ import annotations

import operator
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from lipread import mouth
from lipread.grid import video_path
from lipread.progress import Progress
from lipread.training.cropstore import (
    CLIP_SHAPE,
    DEFAULT_CACHE_DIR,
    MARGIN,
    REPORT_NAME,
    cache_root,
    clip_path,
    one_line,
    summary_lines,
    write_atomic,
    write_report,
)
from lipread.video import CROPS, DEFAULT_CROP, VideoError, read_mouth

IN_FLIGHT = 2  # clips queued per worker process: 33,000 clips are never 33,000 futures
MP_START = "spawn"  # no fork of a parent that may hold TensorFlow's or OpenCV's threads
# A video that fails with one of these fails the same way next time: remembered.
LASTING = (VideoError, mouth.FaceError)


# --- remembered failures ------------------------------------------------------------------

def _failed_path(path: Path) -> Path:
    return path.with_suffix(".failed")


def _stamp(video: Path) -> str:
    """The video's size and modification time: a remembered failure holds while they do."""
    st = video.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def _known_failure(data_dir, name: str, marker: Path) -> str | None:
    """The remembered reason a clip can't be read, while its video is unchanged."""
    try:
        stamp, _, reason = marker.read_text().rstrip("\n").partition("\t")
        if stamp == _stamp(video_path(data_dir, name)):
            return reason
    except (OSError, ValueError):
        pass
    marker.unlink(missing_ok=True)  # the video changed (or went): try it again
    return None


# --- the worker ---------------------------------------------------------------------------

def crop_clip(data_dir, name: str, crop: str, path) -> tuple[str, str | None, str | None]:
    """Compute one clip's crops and save them to `path` (what a worker process runs).

    Returns (name, None, None), or (name, reason, stamp) for a clip that can't be read;
    stamp (the video's size and time) only when the failure will repeat (a bad video), so
    that it can be remembered. Never raises for a bad clip: any exception is a reason.
    """
    path, video, stamp = Path(path), None, None
    try:
        video = video_path(data_dir, name)
        crops = read_mouth(video, crop, margin=MARGIN).crops
        if crops.shape != CLIP_SHAPE or crops.dtype != np.uint8:
            raise ValueError(f"{video}: crops of shape {crops.shape} ({crops.dtype}); "
                             f"expected {CLIP_SHAPE} uint8")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.save(f, np.ascontiguousarray(crops)))
        return name, None, None
    except LASTING as err:
        reason = one_line(err)
        try:
            stamp = _stamp(video) if video is not None else None
        except OSError:
            stamp = None
    except (OSError, ValueError) as err:
        reason = one_line(f"{video or name}: {type(err).__name__}: {err}")
    except Exception as err:  # noqa: BLE001: a bad clip must not stop 33,000 others
        reason = one_line(f"{video or name}: unexpected {type(err).__name__}: {err}")
    return name, reason, stamp


def _init_worker() -> None:
    """In each worker: Ctrl-C is the parent's to handle; one OpenCV thread a process."""
    import signal

    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


# --- preprocessing ------------------------------------------------------------------------

class Preprocessed(tuple):
    """(cached names, {skipped name: reason}), with how the run went as attributes:
    root (the cache folder), computed (clips cropped now), remembered (skipped without a
    retry: known bad videos), seconds, workers and report (the file written, or None)."""

    def __new__(cls, names, failures, **info):
        self = super().__new__(cls, (names, failures))
        self.__dict__.update(info)
        return self

    @property
    def names(self) -> list[str]:
        return self[0]

    @property
    def failures(self) -> dict[str, str]:
        return self[1]


def preprocess(data_dir, names, cache_dir=DEFAULT_CACHE_DIR, crop: str = DEFAULT_CROP,
               workers: int = 1, log=print, progress=True, report=None,
               retry_failed: bool = False, _work=crop_clip) -> Preprocessed:
    """Cache the crops of every clip of `names` not cached yet; skip those that fail.

    workers: processes cropping at once (1: here, in this process). log: a print-like
    function for the few lines said, or None. progress: True (a bar on stderr), False, or a
    stream. report: the report file's path; None: <cache root>/report.tsv; False: none.
    Returns Preprocessed: (names cached, in the order given; {name: reason} of the rest).
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    workers = operator.index(workers)
    if workers < 1:
        raise ValueError(f"workers must be 1 or more, not {workers}")
    t0 = time.perf_counter()
    root = cache_root(data_dir, cache_dir, crop)
    root.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    todo: dict[Path, str] = {}  # one job a file: s1/bbaf2n and bbaf2n are the same clip
    remembered = 0
    for name in names:
        path = clip_path(root, name)
        if path in todo or path.is_file():
            continue
        marker = _failed_path(path)
        if not retry_failed and marker.is_file():
            reason = _known_failure(data_dir, name, marker)
            if reason is not None:
                failures[name], remembered = reason, remembered + 1
                continue
        todo[path] = name
    if todo and log:
        log(f"cropping {len(todo)} clips ({crop}) into {root} with {min(workers, len(todo))} "
            f"worker process(es); {len(names) - len(todo) - remembered} cached already")
        sys.stdout.flush()  # before the progress bar's lines on stderr
    bar = None
    if todo and progress:
        bar = Progress(len(todo), stream=None if progress is True else progress,
                       what="cropped")
    counts = {"done": 0, "failed": 0}
    by_name = {}

    def finished(name, reason, stamp):
        counts["done"] += 1
        if reason is not None:
            counts["failed"] += 1
            by_name[name] = reason
            marker = _failed_path(clip_path(root, name))
            if stamp is not None:
                try:
                    marker.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(marker, lambda f: f.write(f"{stamp}\t{reason}\n".encode()))
                except OSError:
                    pass  # not remembered: tried again next time
            else:
                marker.unlink(missing_ok=True)
        elif retry_failed:
            _failed_path(clip_path(root, name)).unlink(missing_ok=True)  # read at last
        if bar:
            bar.count(counts["done"], counts["failed"])

    jobs = [(name, path) for path, name in todo.items()]
    try:
        if workers == 1 or len(jobs) == 1:
            for name, path in jobs:
                finished(*_work(data_dir, name, crop, path))
        else:
            _run_pool(jobs, min(workers, len(jobs)), _work, (data_dir, crop), finished)
    finally:
        if bar:
            bar.close()
    # Failures of the same clip under two names (bbaf2n, s1/bbaf2n) count for both.
    for name in names:
        if name not in failures:
            other = by_name.get(todo.get(clip_path(root, name), name))
            if other is not None:
                failures[name] = other
    cached = [n for n in names if n not in failures]
    seconds = time.perf_counter() - t0
    info = dict(root=root, computed=counts["done"] - counts["failed"], remembered=remembered,
                seconds=seconds, workers=min(workers, max(len(jobs), 1)), report=None)
    if report is not False:
        path = Path(report) if report else root / REPORT_NAME
        write_report(path, failures, summary_lines(data_dir, crop, names, cached, failures,
                                                   info))
        info["report"] = path
    return Preprocessed(cached, failures, **info)


def _run_pool(jobs, workers, work, args, finished) -> None:
    """The jobs over a process pool, IN_FLIGHT a worker queued at a time.

    A worker that dies (a crash in a native library, the OOM killer) breaks the pool and
    every clip in flight with it; those are tried again one at a time in a pool of their
    own, so that only the clip that kills a worker on its own is skipped for it.
    """
    import multiprocessing

    context = multiprocessing.get_context(MP_START)
    queue, suspects = deque(jobs), deque()
    while queue or suspects:
        alone = not queue  # the suspects of a broken pool: one at a time
        source = suspects if alone else queue
        size = 1 if alone else workers
        with ProcessPoolExecutor(size, mp_context=context, initializer=_init_worker) as pool:
            running = {}
            try:
                while source or running:
                    while source and len(running) < size * (1 if alone else IN_FLIGHT):
                        name, path = source[0]
                        running[pool.submit(work, args[0], name, args[1], path)] = (name, path)
                        source.popleft()  # only once submitted: a broken pool refuses it
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        name, path = running.pop(future)
                        try:
                            finished(*future.result())
                        except BrokenProcessPool:
                            if alone:
                                finished(name, "the worker process died while cropping it "
                                               "(a crash in the video decoder or dlib?)", None)
                            else:
                                suspects.append((name, path))
                        except Exception as err:  # noqa: BLE001: one clip, not the run
                            finished(name, one_line(f"{type(err).__name__}: {err}"), None)
            except BrokenProcessPool:  # submit() on a pool that just broke
                pass
            finally:
                for job in running.values():  # in flight when the pool broke (or Ctrl-C)
                    suspects.appendleft(job)
                pool.shutdown(wait=True, cancel_futures=True)
