"""A run's checkpoint, written as one step: the weights, the optimizer state and the epoch
of the last finished epoch, consistent with each other whenever the run is killed.

    <run-dir>/checkpoint -> checkpoint-<epoch>-<id>/   last.weights.h5, optimizer.npz, state.json

Each epoch's three files are written into a fresh hidden folder and fsynced, the folder is
renamed to checkpoint-<epoch>-<id>, and the `checkpoint` link is swapped to it by one rename;
only then is the previous epoch's folder removed. A kill at any moment leaves `checkpoint`
naming one whole epoch. Damaged files give one line naming the file and what to do.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import numpy as np

LINK = "checkpoint"  # <run-dir>/checkpoint: the last whole epoch
WEIGHTS, OPTIMIZER, STATE = "last.weights.h5", "optimizer.npz", "state.json"
FRESH = "To start over: lipread train without --resume, into a new --run-dir."


class CheckpointError(ValueError):
    """A checkpoint that is missing or damaged."""


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, write) -> Path:
    """write(path), then the file forced to disk."""
    write(path)
    _fsync(path)
    return path


def weights(run_dir) -> Path | None:
    """The last whole epoch's weights file, or None."""
    folder = current(run_dir)
    return folder / WEIGHTS if folder is not None else None


def current(run_dir) -> Path | None:
    """The folder of the last whole epoch, or None when the run has none."""
    link = Path(run_dir) / LINK
    return link.resolve() if link.is_symlink() or link.is_dir() else None


def save(run_dir, epoch: int, state: dict, save_weights, optimizer_arrays: dict) -> Path:
    """Epoch `epoch`'s checkpoint, committed by one rename of the `checkpoint` link."""
    run_dir = Path(run_dir)
    work = run_dir / f".{LINK}-{epoch}.{uuid.uuid4().hex}.partial"
    work.mkdir()
    try:
        write_file(work / WEIGHTS, save_weights)
        write_file(work / OPTIMIZER, lambda p: np.savez(p, **optimizer_arrays))
        write_file(work / STATE, lambda p: p.write_text(json.dumps({**state, "epoch": epoch})))
        _fsync(work)
        folder = run_dir / f"{LINK}-{epoch}-{uuid.uuid4().hex[:8]}"  # never an old one's name
        os.rename(work, folder)
        link = run_dir / f".{LINK}.{uuid.uuid4().hex}.link"
        os.symlink(folder.name, link)
        os.replace(link, run_dir / LINK)
        _fsync(run_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tidy(run_dir)
    return folder


def tidy(run_dir) -> None:
    """Remove every checkpoint folder but the current one, and what killed saves left."""
    run_dir = Path(run_dir)
    keep = current(run_dir)
    for path in run_dir.glob(f"{LINK}-*"):
        if path.is_dir() and not path.is_symlink() and path.resolve() != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in run_dir.glob(f".{LINK}*"):
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def read_state(run_dir) -> tuple[Path, dict]:
    """(the checkpoint folder, its state.json); CheckpointError, naming the file, when
    there is none or it is damaged."""
    folder = current(run_dir)
    if folder is None or not folder.is_dir():
        raise CheckpointError(f"{Path(run_dir) / LINK}: nothing to resume in {run_dir} (no "
                              "finished epoch); start without --resume")
    path = folder / STATE
    try:
        state = json.loads(path.read_text())
        epoch = int(state["epoch"])
        float(state["best_val_chars_loss"])
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint. {FRESH}") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: damaged ({type(err).__name__}: "
                              f"{str(err).partition(chr(10))[0]}). {FRESH}") from None
    if epoch < 1:
        raise CheckpointError(f"{path}: damaged (epoch {epoch}). {FRESH}")
    return folder, state


def load_weights(model, folder: Path) -> None:
    path = folder / WEIGHTS
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as err:
        first = (str(err).strip().splitlines() or ["unreadable"])[0]
        raise CheckpointError(f"{path}: damaged or not this network's weights ({first}). "
                              f"{FRESH}") from None


def load_optimizer(variables, folder: Path) -> None:
    """Assign the saved optimizer arrays to `variables`, in order."""
    path = folder / OPTIMIZER
    try:
        with np.load(path) as saved:
            arrays = [saved[f"v{i}"] for i in range(len(variables))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: damaged ({type(err).__name__}). {FRESH}") from None
    for var, array in zip(variables, arrays):  # all checked before any is assigned
        if tuple(var.shape) != array.shape:
            raise CheckpointError(f"{path}: holds another optimizer's state ({array.shape} "
                                  f"for {tuple(var.shape)}). {FRESH}")
    for var, array in zip(variables, arrays):
        var.assign(array)
