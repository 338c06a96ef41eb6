"""The per-user cache of things built once from installed files (the ONNX exports, dlib's
models in quickly loaded forms): $LIPREAD_CACHE_DIR/<kind>, else ~/.cache/lipread/<kind>
($XDG_CACHE_HOME honoured), else the temp folder's lipread-<uid>/<kind>. No project imports.
"""
from __future__ import annotations

import os
import tempfile
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
