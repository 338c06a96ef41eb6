"""The frames a reading finds the face on while they are decoded: in a child process (a
process that reads many videos) or in a thread, the same frames, the same errors."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lipread import feeds, pipeline, reading, video
from lipread import worker as worker_module

pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="Linux only")

ROOT = Path(__file__).resolve().parents[1]


class Serving:
    """worker.serve in a thread of this process: the child's own loop, where a test's
    coverage sees it (Worker's launch)."""

    def __init__(self, sock_fd: int, memfd: int):
        sock_fd, memfd = os.dup(sock_fd), os.dup(memfd)
        self.thread = threading.Thread(target=self.run, args=(sock_fd, memfd), daemon=True)
        self.thread.start()

    @staticmethod
    def run(sock_fd, memfd):
        try:
            worker_module.serve(sock_fd, memfd)
        finally:
            os.close(memfd)

    def kill(self):
        """(A thread cannot be killed: closing the socket ends it.)"""

    def wait(self, timeout=None):
        self.thread.join(timeout)


@pytest.fixture(params=["process", "thread"])
def worker(request):
    launch = {"process": worker_module.spawn, "thread": Serving}[request.param]
    worker = worker_module.Worker(fallback=feeds.ThreadFeed, launch=launch)
    yield worker
    worker.stop()


def decoded(feed):
    """Every frame as a reader takes them (one at a time, waiting), then the clip."""
    frames, t = [], 0
    while True:
        try:
            frames.append(np.array(feed[t]))
        except IndexError:
            break
        t += 1
    clip = feed.clip()
    feed.close()
    return frames, clip


def test_a_clip_decoded_in_the_child_is_the_one_decoded_here(grid_dir, others_dir, worker):
    for path in (grid_dir / "s1" / "bbaf2n.mpg", sorted((others_dir / "s4").glob("*.mp4"))[0]):
        here = video.read_clip(path)
        for start in (0.0, 0.5):
            frames, clip = decoded(worker.decode(path, start))
            expected = video.read_clip(path, start)
            assert np.array_equal(np.stack(frames), expected.frames)
            assert np.array_equal(clip.frames, expected.frames)
            assert (clip.fps, clip.duration, clip.start) == (
                expected.fps, expected.duration, expected.start)
        assert len(here.frames) == 75


def test_the_clip_stays_when_the_child_decodes_the_next(grid_dir, worker):
    first = worker.decode(grid_dir / "s1" / "bbaf2n.mpg", 0.0).clip()
    kept = first.frames.copy()
    worker.decode(grid_dir / "s1" / "lbwy9a.mpg", 0.0).clip()
    assert np.array_equal(first.frames, kept)


def test_a_reading_in_a_process_that_reads_many_is_the_first_readings(grid_dir, worker,
                                                                        monkeypatch):
    path = grid_dir / "s1" / "lbwy9a.mpg"
    here = reading.read(path)  # the first reading of a process: decoded in the thread
    monkeypatch.setattr(feeds, "_worker_if_up", lambda: worker)
    chosen = []
    real = feeds.feed

    def feed(*args):
        chosen.append(type(made := real(*args)).__name__)
        return made
    monkeypatch.setattr(feeds, "feed", feed)
    there = reading.read(path)
    assert chosen == ["WorkerFeed"]
    assert there.sentence == here.sentence == "lay blue with y nine again"
    assert np.array_equal(there.probs, here.probs)
    assert np.array_equal(there.view.crops, here.view.crops)


def test_the_child_says_what_is_wrong_with_a_video_as_the_thread_does(tmp_path, worker,
                                                                      monkeypatch):
    (tmp_path / "noise.mp4").write_bytes(os.urandom(50_000))
    (tmp_path / "empty.mpg").write_bytes(b"")
    monkeypatch.chdir(tmp_path)  # relative names: the message names the file as given
    for name in ("noise.mp4", "empty.mpg", "missing.mp4"):
        caught = []
        for feed in (feeds.ThreadFeed(name, 0.0), worker.decode(name, 0.0)):
            with pytest.raises(IndexError):  # no frame: the reader stops looking
                feed[0]
            with pytest.raises(video.VideoError) as err:
                feed.clip()
            feed.close()
            caught.append(err)
        here, there = caught
        assert str(there.value) == str(here.value) and str(here.value).startswith(name)
    # and the child decodes the next video all the same
    assert worker.decode(name, 0.0) is not None


def test_a_clip_too_large_for_the_child_is_decoded_here(grid_dir, tmp_path, worker,
                                                       ffmpeg_encode):
    large = ffmpeg_encode(grid_dir / "s1" / "bbaf2n.mpg", tmp_path / "large.mp4",
                          "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "ultrafast")
    assert 75 * 1280 * 720 > worker_module.WORKER_BYTES
    frames, clip = decoded(worker.decode(large, 0.0))
    assert np.array_equal(clip.frames, video.read_clip(large).frames)
    assert np.array_equal(np.stack(frames), clip.frames)
    small = worker.decode(grid_dir / "s1" / "bbaf2n.mpg", 0.0)  # the child is free again
    assert isinstance(small, worker_module.WorkerFeed)
    small.close()


def test_a_reading_goes_on_when_the_child_is_killed(grid_dir, worker):
    if not isinstance(worker._proc, subprocess.Popen):
        pytest.skip("a thread cannot be killed")
    path = grid_dir / "s1" / "bbaf2n.mpg"
    feed = worker.decode(path, 0.0)
    os.kill(worker._proc.pid, signal.SIGKILL)
    worker._proc.wait(timeout=10)
    frames, clip = decoded(feed)
    expected = video.read_clip(path)
    assert np.array_equal(np.stack(frames), expected.frames)
    assert np.array_equal(clip.frames, expected.frames)
    assert worker.decode(path, 0.0) is None  # gone: the next readings decode in the thread


def test_a_busy_child_leaves_the_next_reading_to_the_thread(grid_dir, worker):
    path = grid_dir / "s1" / "bbaf2n.mpg"
    busy = worker.decode(path, 0.0)
    assert worker.decode(path, 0.0) is None
    busy.close()
    again = worker.decode(path, 0.0)
    assert again is not None
    again.close()


def test_the_second_reading_of_a_process_starts_the_child_and_it_ends_with_the_process(
        grid_dir):
    """A script reading two clips starts the decoding process on its own, with no
    `if __name__ == "__main__"` guard needed; the process ends when the script does."""
    script = ("import sys, time, lipread\n"
              "from lipread import feeds\n"
              f"clip = {str(grid_dir / 's1' / 'lbwy9a.mpg')!r}\n"
              "print(lipread.read(clip).sentence)\n"
              "print(lipread.read(clip).sentence)\n"
              "for _ in range(600):\n"
              "    if feeds._worker_if_up(): break\n"
              "    time.sleep(0.05)\n"
              "print(lipread.read(clip).sentence)\n"
              "print(feeds._worker_if_up()._proc.pid)\n")
    env = {k: v for k, v in os.environ.items() if k != feeds.OFF}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    *sentences, pid = proc.stdout.split("\n")[:4]
    assert sentences == ["lay blue with y nine again"] * 3
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the decoding process outlived its reader"


def test_pipeline_look_gives_the_child_back_when_the_face_search_fails(tmp_path, worker,
                                                                      monkeypatch):
    """A reading that fails half-way (no face) still waits for its clip, so the child is
    free for the next one."""
    grey = tmp_path / "grey.mp4"
    import imageio.v3 as iio

    iio.imwrite(grey, np.full((75, 288, 360, 3), 128, np.uint8), fps=25, codec="libx264")
    monkeypatch.setattr(feeds, "_worker_if_up", lambda: worker)
    with pytest.raises(video.VideoError, match="face"):
        pipeline.look(grey)
    follow = worker.decode(grey, 0.0)
    assert follow is not None
    follow.close()
