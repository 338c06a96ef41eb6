"""The page's background teachings (enroll/jobs.py), directly: takes written privately and
swept when stale, a job's state read back from its folder (running, done, failed, with its
one line of error and its time left counted down), whose job it is, and a real start.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from lipread.enroll import jobs, profiles

ME, YOU = "a" * 32, "b" * 32


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    return tmp_path / "profiles"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_take_is_written_for_its_owner_alone(root):
    folder = jobs.takes_dir()
    assert folder.parent == root / ".takes" and len(folder.name) == 16
    assert folder.name.isalnum() and not folder.exists()  # made when a take arrives
    assert jobs.takes_dir() != folder
    assert jobs.takes_dir("abc123") == root / ".takes" / "abc123"
    take = folder / "take-01.mp4"
    jobs.write_take(take, b"video")
    assert take.read_bytes() == b"video" and mode(take) == 0o600
    assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
    jobs.write_take(take, b"again")  # replaced, still 0600
    assert take.read_bytes() == b"again" and mode(take) == 0o600
    os.chmod(folder, 0o755)
    jobs.write_take(folder / "take-01.txt", b"bin blue at f two now")
    assert mode(folder) == 0o700  # an old folder closed again


@pytest.mark.parametrize("token", ["../x", "a/b", "", "a b", "ab-1"])
def test_a_takes_token_is_letters_and_digits(root, token):
    if token == "":
        assert jobs.takes_dir(token).parent == root / ".takes"  # none: a fresh one
        return
    with pytest.raises(ValueError, match="not a takes token"):
        jobs.takes_dir(token)


def test_a_take_is_never_written_through_a_link(root, tmp_path):
    folder = jobs.takes_dir("t1")
    jobs.private_dir(folder)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"mine")
    (folder / "take-01.mp4").symlink_to(target)
    jobs.write_take(folder / "take-01.mp4", b"video")  # the link removed, a file made
    assert target.read_bytes() == b"mine"
    assert not (folder / "take-01.mp4").is_symlink()


def job(root, name, pid=None, progress=None, card=None, log=None, owner="", takes=False,
        age_s=0.0):
    folder = root / ".jobs" / name
    folder.mkdir(parents=True)
    (folder / "owner").write_text(owner)
    if pid is not None:
        (folder / "pid").write_text(str(pid))
    if progress is not None:
        (folder / "progress.json").write_text(json.dumps(progress))
        then = time.time() - age_s
        os.utime(folder / "progress.json", (then, then))
    if card is not None:
        (folder / "card.json").write_text(json.dumps(card))
    if log is not None:
        (folder / "log.txt").write_bytes(log if isinstance(log, bytes) else log.encode())
    if takes:
        (folder / "takes").mkdir()
        (folder / "takes" / "take-01.mp4").write_bytes(b"v")
    return folder


def test_a_running_job_says_its_stage_fraction_and_time_left(root):
    folder = job(root, "bob", pid=os.getpid(), progress={"fraction": 0.25, "stage": "teaching",
                                                        "eta_s": 100}, takes=True, age_s=30)
    got = jobs.status("bob")
    assert (got.name, got.state, got.fraction, got.stage, got.card, got.error) == (
        "bob", "running", 0.25, "teaching", None, None)
    assert 69 <= got.eta_s <= 70.5  # 100 s said 30 s ago
    assert (folder / "takes").is_dir() and (folder / "pid").is_file()  # kept while it runs
    fresh = job(root, "amy", pid=os.getpid())
    got = jobs.status("amy")
    assert (got.state, got.fraction, got.stage, got.eta_s) == ("running", 0.0, "starting", None)
    assert fresh.is_dir()


def test_the_time_left_counts_down_to_a_second_at_least(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("{}")
    then = time.time() - 50
    os.utime(path, (then, then))
    assert jobs.counted_down(path, None) is None
    assert jobs.counted_down(path, 40) == 1.0
    assert 29.5 <= jobs.counted_down(path, 80) <= 30.5
    assert jobs.counted_down(tmp_path / "gone.json", 80) == 80.0
    future = time.time() + 100  # a clock set back: nothing counted
    os.utime(path, (future, future))
    assert jobs.counted_down(path, 80) == 80.0


def test_a_job_that_wrote_its_card_is_done_and_its_takes_go(root):
    folder = job(root, "bob", pid=os.getpid(), card={"method": "full"}, takes=True)
    got = jobs.status("bob")
    assert (got.state, got.fraction, got.stage, got.eta_s, got.card, got.error) == (
        "done", 1.0, "done", 0, {"method": "full"}, None)
    assert not (folder / "takes").exists() and (folder / "pid").is_file()
    assert got.name == "bob"


def test_an_ended_job_reads_the_same_twice(root):
    job(root, "bob", pid=ended_pid(), card={"method": "full"})
    assert jobs.status("bob") == jobs.status("bob")  # its pid already forgotten the second time


def ended_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("log, said", [
    ("loading\nlipread enroll: error: the lips hardly move in take-01\n", "the lips hardly "
     "move in take-01"),
    ("one\nerror: first\nlast line\nerror: second one\n", "second one"),
    ("Traceback ...\nKilled\n", "Killed"),
    ("lipread enroll: error: take-01.mp4: error: no face\n", "take-01.mp4: error: no face"),
    ("error: the takes are too dark\nsaved nothing\n", "the takes are too dark"),
    (b"error: bad \xff take\n", "bad \ufffd take"),  # not UTF-8: read anyway
    ("", "it stopped"),
    (None, "it stopped"),
])
def test_a_job_that_ended_without_a_card_failed_with_its_last_error(root, log, said):
    folder = job(root, "bob", pid=ended_pid(), progress={"fraction": 0.5, "stage": "checking",
                                                         "eta_s": 10}, log=log, takes=True)
    got = jobs.status("bob")
    assert (got.state, got.fraction, got.stage, got.eta_s, got.card) == (
        "failed", 0.5, "checking", None, None)
    assert got.error == said
    assert not (folder / "takes").exists() and not (folder / "pid").exists()


def test_a_job_with_no_pid_or_a_garbled_one_has_ended(root):
    job(root, "bob", log="lipread enroll: error: gone\n")
    assert jobs.status("bob").state == "failed"
    folder = job(root, "amy", log="x")
    (folder / "pid").write_text("not a number")
    (folder / "progress.json").write_text("{garbled")
    got = jobs.status("amy")
    assert (got.state, got.fraction, got.stage, got.error) == ("failed", 0.0, "starting", "x")


def test_a_process_of_another_user_is_alive(monkeypatch):
    assert jobs._alive(os.getpid())
    assert not jobs._alive(ended_pid())

    def denied(pid, sig):
        raise PermissionError

    monkeypatch.setattr(jobs.os, "kill", denied)
    assert jobs._alive(ended_pid())  # it answers, though not to us: still there


def test_a_visitor_sees_their_own_jobs_newest_first(root):
    old = job(root, "old", pid=ended_pid(), owner=ME)
    os.utime(old, (time.time() - 100, time.time() - 100))
    job(root, "new", pid=os.getpid(), owner=ME)
    job(root, "theirs", pid=os.getpid(), owner=YOU)
    job(root, "ops", pid=os.getpid())
    (root / ".jobs" / "Not-a-name").mkdir()
    assert [j.name for j in jobs.jobs(ME)] == ["new", "old"]
    assert [j.name for j in jobs.jobs(YOU)] == ["theirs"]
    assert [j.name for j in jobs.jobs(None)] == ["ops"]
    assert sorted(j.name for j in jobs.jobs(every=True)) == ["new", "old", "ops", "theirs"]
    assert jobs.owner_of("new") == ME and jobs.owner_of("ops") is None
    assert jobs.owner_of("nosuch") is None
    jobs.forget("new")
    assert [j.name for j in jobs.jobs(ME)] == ["old"]
    jobs.forget("new")  # gone already: nothing to do


def test_no_jobs_folder_is_no_jobs(root):
    assert jobs.jobs(ME) == [] and jobs.jobs(every=True) == []
    assert jobs.sweep_stale_takes(0) == []


def test_stale_takes_and_ended_jobs_takes_are_swept(root):
    fresh, stale = jobs.takes_dir("fresh"), jobs.takes_dir("stale")
    jobs.write_take(fresh / "take-01.mp4", b"v")
    jobs.write_take(stale / "take-01.mp4", b"v")
    os.utime(stale, (time.time() - 3700, time.time() - 3700))
    ended = job(root, "bob", pid=ended_pid(), takes=True, owner=YOU)  # anyone's
    running = job(root, "amy", pid=os.getpid(), takes=True)
    (root / ".bob-abcd1234").mkdir()  # a killed enrollment's work folder
    assert jobs.sweep_takes(3600) == [stale]
    assert fresh.is_dir() and not stale.exists()
    assert not (ended / "takes").exists() and (running / "takes").is_dir()
    assert not (root / ".bob-abcd1234").exists()


def test_takes_as_old_as_the_limit_are_kept_and_older_ones_swept(root, monkeypatch):
    now = 2_000_000_000
    kept, swept = jobs.takes_dir("kept"), jobs.takes_dir("swept")
    jobs.write_take(kept / "take-01.mp4", b"v")
    jobs.write_take(swept / "take-01.mp4", b"v")
    os.utime(kept, (now - 3600, now - 3600))
    os.utime(swept, (now - 3601, now - 3601))
    monkeypatch.setattr(time, "time", lambda: float(now))
    assert jobs.sweep_stale_takes(3600) == [swept]
    assert kept.is_dir()


def test_stale_takes_that_cannot_all_be_removed_are_swept_as_far_as_they_go(root, monkeypatch):
    stuck, other = jobs.takes_dir("stuck"), jobs.takes_dir("other")
    jobs.write_take(stuck / "take-01.mp4", b"v")
    jobs.write_take(other / "take-02.mp4", b"v")
    unlink = os.unlink

    def refuses(path, *args, **kwargs):
        if str(path) == "take-01.mp4":
            raise PermissionError(13, "Permission denied", str(path))
        return unlink(path, *args, **kwargs)
    monkeypatch.setattr(os, "unlink", refuses)
    assert sorted(jobs.sweep_stale_takes(0)) == sorted([stuck, other])
    assert not other.exists() and (stuck / "take-01.mp4").exists()


def test_teaching_needs_the_training_stack(monkeypatch):
    assert jobs.can_train()  # the test set installs it
    monkeypatch.setenv("KERAS_BACKEND", "nosuchbackend")
    assert not jobs.can_train()
    monkeypatch.setenv("KERAS_BACKEND", "")
    assert jobs.can_train()  # empty: Keras's default, TensorFlow
    monkeypatch.setattr("importlib.util.find_spec",
                        lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert not jobs.can_train()  # a broken install: no training either
    monkeypatch.undo()
    monkeypatch.setattr(jobs, "can_train", lambda: False)
    with pytest.raises(profiles.ProfileError) as err:
        jobs.start("bob", jobs.takes_dir("t"))
    assert str(err.value) == ("teaching trains a network, which needs TensorFlow and Keras; "
                              "this install reads only (pip install -r requirements-train.txt, "
                              "or the Docker image's default stage)")


def test_a_name_being_taught_is_refused_to_its_teacher_and_to_anyone_else(root):
    job(root, "bob", pid=os.getpid(), owner=ME)
    takes = jobs.takes_dir("t1")
    jobs.write_take(takes / "take-01.mp4", b"v")
    with pytest.raises(profiles.ProfileError) as err:
        jobs.start("bob", takes, owner=ME)
    assert str(err.value) == "profile 'bob': an enrollment of it is running"
    with pytest.raises(profiles.ProfileError) as err:
        jobs.start("bob", takes, owner=YOU)
    assert str(err.value) == "profile 'bob': someone else is teaching that name; choose another"
    assert (takes / "take-01.mp4").is_file()  # kept for when it is free
    with pytest.raises(profiles.ProfileError) as err:
        jobs.start("amy", jobs.takes_dir("gone"), owner=ME)
    assert str(err.value) == ("the takes are gone (removed, or an hour old); record them "
                              "again")
    assert not (root / ".jobs" / "amy").exists()


def test_a_start_runs_enroll_on_the_takes_and_its_end_is_read_back(root, monkeypatch):
    takes = jobs.takes_dir("t1")
    jobs.write_take(takes / "take-01.mp4", b"not a video at all")
    jobs.write_take(takes / "take-01.txt", b"bin blue at f two now")
    monkeypatch.setenv("LIPREAD_ENROLL_EPOCHS", "1")
    started = jobs.start("bob", takes, owner=ME)
    assert started.name == "bob" and started.state in ("running", "failed")
    folder = root / ".jobs" / "bob"
    assert not takes.exists() and mode(folder) == 0o700
    assert jobs.owner_of("bob") == ME
    deadline = time.time() + 120
    while jobs.status("bob").state == "running" and time.time() < deadline:
        time.sleep(0.2)
    ended = jobs.status("bob")
    assert ended.state == "failed" and "take-01.mp4" in ended.error
    assert "--max-epochs" not in ended.error
    with pytest.raises(profiles.ProfileError, match="^the takes are gone"):
        jobs.start("bob", takes, owner=ME)  # ended: may start again, but the takes are gone
    again = jobs.takes_dir("t2")
    jobs.write_take(again / "take-01.mp4", b"still not a video")
    jobs.write_take(again / "take-01.txt", b"bin blue at f two now")
    jobs.start("bob", again, owner=YOU)  # an ended job, anyone's, is replaced
    assert jobs.owner_of("bob") == YOU and not (folder / "card.json").exists()
    while jobs.status("bob").state == "running" and time.time() < deadline:
        time.sleep(0.2)


def test_a_jobs_command_line_names_its_takes_files_and_choices(root, monkeypatch):
    started, gone = [], ended_pid()

    class Popen:  # the command as enroll would get it, and a pid that is alive
        def __init__(self, args, **kwargs):
            started.append((args, kwargs))
            self.pid = os.getpid()

    monkeypatch.setattr(jobs.subprocess, "Popen", Popen)
    monkeypatch.delenv("LIPREAD_ENROLL_EPOCHS", raising=False)
    monkeypatch.delenv("LIPREAD_ENROLL_KEEP_ANYWAY", raising=False)
    takes = jobs.takes_dir("t1")
    jobs.write_take(takes / "take-01.mp4", b"v")
    got = jobs.start("bob", takes)
    folder = root / ".jobs" / "bob"
    args, kwargs = started[-1]
    assert args == [sys.executable, "-m", "lipread", "enroll", "--name", "bob", "--data-dir",
                    str(folder / "takes"), "--keep-clips", "--progress-file",
                    str(folder / "progress.json"), "--json", str(folder / "card.json")]
    assert kwargs["stdin"] == subprocess.DEVNULL and kwargs["stderr"] == subprocess.STDOUT
    assert kwargs["start_new_session"] is True and "shell" not in kwargs
    assert (folder / "pid").read_text() == str(os.getpid()) and got.state == "running"
    assert (folder / "takes" / "take-01.mp4").is_file() and jobs.owner_of("bob") is None
    (folder / "pid").write_text(str(gone))  # it ended: may start again
    takes = jobs.takes_dir("t2")
    jobs.write_take(takes / "take-01.mp4", b"v")
    monkeypatch.setenv("LIPREAD_ENROLL_EPOCHS", "3")
    monkeypatch.setenv("LIPREAD_ENROLL_KEEP_ANYWAY", "1")
    jobs.start("bob", takes, force=True, owner=ME)
    assert started[-1][0][-8:] == ["--json", str(folder / "card.json"), "--force", "--owner",
                                   ME, "--max-epochs", "3", "--keep-anyway"]
