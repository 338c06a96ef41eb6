"""The per-user cache of things built once from installed files (the ONNX exports, dlib's
models in quickly loaded forms): $LIPREAD_CACHE_DIR/<kind>, else ~/.cache/lipread/<kind>
($XDG_CACHE_HOME honoured), else the temp folder's lipread-<uid>/<kind>. No project imports.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path


def roots() -> list[Path]:
    """The cache roots, first choice first."""
    explicit = os.environ.get("LIPREAD_CACHE_DIR")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    user = getattr(os, "getuid", lambda: "user")()
    return ([Path(explicit)] if explicit else []) + [
        base / "lipread", Path(tempfile.gettempdir()) / f"lipread-{user}"]


def folder(kind: str) -> Path:
    """The first writable one of the cache folders for `kind`, made if missing."""
    for root in roots():
        path = root / kind
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK):
                return path
        except OSError:
            continue
    raise OSError(f"no writable cache folder for {kind} (set LIPREAD_CACHE_DIR)")


def find(kind: str, name: str) -> Path | None:
    """`name` already built in any cache folder of `kind` (first choice first): what is
    named by its source's identity may be shared, e.g. the user's default cache read by a
    run whose LIPREAD_CACHE_DIR is a fresh folder."""
    for root in roots():
        if (root / kind / name).is_file():
            return root / kind / name
    return None


PREPARING = "preparing the reader once: "  # the start of the one line a first use writes


class _Line(threading.local):
    """This thread's line on stderr: open blocks, whether a build is running, its parts."""

    def __init__(self):
        self.depth, self.building, self.said, self.where = 0, False, False, []


_line = _Line()


@contextlib.contextmanager
def preparing(what: str | None = None, where: Path | None = None):
    """Around a build that reading makes on its first use (the ONNX export, dlib's models in
    their quick forms): every build inside the outermost block on one line of stderr, each
    part written as it starts and ends,

        preparing the reader once: exporting lipnet.weights.h5 to ONNX (0.4 s), converting
        dlib's landmark model ... to arrays (4.7 s); kept in /home/me/.cache/lipread

    `what` None: a block that only gathers the builds inside it (nothing is written when
    none runs); a build inside another build is part of it, not said again."""
    line = _line
    said = what is not None and not line.building
    if said:
        print(f"{', ' if line.said else PREPARING}{what}", end="", file=sys.stderr, flush=True)
        line.said, line.building = True, True
        if where is not None:
            line.where.append(str(where))
    line.depth += 1
    start, ended = time.perf_counter(), "failed"
    try:
        yield
        ended = f"{time.perf_counter() - start:.1f} s"
    finally:
        line.depth -= 1
        if said:
            line.building = False
            print(f" ({ended})", end="", file=sys.stderr, flush=True)
        if line.depth == 0 and line.said:
            kept = os.path.commonpath(line.where) if line.where else ""
            kept = ", ".join(dict.fromkeys(line.where)) if kept == os.sep else kept
            print(f"; kept in {kept}" if kept else "", file=sys.stderr, flush=True)
            line.said, line.where = False, []
