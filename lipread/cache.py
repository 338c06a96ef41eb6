"""The per-user cache of things built once from installed files (the ONNX exports, dlib's
models in quickly loaded forms): $LIPREAD_CACHE_DIR/<kind>, else ~/.cache/lipread/<kind>
($XDG_CACHE_HOME honoured), else the temp folder's lipread-<uid>/<kind>. No project imports.

The temp folder is shared with every local user, who may make lipread-<uid> first and put
a network of theirs in it: that root is used only when it is this user's own folder (not
a link), mode 0700, and so is everything found in it; else it is passed over.
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path


def _uid():
    return getattr(os, "getuid", lambda: None)()  # None: no owners to check (Windows)


def temp_root() -> Path:
    return Path(tempfile.gettempdir()) / f"lipread-{_uid() if _uid() is not None else 'user'}"


def roots() -> list[Path]:
    """The cache roots, first choice first."""
    explicit = os.environ.get("LIPREAD_CACHE_DIR")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return ([Path(explicit)] if explicit else []) + [base / "lipread", temp_root()]


def _own(path: Path, kind: int) -> bool:
    """`path` is this user's, of `kind` (stat.S_IFDIR, S_IFREG), not a link to one."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_IFMT(st.st_mode) == kind and (_uid() is None or st.st_uid == _uid())


def private(root: Path) -> str | None:
    """None when `root` may be used: any root but the temp one; the temp one when it is
    this user's own folder, mode 0700 (made if missing; made 0700 when it is ours and no
    one else could write in it). Else why not."""
    if root != temp_root() or _uid() is None:
        return None
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        return f"{root}: {err.strerror}"
    if not _own(root, stat.S_IFDIR):
        return f"{root} is not this user's own folder"
    mode = os.lstat(root).st_mode
    if mode & 0o022:
        return f"{root} is writable by others (mode {stat.S_IMODE(mode):o}, not 700)"
    if mode & 0o077:
        os.chmod(root, 0o700)
    return None


def _trusted(root: Path, path: Path, kind: int) -> bool:
    """`path` (in `root`) may be read: in the temp root, only what is this user's own."""
    return root != temp_root() or _uid() is None or _own(path, kind)


def folder(kind: str) -> Path:
    """The first writable one of the cache folders for `kind`, made if missing."""
    passed = []
    for root in roots():
        path = root / kind
        why = private(root)
        if why:
            passed.append(why)
            continue
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK) and _trusted(root, path, stat.S_IFDIR):
                return path
        except OSError:
            continue
    raise OSError(f"no writable cache folder for {kind} (set LIPREAD_CACHE_DIR)"
                  + "".join(f"; {why}: not used" for why in passed))


def find(kind: str, name: str) -> Path | None:
    """`name` already built in any cache folder of `kind` (first choice first): what is
    named by its source's identity may be shared, e.g. the user's default cache read by a
    run whose LIPREAD_CACHE_DIR is a fresh folder."""
    for root in roots():
        path = root / kind / name
        if root == temp_root() and (not os.path.lexists(root) or private(root)
                                    or not _trusted(root, root / kind, stat.S_IFDIR)):
            continue  # none there (none made for a look), or not this user's alone
        if path.is_file() and _trusted(root, path, stat.S_IFREG):
            return path
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
