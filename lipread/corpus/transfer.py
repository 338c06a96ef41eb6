"""Fetching a file: plain HTTP that resumes a broken transfer (a Range request), or gdown
from Google Drive; each held to Limits (a deadline, a minimum rate, a size cap from what
the file should hold) by a watch thread. Every failure is one DownloadError whose message
says what happened: how much arrived, whether the server answered, what is kept.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from lipread.corpus.archives import (
    DRIVE_HINT,
    BadInput,
    DownloadError,
    Stopped,
    Unreachable,
)
from lipread.corpus.watch import Watch, watched_session
from lipread.progress import Progress, megabytes

TIMEOUT_S = 60  # to connect, and between two reads
DEADLINE_S = 3 * 3600  # one file's whole transfer (GRID's largest zip is ~1 GB)
MIN_RATE_KBPS = 10  # kB a second, averaged over RATE_WINDOW_S: slower is a dripping server
RATE_WINDOW_S = 60


@dataclass(frozen=True)
class Limits:
    """How long and how slow one file's transfer may be, and how big the file (`max_bytes`:
    from what it should hold, with margin; None: no cap of its own)."""
    deadline_s: float = DEADLINE_S
    min_rate_kbps: float = MIN_RATE_KBPS
    max_bytes: int | None = None
    window_s: float = RATE_WINDOW_S

    def capped(self, max_bytes: int) -> "Limits":
        return replace(self, max_bytes=max_bytes)


def _short_reason(err: Exception) -> str:
    """'Connection refused' rather than three lines of urllib3's retry machinery."""
    text = str(err)
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"(Name or service not known)",
                    r"(Temporary failure in name resolution)", r"(Read timed out)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip().rstrip(".")
    return type(err).__name__


def fetch(target: Path, drive_id: str, url: str | None, timeout: float = TIMEOUT_S,
          limits: Limits = Limits()) -> None:
    """gdown, from Drive (or a Drive `url`), to `target`, held to `limits` (gdown's own
    cancellation, from a watch over its progress); every failure as one DownloadError."""
    import gdown
    import requests

    source = url or f"Google Drive (id {drive_id})"
    hint = DRIVE_HINT.format(id=drive_id)
    quiet = not sys.stderr.isatty()  # a progress bar for people, silence for logs
    cancel = threading.Event()
    watch = Watch(limits, cancel.set)

    def progress(have: int, total: int | None) -> None:
        watch.have = have
        if limits.max_bytes is not None and max(have, total or 0) > limits.max_bytes:
            watch.why = (f"it is over {megabytes(limits.max_bytes)}, more than the file "
                         "should hold")
            cancel.set()

    try:
        if url:
            gdown.download(url=url, output=str(target), quiet=quiet, use_cookies=False,
                           timeout=timeout, progress=progress, cancel=cancel)
        else:
            gdown.download(id=drive_id, output=str(target), quiet=quiet, timeout=timeout,
                           progress=progress, cancel=cancel)
    except gdown.exceptions.DownloadCancelled:
        raise DownloadError(f"downloading from {source} stopped: {watch.why}; "
                            f"{megabytes(watch.have)} had arrived, none of it kept: run again "
                            "to start over") from None
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
        # gdown's own advice (a .part to resume with its --continue) does not hold here:
        # the work folder goes when this run ends. Its first sentence says what happened.
        reason = str(err).strip().splitlines()[0].split(": received")[0].rstrip(".") if \
            str(err).strip() else "the transfer broke off"
        raise DownloadError(f"downloading from {source} failed after it answered ({reason}); "
                            "nothing was kept: run again to start over") from None
    finally:
        watch.stop()
    if not target.is_file():
        raise DownloadError(f"downloading from {source} produced no file")


def _total_of(content_range: str | None) -> int | None:
    """The whole file's size from 'bytes 100-199/5000' (or 'bytes */5000')."""
    m = re.search(r"/(\d+)\s*$", content_range or "")
    return int(m.group(1)) if m else None


def http_fetch(url: str, part: Path, timeout: float = TIMEOUT_S,
               progress: Progress | None = None,
               stop: threading.Event | None = None, limits: Limits = Limits(),
               resumable: bool = True) -> int:
    """`url` into `part`, continuing what `part` already holds with a Range request (a
    server that answers 200 instead of 206 sends it all again). Returns the size. A
    transfer that breaks off leaves `part` for the next run; `stop` ends it between
    chunks (Stopped); `limits` bound its time, its rate and its size. One run at a time per
    file: the .part is locked while written. `resumable`: whether the caller keeps the
    .part for the next run (the messages say so, or not)."""
    import requests
    import urllib3

    name = part.name.removesuffix(".part")
    part.parent.mkdir(parents=True, exist_ok=True)

    def kept(have: int) -> str:
        if not resumable or not have:
            return f"{megabytes(have)} had arrived, none of it kept: run again to start over"
        return f"the {megabytes(have)} received are kept in {part}: run again to resume"

    with open(part, "ab") as f:
        _lock(f, name)
        have = os.fstat(f.fileno()).st_size
        total, started, ok = None, False, False
        # Watched from the request on: a cut shuts every socket the session opened,
        # whatever the server sends (no length, Connection: close, headers without end).
        watch = Watch(limits)
        watch.have = have
        session = watched_session(watch)
        connect_s = min(timeout, limits.deadline_s)
        try:
            headers = {"Range": f"bytes={have}-"} if have else {}
            with session.get(url, headers=headers, stream=True,
                             timeout=(connect_s, timeout)) as r:
                started = True
                if r.status_code == 416 and have:  # nothing past the end: whole already?
                    if _total_of(r.headers.get("Content-Range")) == have:
                        return have
                    f.truncate(0)
                    raise DownloadError(f"{name}: the partial download does not match the "
                                        "server's file; it was removed: run again")
                if r.status_code == 404:
                    raise DownloadError(f"{name}: not found at {url} (HTTP 404)")
                if r.status_code >= 400:
                    raise DownloadError(f"{name}: {url} answered HTTP {r.status_code}")
                if r.status_code == 206 and have:
                    total = _total_of(r.headers.get("Content-Range"))
                else:  # 200: the whole file, from its first byte
                    have = 0
                    f.truncate(0)
                    length = r.headers.get("Content-Length", "")
                    total = int(length) if length.isdigit() else None
                if limits.max_bytes is not None and total is not None \
                        and total > limits.max_bytes:
                    raise BadInput(f"{name}: the server says it is {megabytes(total)}; it "
                                   f"should be at most {megabytes(limits.max_bytes)}: not the "
                                   f"file it should be (check --url); nothing was kept")
                if progress:
                    progress.begin(name, have, total)
                # read1: what has arrived, up to 64 kB, without waiting for the whole chunk,
                # so that a slow server's bytes land (and count) as they come.
                for chunk in iter(lambda: r.raw.read1(1 << 16, decode_content=True), b""):
                    if stop is not None and stop.is_set():
                        raise Stopped(f"{name}: stopped at {megabytes(have)}")
                    if watch.why:  # a server that keeps sending, past a limit
                        raise urllib3.exceptions.ProtocolError(watch.why)
                    f.write(chunk)
                    have += len(chunk)
                    watch.have = have
                    if limits.max_bytes is not None and have > limits.max_bytes:
                        raise BadInput(f"{name}: the server sent over "
                                       f"{megabytes(limits.max_bytes)}, more than the file "
                                       "should hold (check --url); nothing was kept")
                    if progress:
                        progress.update(name, len(chunk))
                if watch.why:  # cut: a stream without a length just ends
                    raise urllib3.exceptions.ProtocolError(watch.why)
                ok = total is None or have == total
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as err:
            reason = _short_reason(err)
            if watch.why:
                f.flush()
                raise DownloadError(f"{name}: {watch.why}; {kept(have)}") from None
            if not started and isinstance(err, requests.exceptions.Timeout):
                raise Unreachable(f"{url}: no answer within {connect_s:g} s ({reason}): "
                                  "check the network, or pass --url") from None
            if not started:
                raise Unreachable(f"cannot reach {url}: {reason} (offline? check the "
                                  "network, or pass --url)") from None
            raise DownloadError(f"{name}: the download broke off at {megabytes(have)} of "
                                f"{megabytes(total)} after the server answered ({reason}); "
                                f"{kept(have)}") from None
        except BadInput:
            f.truncate(0)
            raise
        finally:
            watch.stop()
            session.close()
            if progress and started:
                progress.end(name, ok)
            f.flush()
            if not ok and not os.fstat(f.fileno()).st_size:
                part.unlink(missing_ok=True)  # nothing to resume: no empty .part left
    if not ok:
        if have > total:
            part.unlink(missing_ok=True)
        raise DownloadError(f"{name}: got {megabytes(have)} of {megabytes(total)}; "
                            + (kept(have) if have < total else "more than the server said: "
                               "the partial file was removed; run again"))
    return have


def _lock(f, name: str) -> None:
    try:
        import fcntl
    except ImportError:  # not on Windows: one run at a time is up to the user there
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise DownloadError(f"{name}: another run is downloading it into {f.name}; wait for "
                            "it, or stop it") from None
