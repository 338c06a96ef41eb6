"""Enrollments run by the page in the background: one `lipread enroll` process each, its
state in a folder of the profiles dir, so that a reloaded page (a new session) finds it.

    <profiles dir>/.jobs/<name>/   log.txt, progress.json (written by enroll as it runs),
                                   card.json (when it succeeded), pid, owner (the visitor's
                                   hash), takes/ (the session's takes, while it runs)
    <profiles dir>/.takes/<token>/ the takes of one page session: take-01.mp4, take-01.txt ...

A person's takes are kept private and briefly: folders 0700 and files 0600, a session's
folder made when its first take arrives, moved into the job when Teach starts and removed
when the job ends (the profile keeps its copies, --keep-clips), or swept an hour after its
session last touched it (the visitor left).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lipread.enroll import profiles

JOBS, TAKES = ".jobs", ".takes"


@dataclass
class Job:
    name: str
    state: str  # "running", "done" or "failed"
    fraction: float
    stage: str
    eta_s: float | None
    card: dict | None
    error: str | None


def job_dir(name: str) -> Path:
    return profiles.root() / JOBS / profiles.check_name(name)


def takes_dir(token: str | None = None) -> Path:
    """Where one session's takes go (a random token), or the one `token` names: made only
    when a take is written (write_take)."""
    token = token or secrets.token_hex(8)
    if not token.isalnum():
        raise ValueError(f"not a takes token: {token!r}")
    return profiles.root() / TAKES / token


def private_dir(folder: Path) -> Path:
    """`folder` made (with its parents) and kept 0700: the owner alone lists or enters it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask; an old folder too
    return folder


def write_take(path: Path, data: bytes) -> None:
    """A take's file (its video or its sentence), 0600 in a 0700 folder (in a 0700 one:
    no session's token listed) made now if need be; a file there already is replaced."""
    private_dir(path.parent.parent)
    private_dir(path.parent)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)


def remove_takes(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def owner_of(name: str) -> str | None:
    """The visitor who started the job of `name` (None: none recorded)."""
    try:
        owner = (job_dir(name) / "owner").read_text().strip()
    except OSError:
        return None
    return owner or None


def can_train() -> bool:
    """Whether this install has the training stack (requirements-train.txt)."""
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"  # Keras's own default
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("keras", backend))
    except (ImportError, ValueError):  # a broken or blocked install: no training either
        return False


def start(name: str, takes: Path, force: bool = False, owner: str | None = None) -> Job:
    """`lipread enroll` on the takes, in its own process (arguments as a list, no shell).
    The takes folder moves into the job's (removed when it ends); `owner`, the page
    visitor's hash, owns the job and the profile it makes. Refused while a job of that name
    runs; an ended one (anyone's) is replaced."""
    if not can_train():
        raise profiles.ProfileError("teaching trains a network, which needs TensorFlow and "
                                    "Keras; this install reads only (pip install -r "
                                    "requirements-train.txt, or the Docker image's default "
                                    "stage)")
    folder = job_dir(name)
    if folder.exists() and status(name).state == "running":
        raise profiles.ProfileError(
            f"profile {name!r}: an enrollment of it is running" if owner_of(name) == owner
            else f"profile {name!r}: someone else is teaching that name; choose another")
    if not takes.is_dir():
        raise profiles.ProfileError("the takes are gone (removed, or an hour old); record "
                                    "them again")
    if folder.exists():
        shutil.rmtree(folder)
    private_dir(folder.parent)
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    (folder / "owner").write_text(owner or "")
    moved = folder / "takes"
    os.replace(takes, moved)  # the session's takes are the job's now, gone when it ends
    args = [sys.executable, "-m", "lipread", "enroll", "--name", name, "--data-dir",
            str(moved), "--keep-clips", "--progress-file", str(folder / "progress.json"),
            "--json", str(folder / "card.json"), *(["--force"] if force else []),
            *(["--owner", owner] if owner else [])]
    epochs = os.environ.get("LIPREAD_ENROLL_EPOCHS")  # fewer, for a quick try (and tests)
    if epochs:
        args += ["--max-epochs", epochs]
    if os.environ.get("LIPREAD_ENROLL_KEEP_ANYWAY"):  # a profile however it reads (tests)
        args += ["--keep-anyway"]
    with open(folder / "log.txt", "wb") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    (folder / "pid").write_text(str(proc.pid))
    return status(name)


def _alive(pid: int) -> bool:
    try:  # our own child: reap it when it has ended (a zombie still answers kill 0)
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def counted_down(path: Path, eta_s) -> float | None:
    """The time left a progress file said, less the time since it was written (a run's
    start-up writes nothing for a while), never under a second."""
    if eta_s is None:
        return None
    try:
        since = max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        since = 0.0
    return max(1.0, float(eta_s) - since)


def status(name: str) -> Job:
    folder = job_dir(name)
    progress = _json(folder / "progress.json") or {}
    card = _json(folder / "card.json")
    try:
        pid = int((folder / "pid").read_text())
    except (OSError, ValueError):
        pid = None
    fraction, stage = float(progress.get("fraction", 0.0)), progress.get("stage", "starting")
    alive = pid is not None and _alive(pid)  # first: a child that has ended is reaped
    if pid is not None and not alive:  # gone, and reaped: never waited for again (its
        (folder / "pid").unlink(missing_ok=True)  # number may be another child's later)
    if card is not None or not alive:  # ended, or its card written last: its takes go
        remove_takes(folder / "takes")  # (the profile, if made, kept its own copies)
    if card is not None:
        return Job(name, "done", 1.0, "done", 0, card, None)
    if alive:
        return Job(name, "running", fraction, stage, counted_down(folder / "progress.json",
                                                                  progress.get("eta_s")),
                   None, None)
    try:
        lines = (folder / "log.txt").read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    said = [line for line in lines if "error:" in line] or lines or ["it stopped"]
    return Job(name, "failed", fraction, stage, None, None,
               said[-1].split("error: ", 1)[-1])


def jobs(owner: str | None = None, every: bool = False) -> list[Job]:
    """The enrollments visitor `owner` started that are still on record (`every`: all of
    everyone's), newest first."""
    root = profiles.root() / JOBS
    if not root.is_dir():
        return []
    found = sorted((p for p in root.iterdir() if profiles.NAME.fullmatch(p.name)),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [status(p.name) for p in found if every or owner_of(p.name) == owner]


def forget(name: str) -> None:
    shutil.rmtree(job_dir(name), ignore_errors=True)


def sweep_takes(max_age_s: float) -> list[Path]:
    """Remove takes folders untouched for max_age_s (their sessions are long gone), the
    takes of jobs that ended, and the work folders killed enrollments left
    (profiles.sweep): the Teach page's start."""
    profiles.sweep()
    return sweep_stale_takes(max_age_s)


def sweep_stale_takes(max_age_s: float) -> list[Path]:
    """The takes of jobs that ended, and takes folders untouched for max_age_s."""
    jobs(every=True)  # status() removes an ended job's takes
    root, gone = profiles.root() / TAKES, []
    if not root.is_dir():
        return gone
    now = time.time()
    for folder in root.iterdir():
        try:
            if now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder)
        except OSError:
            continue
    return gone
