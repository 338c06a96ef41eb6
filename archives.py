"""Downloading an archive and checking it before anything is extracted: gdown from Google
Drive or any URL, a whole zip with every member's CRC right, extraction that stays inside
its folder. Every failure is one DownloadError whose message is the whole story.
"""
from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

TIMEOUT_S = 60  # to connect, and between two reads
DRIVE_HINT = ("Google Drive may have hit its daily download quota for this file: try "
              "again later, or download https://drive.google.com/uc?id={id} in a browser "
              "and pass it with --zip")

class DownloadError(Exception):
    """A failed download or a bad archive: its message is the whole story, one line."""
    exit_status = 1  # cliutil.EXIT_FAILED: a failure while running


class BadInput(DownloadError):
    """What the user gave is unusable (a --zip, a destination): exit status 2."""
    exit_status = 2  # cliutil.EXIT_BAD_INPUT


# --- fetching ---------------------------------------------------------------

def _short_reason(err: Exception) -> str:
    """'Connection refused' rather than three lines of urllib3's retry machinery."""
    text = str(err)
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"(Name or service not known)",
                    r"(Temporary failure in name resolution)", r"(Read timed out)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip().rstrip(".")
    return type(err).__name__


def fetch(target: Path, drive_id: str, url: str | None, timeout: float = TIMEOUT_S) -> None:
    """gdown, from Drive (or `url`), to `target`; every failure as one DownloadError."""
    import gdown
    import requests

    source = url or f"Google Drive (id {drive_id})"
    hint = DRIVE_HINT.format(id=drive_id)
    quiet = not sys.stderr.isatty()  # a progress bar for people, silence for logs
    try:
        if url:
            gdown.download(url=url, output=str(target), quiet=quiet, use_cookies=False,
                           timeout=timeout)
        else:
            gdown.download(id=drive_id, output=str(target), quiet=quiet, timeout=timeout)
    except requests.exceptions.HTTPError as err:
        status = err.response.status_code if err.response is not None else "an error"
        raise DownloadError(f"{source} answered HTTP {status}"
                            + ("" if url else f"; {hint}")) from None
    except requests.exceptions.Timeout as err:
        raise DownloadError(f"{source}: no answer within {timeout:g} s ({_short_reason(err)}): "
                            "offline, or the network is too slow") from None
    except requests.exceptions.ConnectionError as err:
        raise DownloadError(f"cannot reach {source}: {_short_reason(err)} (offline? behind a "
                            "proxy or firewall?)") from None
    except requests.exceptions.RequestException as err:
        raise DownloadError(f"downloading from {source} failed: {_short_reason(err)}") from None
    except gdown.exceptions.FileURLRetrievalError:
        raise DownloadError(f"Google Drive did not hand out file {drive_id}; {hint}") from None
    except gdown.exceptions.DownloadError as err:
        reason = " ".join(str(err).split()) or "the transfer broke off"
        raise DownloadError(f"downloading from {source} failed: {reason}") from None
    if not target.is_file():
        raise DownloadError(f"downloading from {source} produced no file")


# --- checking ---------------------------------------------------------------

def check_zip(path: Path, drive_id: str, url: str | None = None) -> None:
    """A whole zip archive, every member's CRC right; a clear word for what it is if not."""
    size = path.stat().st_size
    if size == 0:
        raise DownloadError(f"{path.name}: the download is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(1024)
    sniff = head.lstrip().lower()
    if sniff.startswith((b"<!doctype html", b"<html")) or b"<html" in sniff[:256]:
        hint = ("a quota, login or error page? Check the URL, or download the file in a "
                "browser and pass it with --zip" if url else DRIVE_HINT.format(id=drive_id))
        raise DownloadError(f"{path.name}: got an HTML page, not the zip; {hint}")
    if not zipfile.is_zipfile(path):
        kind = "truncated or corrupt zip" if head.startswith(b"PK") else "not a zip archive"
        raise DownloadError(f"{path.name}: {kind} ({size} bytes, starting {head[:8]!r})")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        raise DownloadError(f"{path.name}: corrupt zip ({err})") from None
    except Exception as err:  # zlib.error and friends from a damaged member
        raise DownloadError(f"{path.name}: corrupt zip ({type(err).__name__}: {err})") from None
    if bad is not None:
        raise DownloadError(f"{path.name}: corrupt zip: {bad} fails its CRC check")


def extract(path: Path, into: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(into)  # zipfile keeps members inside `into` (no '..', no '/')
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        raise DownloadError(f"{path.name}: corrupt zip ({err})") from None
