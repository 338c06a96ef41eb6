"""A run's checkpoint is one step: `lipread train` SIGKILLed right
after each file of an epoch's checkpoint is written, then `--resume`d, goes on from a
consistent epoch with log.csv holding each epoch once; damaged files give one line naming
the file. Real training (a few steps on real clips), real kills.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
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


# The checkpoint's files themselves, without a training run: what a resume finds.

def _save(run_dir, epoch, weights=b"w", arrays=None, **state):
    return checkpoint.save(run_dir, epoch, {"best_val_chars_loss": 1.5, **state},
                           lambda p: p.write_bytes(weights),
                           arrays if arrays is not None else {"v0": np.arange(3)})


def test_an_epochs_checkpoint_is_one_folder_of_three_files_named_by_the_link(tmp_path):
    assert checkpoint.current(tmp_path) is None and checkpoint.weights(tmp_path) is None
    folder = _save(tmp_path, 4, weights=b"four", lr=0.5)
    assert folder.parent == tmp_path and folder.name.startswith("checkpoint-4-")
    assert os.readlink(tmp_path / "checkpoint") == folder.name  # relative: the run moves
    assert checkpoint.current(tmp_path) == folder.resolve()
    assert checkpoint.weights(tmp_path) == folder.resolve() / "last.weights.h5"
    assert checkpoint.weights(tmp_path).read_bytes() == b"four"
    assert json.loads((folder / "state.json").read_text()) == {
        "best_val_chars_loss": 1.5, "lr": 0.5, "epoch": 4}
    with np.load(folder / "optimizer.npz") as saved:
        assert saved["v0"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", folder.name]


def test_the_next_epoch_replaces_the_last_and_leaves_nothing_else(tmp_path):
    first = _save(tmp_path, 1)
    second = _save(tmp_path, 2, weights=b"two")
    assert not first.exists() and second.name != first.name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", second.name]
    folder, state = checkpoint.read_state(tmp_path)
    assert folder == second.resolve() and state["epoch"] == 2
    assert checkpoint.weights(tmp_path).read_bytes() == b"two"


def test_a_save_that_fails_keeps_the_last_whole_epoch(tmp_path):
    kept = _save(tmp_path, 1)

    def broken(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(tmp_path, 2, {"best_val_chars_loss": 1.0}, broken, {"v0": np.zeros(1)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", kept.name]
    assert checkpoint.read_state(tmp_path)[1]["epoch"] == 1


def test_tidy_removes_what_killed_saves_left_and_keeps_the_current_epoch(tmp_path):
    kept = _save(tmp_path, 3)
    (tmp_path / "checkpoint-2-deadbeef").mkdir()  # an old epoch a kill left behind
    (tmp_path / "checkpoint-2-deadbeef" / "last.weights.h5").write_bytes(b"x")
    (tmp_path / ".checkpoint-4.abc.partial").mkdir()  # a save killed while writing
    (tmp_path / ".checkpoint-4.abc.partial" / "state.json").write_text("{}")
    (tmp_path / ".checkpoint.abc.link").symlink_to(kept.name)  # killed before the swap
    (tmp_path / ".checkpoint.stray").write_text("")
    (tmp_path / "log.csv").write_text("epoch\n")  # not the checkpoint's: kept
    checkpoint.tidy(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", kept.name, "log.csv"]
    assert (kept / "state.json").is_file()


def test_a_run_folder_whose_checkpoint_is_a_folder_resumes_from_it(tmp_path):
    folder = tmp_path / "checkpoint"  # copied without links (cp -rL): still one epoch
    folder.mkdir()
    (folder / "state.json").write_text('{"epoch": 5, "best_val_chars_loss": 2}')
    assert checkpoint.read_state(tmp_path) == (folder.resolve(),
                                               {"epoch": 5, "best_val_chars_loss": 2})
    checkpoint.tidy(tmp_path)
    assert (folder / "state.json").is_file()


@pytest.mark.parametrize("state, said", [
    (None, "state.json: missing from the checkpoint. To start over"),
    ('{"epoch": 3', "state.json: damaged (JSONDecodeError: "),
    ('{"best_val_chars_loss": 1}', "state.json: damaged (KeyError: 'epoch'). To start over"),
    ('{"epoch": 3}', "state.json: damaged (KeyError: 'best_val_chars_loss')"),
    ('{"epoch": "three", "best_val_chars_loss": 1}', "state.json: damaged (ValueError: "),
    ('{"epoch": 3, "best_val_chars_loss": null}', "state.json: damaged (TypeError: "),
    ('[3]', "state.json: damaged (TypeError: "),
    (b'{"epoch": 3, "\xff": 1}', "state.json: damaged (UnicodeDecodeError: "),
    ('{"epoch": 0, "best_val_chars_loss": 1}', "state.json: damaged (epoch 0). To start over"),
])
def test_a_damaged_state_names_its_file_and_how_to_start_over(tmp_path, state, said):
    folder = tmp_path / "checkpoint-3-aa"
    folder.mkdir()
    (tmp_path / "checkpoint").symlink_to(folder.name)
    if isinstance(state, str):
        (folder / "state.json").write_text(state)
    elif state is not None:
        (folder / "state.json").write_bytes(state)
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.read_state(tmp_path)
    line = str(err.value)
    assert line.startswith(str(folder.resolve() / "state.json") + ":") and said in line
    assert line.endswith("lipread train without --resume, into a new --run-dir.")
    assert "\n" not in line


def test_a_run_without_a_finished_epoch_has_nothing_to_resume(tmp_path):
    for link_to in (None, "checkpoint-9-gone"):  # no link, or a link to a removed folder
        if link_to:
            (tmp_path / "checkpoint").symlink_to(link_to)
        with pytest.raises(checkpoint.CheckpointError) as err:
            checkpoint.read_state(tmp_path)
        assert str(err.value) == (f"{tmp_path / 'checkpoint'}: nothing to resume in "
                                  f"{tmp_path} (no finished epoch); start without --resume")


class _Weights:
    def __init__(self, error=None):
        self.error, self.loaded = error, None

    def load_weights(self, path):
        if self.error:
            raise self.error
        self.loaded = path


@pytest.mark.parametrize("error, said", [
    (OSError("Unable to open file\nmore detail"), "(Unable to open file). To start over"),
    (ValueError("  layer count mismatch  "), "(layer count mismatch). To start over"),
    (KeyError(""), "(''). To start over"),
    (ValueError(""), "(unreadable). To start over"),
])
def test_weights_that_do_not_load_name_the_file(tmp_path, error, said):
    model = _Weights(error)
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_weights(model, tmp_path)
    assert str(err.value).startswith(
        f"{tmp_path / 'last.weights.h5'}: damaged or not this network's weights {said}")
    good = _Weights()
    checkpoint.load_weights(good, tmp_path)
    assert good.loaded == tmp_path / "last.weights.h5"


class _Variable:
    def __init__(self, shape):
        self.shape, self.value = shape, None

    def assign(self, array):
        self.value = array


def test_the_optimizer_state_is_assigned_in_order_and_checked_against_each_variable(tmp_path):
    np.savez(tmp_path / "optimizer.npz", v0=np.zeros((2, 3)), v1=np.arange(4.0), v2=np.ones(1))
    variables = [_Variable((2, 3)), _Variable((4,))]  # fewer than saved: the first ones
    checkpoint.load_optimizer(variables, tmp_path)
    assert variables[0].value.shape == (2, 3) and variables[1].value.tolist() == [0, 1, 2, 3]
    other = [_Variable((2, 3)), _Variable((5,))]
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_optimizer(other, tmp_path)
    assert str(err.value) == (f"{tmp_path / 'optimizer.npz'}: holds another optimizer's "
                              f"state ((4,) for (5,)). {checkpoint.FRESH}")
    assert other[0].value is None  # nothing assigned from a mismatched state


@pytest.mark.parametrize("damage, said", [
    ("missing", "damaged (FileNotFoundError)"),
    ("short", "damaged (BadZipFile)"),
    ("fewer", "damaged (KeyError)"),
    ("pickled", "damaged (ValueError)"),
])
def test_a_damaged_optimizer_state_names_its_file(tmp_path, damage, said):
    path = tmp_path / "optimizer.npz"
    if damage == "short":
        np.savez(path, v0=np.zeros(3))
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "fewer":
        np.savez(path, v0=np.zeros(3))
    elif damage == "pickled":
        np.savez(path, v0=np.array([{"a": 1}], dtype=object), v1=np.zeros(1))
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_optimizer([_Variable((3,)), _Variable((1,))], tmp_path)
    assert str(err.value) == f"{path}: {said}. {checkpoint.FRESH}"


def test_tidying_what_another_run_removes_meanwhile_goes_on(tmp_path, monkeypatch):
    """Two runs tidying one folder (a resumed run beside a killed one's last save): each
    stray may be gone by the time it is removed; tidy goes on and keeps the checkpoint."""
    import pathlib
    import shutil as real_shutil

    kept = _save(tmp_path, 3)
    (tmp_path / "checkpoint-2-deadbeef").mkdir()
    (tmp_path / ".checkpoint-4.abc.partial").mkdir()
    (tmp_path / ".checkpoint.abc.link").symlink_to(kept.name)
    (tmp_path / ".checkpoint.stray").write_text("")

    class Racing:  # removes each folder itself first, then asks for the removal asked
        def __getattr__(self, name):
            return getattr(real_shutil, name)

        @staticmethod
        def rmtree(path, *args, **kwargs):
            real_shutil.rmtree(path)
            return real_shutil.rmtree(path, *args, **kwargs)

    unlink = pathlib.Path.unlink

    def racing_unlink(self, *args, **kwargs):
        unlink(self)
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "shutil", Racing())
    monkeypatch.setattr(pathlib.Path, "unlink", racing_unlink)
    checkpoint.tidy(tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", kept.name]
