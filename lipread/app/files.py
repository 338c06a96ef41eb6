"""The page's files: content digests, upload copies in private temp files, the per-user
cache folder, and a file's stamp (to notice it was replaced)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from lipread.video import VIDEO_EXTS

UPLOAD_PREFIX = "lipread-upload-"  # each upload's own temp folder
UPLOAD_STALE_S = 3600  # an upload is read in seconds: a folder this old was left by a kill


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_suffix(filename: str | None) -> str:
    """A known video extension for a temp file, taken from our list, never from the name."""
    ext = os.path.splitext(filename or "")[1].lower()
    return next((known for known in VIDEO_EXTS if known == ext), ".bin")


@contextlib.contextmanager
def temp_copy(data: bytes, suffix: str = ".bin"):
    """The bytes as `upload<suffix>` alone in a fresh private folder (mkdtemp: mode 0700,
    a unique name), removed with the folder afterwards: whatever the file names, there is
    nothing beside it to read."""
    sweep_uploads()
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
    try:
        path = folder / f"upload{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_uploads(max_age_s: float = UPLOAD_STALE_S) -> list[Path]:
    """Remove this user's upload folders that a killed server left in the temp folder."""
    removed, now = [], time.time()
    for folder in Path(tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}*"):
        with contextlib.suppress(OSError):
            info = folder.lstat()
            if (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
                    and now - info.st_mtime > max_age_s):
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


def cache_dir() -> Path:
    """Per-user cache for converted videos, outside the project:
    $LIPREAD_CACHE_DIR, else $XDG_CACHE_HOME or ~/.cache, then lipread/videos;
    the system temp folder when none of those can be written."""
    explicit = os.environ.get("LIPREAD_CACHE_DIR")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    user = getattr(os, "getuid", lambda: "user")()
    for folder in ([Path(explicit)] if explicit else []) + [
            base / "lipread" / "videos",
            Path(tempfile.gettempdir()) / f"lipread-{user}" / "videos"]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise OSError("no writable cache folder for converted videos")


def file_stamp(path) -> tuple | None:
    """(path, mtime, size): changes when the file is replaced; None if it is missing."""
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return (str(path), info.st_mtime_ns, info.st_size)
