"""What killed runs leave, and caches that grow: a download's work
folder is removed by the next run unless another run holds it; the browser-video cache
stays under its size and age caps, least recently used first; upload folders that a
killed server left go. Real files, real locks, a real `lipread download`.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from lipread.app import browser, files
from lipread.corpus import archives

ROOT = Path(__file__).resolve().parents[1]


def test_the_next_download_removes_what_a_killed_one_left(tmp_path, grid_dir, test_names):
    """Two folders like a killed `lipread download data` leaves (one with a lock file, one
    from before locks): the next run removes both; one whose lock a live run holds stays."""
    from lipread import grid

    stale = tmp_path / ".grid.data-download-k1ll3d"
    (stale / "x").mkdir(parents=True)
    (stale / "data.zip.part").write_bytes(bytes(1 << 20))
    (stale / archives.LOCK).touch()
    older = tmp_path / ".grid.data-download-0ld"
    older.mkdir()
    busy = tmp_path / ".grid.data-download-bu5y"
    busy.mkdir()
    holder = open(busy / archives.LOCK, "w")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # as a live run holds its own
    try:
        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(bad, "w") as zf:  # a zip that is no data.zip: the run fails
            zf.write(grid.alignment_path(grid_dir, test_names[0]), "x/y.align")
        proc = subprocess.run([sys.executable, "-m", "lipread", "download", "data", "--zip", bad,
                               "--data-dir", tmp_path / "grid"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [busy.name, "bad.zip"]
    finally:
        holder.close()
    assert archives.sweep(tmp_path, ".grid.data-download-") == [busy]  # free now: it goes


def test_the_browser_cache_keeps_the_recently_used_under_its_caps(tmp_path):
    now = time.time()
    made = {}
    for name, size, age_days in [("a", 400, 0.1), ("b", 400, 1), ("c", 400, 2), ("d", 100, 40),
                                 ("e", 50, 3)]:
        path = tmp_path / f"{name * 64}.mp4"
        path.write_bytes(bytes(size))
        os.utime(path, (now - age_days * 86400,) * 2)
        made[name] = path
    partial = tmp_path / f".{'f' * 64}.0123.part.mp4"  # a conversion killed two hours ago
    partial.write_bytes(bytes(10))
    os.utime(partial, (now - 7200,) * 2)
    removed = browser.trim_cache(tmp_path, keep=made["c"], max_bytes=1000,
                                 max_age_s=30 * 86400)
    # a, b kept (800 bytes), c is the one being shown (kept whatever it costs), e would
    # overflow the cap: it goes, and d is older than the age cap.
    assert sorted(p.name[0] for p in removed if not p.name.startswith(".")) == ["d", "e"]
    assert partial in removed
    assert sorted(p.name[0] for p in tmp_path.glob("*.mp4")) == ["a", "b", "c"]


def test_a_cache_hit_counts_as_a_use(tmp_path, monkeypatch, grid_dir, test_names):
    from lipread import grid

    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path))
    src = grid.video_path(grid_dir, test_names[0])
    digest = files.sha256_file(src)
    copy, fresh = browser.to_browser_mp4(src, digest)
    assert fresh
    os.utime(copy, (time.time() - 10 * 86400,) * 2)
    again, fresh = browser.to_browser_mp4(src, digest)
    assert again == copy and not fresh and time.time() - copy.stat().st_mtime < 60


def test_upload_folders_left_by_a_killed_server_go(tmp_path, monkeypatch):
    monkeypatch.setattr(files.tempfile, "tempdir", str(tmp_path))
    old = tmp_path / f"{files.UPLOAD_PREFIX}0ld"
    old.mkdir()
    (old / "upload.mp4").write_bytes(b"x")
    os.utime(old, (time.time() - 2 * files.UPLOAD_STALE_S,) * 2)
    recent = tmp_path / f"{files.UPLOAD_PREFIX}n0w"  # another session's, being read
    recent.mkdir()
    with files.temp_copy(b"data", ".mp4") as path:
        assert path.read_bytes() == b"data" and path.parent.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in path.parent.iterdir()) == ["upload.mp4"]
    assert not old.exists() and recent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [recent.name]


KILLED_ENROLLMENT = """
import os, signal, sys
from pathlib import Path
from lipread.enroll import profiles
with profiles.writing(sys.argv[1]) as folder:  # as `lipread enroll --keep-clips` fills it
    (folder / "recordings").mkdir()
    (folder / "recordings" / "take-01.mp4").write_bytes(b"a person's face")
    (folder / profiles.WEIGHTS_FILE).write_bytes(b"their reader")
    print(folder, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # running, until told
"""


def enrollment(name: str, how: str, profiles_dir: Path) -> subprocess.Popen:
    """An enrollment of `name` in its own process, its work folder filled: killed there
    ("kill"), or running until its stdin closes ("run")."""
    return subprocess.Popen([sys.executable, "-c", KILLED_ENROLLMENT, name, how], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "LIPREAD_PROFILES_DIR": str(profiles_dir)})


def work_folder(proc: subprocess.Popen) -> Path:
    folder = Path(proc.stdout.readline().strip())
    assert folder.name.startswith(".") and (folder / "recordings" / "take-01.mp4").is_file()
    return folder


def test_the_next_enrollment_of_any_name_removes_what_a_killed_one_left(tmp_path,
                                                                        monkeypatch):
    """A killed enrollment's hidden folder (the person's clips and weights) goes when the
    next enrollment, of another name, starts; a running one's stays."""
    from lipread.enroll import profiles

    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path))
    killed = enrollment("alice", "kill", tmp_path)
    left = work_folder(killed)
    assert killed.wait(30) == -9 and left.is_dir()
    old = tmp_path / ".alice-old-k1ll3d00"  # one killed while it replaced a profile
    (old / "alice").mkdir(parents=True)
    running = enrollment("carol", "run", tmp_path)
    try:
        busy = work_folder(running)
        with profiles.writing("bob") as folder:
            (folder / profiles.CARD_FILE).write_text('{"method": "full"}')
        assert not left.exists() and not old.exists()
        assert busy.is_dir()  # carol's enrollment runs: its folder is its own
    finally:
        running.stdin.close()
        running.wait(30)
    assert not busy.exists()  # ended well: renamed into place
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == \
        ["bob", "carol"]


def test_the_teach_page_removes_what_a_killed_enrollment_left(tmp_path, monkeypatch,
                                                              grid_dir, webrtc_in_apptest):
    from conftest import open_page

    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    killed = enrollment("dana", "kill", tmp_path / "profiles")
    left = work_folder(killed)
    assert killed.wait(30) == -9
    open_page("views/teach.py")
    assert not left.exists()


def test_a_finished_page_enrollment_leaves_no_zombie(tmp_path, monkeypatch):
    """The page's enrollment child, once it has ended and written its card, is reaped when
    the page looks at its job: no zombie process stays behind on the server."""
    import types

    from lipread.enroll import jobs

    fake = tmp_path / "fake-python"  # `python -m lipread enroll ... --json CARD`: a card, at once
    fake.write_text(f"#!{sys.executable}\nimport json, sys\n"
                    "card = sys.argv[sys.argv.index('--json') + 1]\n"
                    "open(card, 'w').write(json.dumps({'method': 'full'}))\n")
    fake.chmod(0o755)
    monkeypatch.setattr(jobs, "sys", types.SimpleNamespace(executable=str(fake)))
    monkeypatch.setattr(jobs, "can_train", lambda: True)
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    (tmp_path / "takes").mkdir()
    jobs.start("erin", tmp_path / "takes")
    pid = int((jobs.job_dir("erin") / "pid").read_text())
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(200):  # ended: a zombie until reaped
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert jobs.status("erin").state == "done"
    assert [job.state for job in jobs.jobs()] == ["done"]
    assert not stat.exists(), "the finished enrollment is a zombie"


def test_the_time_left_counts_down_between_progress_reports(tmp_path):
    """A run's start-up writes no progress for a while: the page's time left is what the
    file said less the time since it was written, never under a second."""
    import os
    import time

    from lipread.enroll import jobs

    said = tmp_path / "progress.json"
    said.write_text("{}")
    ten_ago = time.time() - 10
    os.utime(said, (ten_ago, ten_ago))
    assert jobs.counted_down(said, 30) == pytest.approx(20, abs=1)
    assert jobs.counted_down(said, 5) == 1.0
    assert jobs.counted_down(said, None) is None
    assert jobs.counted_down(tmp_path / "gone.json", 30) == 30
