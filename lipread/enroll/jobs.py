"""Enrollments run by the page in the background: one `lipread enroll` process each, its
state in a folder of the profiles dir, so that a reloaded page (a new session) finds it.

    <profiles dir>/.jobs/<name>/   log.txt, progress.json (written by enroll as it runs),
                                   card.json (when it succeeded), pid
    <profiles dir>/.takes/<token>/ the takes of one page session: take-01.mp4, take-01.txt ...
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
    """A fresh folder for one session's takes (a random token), or the one `token` names."""
    token = token or secrets.token_hex(8)
    if not token.isalnum():
        raise ValueError(f"not a takes token: {token!r}")
    folder = profiles.root() / TAKES / token
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def can_train() -> bool:
    """Whether this install has the training stack (requirements-train.txt)."""
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"  # Keras's own default
    try:
        return all(importlib.util.find_spec(m) is not None for m in ("keras", backend))
    except (ImportError, ValueError):  # a broken or blocked install: no training either
        return False


def start(name: str, takes: Path, force: bool = False) -> Job:
    """`lipread enroll` on the takes, in its own process (arguments as a list, no shell)."""
    if not can_train():
        raise profiles.ProfileError("teaching trains a network, which needs TensorFlow and "
                                    "Keras; this install reads only (pip install -r "
                                    "requirements-train.txt, or the Docker image's default "
                                    "stage)")
    folder = job_dir(name)
    if folder.exists():
        if status(name).state == "running":
            raise profiles.ProfileError(f"profile {name!r}: an enrollment of it is running")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    args = [sys.executable, "-m", "lipread", "enroll", "--name", name, "--data-dir",
            str(takes), "--keep-clips", "--progress-file", str(folder / "progress.json"),
            "--json", str(folder / "card.json"), *(["--force"] if force else [])]
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
    if card is not None:
        return Job(name, "done", 1.0, "done", 0, card, None)
    if alive:
        return Job(name, "running", fraction, stage, progress.get("eta_s"), None, None)
    try:
        lines = (folder / "log.txt").read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    said = [line for line in lines if "error:" in line] or lines or ["it stopped"]
    return Job(name, "failed", fraction, stage, None, None,
               said[-1].split("error: ", 1)[-1])


def jobs() -> list[Job]:
    """Every enrollment the page started that is still on record, newest first."""
    root = profiles.root() / JOBS
    if not root.is_dir():
        return []
    found = sorted((p for p in root.iterdir() if profiles.NAME.fullmatch(p.name)),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [status(p.name) for p in found]


def forget(name: str) -> None:
    shutil.rmtree(job_dir(name), ignore_errors=True)


def sweep_takes(max_age_s: float) -> list[Path]:
    """Remove takes folders untouched for max_age_s (their sessions are long gone), and
    the work folders killed enrollments left (profiles.sweep): the Teach page's start."""
    profiles.sweep()
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
