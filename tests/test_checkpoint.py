"""A run's checkpoint is one step: `lipread train` SIGKILLed right
after each file of an epoch's checkpoint is written, then `--resume`d, goes on from a
consistent epoch with log.csv holding each epoch once; damaged files give one line naming
the file. Real training (a few steps on real clips), real kills.
"""
from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lipread.training import checkpoint

ROOT = Path(__file__).resolve().parents[1]
# `lipread train` with checkpoint.write_file (and the link swap) watched: after the file
# named by $KILL_AT ("<epoch>:<name>", name "link" for the swap), the process kills itself.
KILLED_TRAIN = """
import os, signal, sys
from lipread.training import checkpoint
epoch, name = os.environ["KILL_AT"].split(":")
write_file, replace = checkpoint.write_file, checkpoint.os.replace

def watched_write(path, write):
    done = write_file(path, write)
    if path.name == name and f"-{epoch}." in path.parent.name:
        os.kill(os.getpid(), signal.SIGKILL)
    return done

class WatchedOs:
    def __getattr__(self, attr):
        return getattr(os, attr)
    def replace(self, src, dst):
        replace(src, dst)
        if name == "link" and str(dst).endswith("checkpoint") and \\
                os.readlink(dst).startswith(f"checkpoint-{epoch}-"):
            os.kill(os.getpid(), signal.SIGKILL)

checkpoint.write_file, checkpoint.os = watched_write, WatchedOs()
from lipread.cli import train
sys.exit(train.cli(sys.argv[1:]))
"""


def train(run_dir, cache, *args, kill_at=None):
    env = {**__import__("os").environ, **({"KILL_AT": kill_at} if kill_at else {})}
    cmd = ([sys.executable, "-c", KILLED_TRAIN] if kill_at else
           [sys.executable, "-m", "lipread", "train"])
    argv = ["--data-dir", CONFTEST_GRID(), "--limit", 6, "--run-dir", run_dir, "--cache-dir",
            cache, "--max-steps", 1, "--batch-size", 2, "--verbose", 2, "--epochs", 3, *args]
    return subprocess.run([*cmd, *map(str, argv)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={k: str(v) for k, v in env.items()})


def CONFTEST_GRID():  # noqa: N802: the grid_dir fixture's folder, for the helper above
    from conftest import GRID_DIR

    return str(GRID_DIR)


def epochs_logged(run_dir) -> list[str]:
    return [r["epoch"] for r in csv.DictReader((run_dir / "log.csv").open())]


def state_epoch(run_dir) -> int:
    return json.loads((run_dir / "checkpoint" / "state.json").read_text())["epoch"]


@pytest.fixture(scope="module")
def killed_and_resumed(grid_dir, tmp_path_factory):
    """One run killed at epoch 2 after each checkpoint file in turn, resumed each time, then
    run to its end: the state seen after every kill, and the run folder."""
    root = tmp_path_factory.mktemp("killed")
    run_dir, cache = root / "run", root / "cache"
    first = train(run_dir, cache, "--stop-after", 1)
    assert first.returncode == 0, first.stderr[-3000:]
    seen = []
    for name in (checkpoint.WEIGHTS, checkpoint.OPTIMIZER, checkpoint.STATE, "link"):
        proc = train(run_dir, cache, *(["--resume"]), kill_at=f"2:{name}")
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
        seen.append((name, state_epoch(run_dir), epochs_logged(run_dir)))
        if name == "link":
            break
    last = train(run_dir, cache, "--resume")
    assert last.returncode == 0, last.stderr[-3000:]
    return seen, run_dir, cache, last.stdout


def test_a_kill_inside_a_checkpoint_resumes_from_a_whole_epoch(killed_and_resumed):
    seen, run_dir, _, out = killed_and_resumed
    # Killed after any file of epoch 2's checkpoint: the checkpoint is still epoch 1's (the
    # log may hold epoch 2's row, written just before); after the link swap, epoch 2's.
    assert [(name, epoch) for name, epoch, _ in seen] == [
        ("last.weights.h5", 1), ("optimizer.npz", 1), ("state.json", 1), ("link", 2)]
    assert "after epoch 2" in out and state_epoch(run_dir) == 3
    assert epochs_logged(run_dir) == ["0", "1", "2"]  # each epoch once
    # Nothing half-written left: one checkpoint folder, no partial folders or links.
    leftovers = sorted(p.name for p in run_dir.iterdir() if "checkpoint" in p.name)
    assert leftovers[0] == "checkpoint" and len(leftovers) == 2
    assert leftovers[1].startswith("checkpoint-3-")


@pytest.mark.parametrize("damage, said", [
    ("truncate optimizer.npz", "optimizer.npz: damaged (BadZipFile)"),
    ("garble state.json", "state.json: damaged (JSONDecodeError"),
    ("truncate last.weights.h5", "last.weights.h5: damaged or not this network's weights"),
    ("remove the checkpoint", "nothing to resume"),
])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(killed_and_resumed, tmp_path,
                                                          damage, said):
    _, run_dir, cache, _ = killed_and_resumed
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)
    folder = (copy / "checkpoint").resolve()
    what, name = damage.split(" ", 1)
    if what == "truncate":
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 3])
    elif what == "garble":
        (folder / name).write_text('{"epoch": 3, "best_val')
    else:
        (copy / "checkpoint").unlink()
    proc = train(copy, cache, "--resume", "--epochs", 4)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("lipread train: error: "), proc.stderr
    assert said in lines[0] and "Traceback" not in proc.stderr
    if what != "remove":
        assert str(folder / name) in lines[0] and "without --resume" in lines[0]
