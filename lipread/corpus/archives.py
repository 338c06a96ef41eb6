"""Archives checked before anything is extracted: a whole zip with every member's CRC
right, its central directory held to caps (sizes, ratios, duplicates, overlaps), extraction
that stays inside its folder; and the locked work folders downloads land in. The errors of
every download live here: each message is the whole story, one line.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

from lipread.progress import megabytes

# What the archives may hold, from what they do hold, with margin: a GRID speaker's zip is
# ~1,000 MPEG clips of 0.3-1 MB (< 1 GB), the alignments zip ~34,000 files of ~250 bytes,
# the tutorial's data.zip ~1,000 clips and alignments, its checkpoints.zip ~100 MB of
# weights with Adam's slots. Anything over is refused before a byte is extracted.
MAX_MEMBER_BYTES = 250_000_000  # one member, uncompressed
MAX_TOTAL_BYTES = 4_000_000_000  # all members, uncompressed
MAX_MEMBERS = 100_000
MAX_RATIO = 100  # uncompressed over compressed: video ~1, alignments ~5, a zip bomb ~1000
RATIO_FROM_BYTES = 1_000_000  # members smaller than this may compress as well as they like
# The whole archive's ratio (many small members, each under RATIO_FROM_BYTES, add up): real
# archives are ~1 (video, weights) to ~5 (alignments).
MAX_TOTAL_RATIO = 20
DRIVE_HINT = ("Google Drive may have hit its daily download quota for this file: try "
              "again later, or download https://drive.google.com/uc?id={id} in a browser "
              "and pass it with --zip")


class DownloadError(Exception):
    """A failed download or a bad archive: its message is the whole story, one line."""
    exit_status = 1  # lipread.cli.common.EXIT_FAILED: a failure while running


class BadInput(DownloadError):
    """What the user gave is unusable (a --zip, a destination): exit status 2."""
    exit_status = 2  # lipread.cli.common.EXIT_BAD_INPUT


class Refused(BadInput):
    """An archive built to do harm (a zip bomb, overlapping or duplicate members): refused
    whoever handed it over, exit status 2."""


class Stopped(DownloadError):
    """The run was interrupted: a transfer stopped between two chunks, its .part kept."""


class Unreachable(DownloadError):
    """No answer from the server at all: offline, a wrong host, a closed port."""


# --- folders ----------------------------------------------------------------

def folders(tree: Path, depth: int = 3):
    """tree and the folders below it, shallowest first, skipping macOS litter."""
    level = [tree]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            yield d
            nxt += sorted(p for p in d.iterdir() if p.is_dir() and p.name != "__MACOSX")
        level = nxt


@contextlib.contextmanager
def workspace(parent: Path, prefix: str, dest: Path | None = None):
    """A fresh folder `<prefix>XXXXXXXX` in `parent` (beside the destination: renames out of
    it are atomic), locked while in use and removed afterwards. Folders of the same prefix
    that earlier runs left (killed before they could tidy: their lock is free) go first."""
    parent = Path(parent).absolute()
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise BadInput(f"{dest or parent}: {parent} {problem}")
    sweep(parent, prefix)
    try:
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as err:
        raise BadInput(f"{dest or parent}: cannot write in {parent} ({err.strerror})") from None
    try:
        with open(work / LOCK, "w") as lock:
            _flock(lock)
            yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


LOCK = ".lipread-lock"  # in a workspace: held by the run using it


def _flock(f) -> bool:
    """An exclusive lock on open file f, without waiting; False when another holds it."""
    try:
        import fcntl
    except ImportError:  # not on Windows: stale folders stay there
        return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def sweep(parent: Path, prefix: str) -> list[Path]:
    """Remove the `<prefix>*` folders in `parent` whose run is gone (their lock is free);
    a folder whose lock another run holds is left alone. Returns what was removed."""
    removed = []
    for folder in sorted(Path(parent).glob(f"{glob_escape(prefix)}*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            with open(folder / LOCK, "a") as lock:
                if not _flock(lock):
                    continue
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # no lock could be opened there: left alone
            continue
        if not folder.exists():
            removed.append(folder)
    return removed


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


# --- checking ---------------------------------------------------------------

def check_zip(path: Path, drive_id: str | None, url: str | None = None,
              hint: str | None = None, budget: int | None = None) -> None:
    """A whole zip archive, every member's CRC right; a clear word for what it is if not
    (`hint`: what to do when an HTML page came instead). `budget`: the most its members
    may unpack to, all together (what the archive should hold, with margin)."""
    size = path.stat().st_size
    if size == 0:
        raise DownloadError(f"{path.name}: the download is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(1024)
    sniff = head.lstrip().lower()
    if sniff.startswith(b"<!doctype html") or b"<html" in sniff[:256]:
        hint = hint or ("a quota, login or error page? Check the URL, or download the file "
                        "in a browser and pass it with --zip" if url
                        else DRIVE_HINT.format(id=drive_id))
        raise DownloadError(f"{path.name}: got an HTML page, not the zip; {hint}")
    if not zipfile.is_zipfile(path):
        kind = "truncated or corrupt zip" if head.startswith(b"PK") else "not a zip archive"
        raise DownloadError(f"{path.name}: {kind} ({size} bytes, starting {head[:8]!r})")
    try:
        with zipfile.ZipFile(path) as zf:
            check_members(path, zf, budget)
            bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DownloadError(f"{path.name}: corrupt zip ({err})") from None
    except Refused:
        raise
    except Exception as err:  # zlib.error and friends from a damaged member
        raise DownloadError(f"{path.name}: corrupt zip ({type(err).__name__}: {err})") from None
    if bad is not None:
        raise DownloadError(f"{path.name}: corrupt zip: {bad} fails its CRC check")


def _refuse(path: Path, what: str) -> Refused:
    return Refused(f"{path.name}: refused, nothing extracted: {what}; this is not the archive "
                   "it should be (check --url or --zip)")


def check_members(path: Path, zf: zipfile.ZipFile, budget: int | None = None) -> None:
    """The central directory against the caps above, before any member is decompressed:
    sizes, ratios (each member's, and the whole archive's), the total against `budget`,
    member count, duplicate names, and members whose bytes overlap (one stream listed
    many times: CVE-2024-0450, which this Python's zipfile predates)."""
    members = zf.infolist()
    if len(members) > MAX_MEMBERS:
        raise _refuse(path, f"{len(members):,} members, more than the {MAX_MEMBERS:,} allowed")
    cap = min(MAX_TOTAL_BYTES, budget or MAX_TOTAL_BYTES)
    seen, folders, total, packed = {}, set(), 0, 0
    for m in members:
        name = m.filename.rstrip("/")
        where = _landing(m.filename)  # where extraction puts it
        if where in seen:
            raise _refuse(path, f"{name!r} is in it twice")
        seen[where] = None if m.is_dir() else name
        folders.update(where[:i] for i in range(1, len(where)))
        if m.file_size > MAX_MEMBER_BYTES:
            raise _refuse(path, f"{name} would unpack to {megabytes(m.file_size)}, more than "
                                f"the {megabytes(MAX_MEMBER_BYTES)} one member may")
        if m.file_size > RATIO_FROM_BYTES and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise _refuse(path, f"{name} would unpack {m.file_size // max(m.compress_size, 1):,}"
                                f" times its size (a zip bomb; at most {MAX_RATIO}x)")
        total += m.file_size
        packed += m.compress_size
        if total > cap:
            raise _refuse(path, f"its members would unpack to more than {megabytes(cap)}"
                                + (", more than it should hold" if cap < MAX_TOTAL_BYTES
                                   else ""))
    clash = next((seen[w] for w in folders if seen.get(w)), None)
    if clash is not None:
        raise _refuse(path, f"member {clash!r} is a file where other members need a folder")
    if total > RATIO_FROM_BYTES and total > MAX_TOTAL_RATIO * max(packed, 1):
        raise _refuse(path, f"its {len(members):,} members would unpack to "
                            f"{megabytes(total)}, {total // max(packed, 1):,} times their "
                            f"size (a zip bomb; at most {MAX_TOTAL_RATIO}x)")
    spans = sorted((m.header_offset, _data_end(zf, m), m.filename) for m in members)
    for (_, end, name), (start, _, other) in zip(spans, spans[1:]):
        if end > start:
            raise _refuse(path, f"members {name} and {other} share bytes (an overlapping zip)")
    if spans and spans[-1][1] > zf.start_dir:
        raise _refuse(path, f"member {spans[-1][2]} runs into the central directory")


def _landing(name: str) -> tuple[str, ...]:
    """A member's path below the folder it is extracted into, as zipfile.extract lays it
    out (empty, '.' and '..' parts dropped)."""
    return tuple(part for part in name.split("/") if part not in ("", ".", ".."))


def _data_end(zf: zipfile.ZipFile, m: zipfile.ZipInfo) -> int:
    """Where member m's bytes end: its local header (read from the file: its name and extra
    fields may differ from the central directory's) plus its compressed data."""
    zf.fp.seek(m.header_offset)
    header = zf.fp.read(zipfile.sizeFileHeader)
    if len(header) < zipfile.sizeFileHeader or header[:4] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile(f"{m.filename}: no local header at offset {m.header_offset}")
    fields = struct.unpack(zipfile.structFileHeader, header)
    name_len = fields[zipfile._FH_FILENAME_LENGTH]
    extra_len = fields[zipfile._FH_EXTRA_FIELD_LENGTH]
    return m.header_offset + zipfile.sizeFileHeader + name_len + extra_len + m.compress_size


def extract(path: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(into)  # zipfile keeps members inside `into` (no '..', no '/')
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        raise DownloadError(f"{path.name}: corrupt zip ({err})") from None
