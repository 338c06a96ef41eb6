"""Hostile servers, our own on 127.0.0.1: one that drips a byte at a
time, one that declares a length of 10^12, one that sends without end and no length.
Each transfer ends within its deadline, its rate floor or its size cap, with one line that
says what happened and what is kept.
"""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lipread.corpus import archives, transfer

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 10  # a fresh `python -m lipread` on a busy machine, before its transfer starts


class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        name = self.path.strip("/").split("?")[0]
        if name.startswith("headers"):  # a status line, then one header without end
            self._send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while self._send(b"a"):
                time.sleep(0.2)
            return
        self.send_response(200)
        if name.startswith("drip"):  # a byte every 0.2 s of a "1 kB" file
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self._send(b"P")
                time.sleep(0.2)
        elif name.startswith("trickle"):  # no length: a byte every 0.2 s, without end
            if "close" in name:
                self.send_header("Connection", "close")
            self.end_headers()
            while self._send(b"P"):
                time.sleep(0.2)
        elif name.startswith("stream"):  # no length: 11 kB/s, above the rate floor
            self.send_header("Connection", "close")
            self.end_headers()
            while self._send(bytes(1100)):
                time.sleep(0.1)
        elif name.startswith("huge"):  # says 10^12 bytes
            self.send_header("Content-Length", str(10 ** 12))
            self.end_headers()
            for _ in range(1000):
                self._send(bytes(1 << 16))
        else:  # no length, no end
            self.send_header("Connection", "close")
            self.end_headers()
            while self._send(bytes(1 << 16)):
                pass

    def _send(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client hung up: what it should do
            return False

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hostile():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def download(*args, timeout=120):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIPREAD_DATA_URL", "LIPREAD_GRID_URL", "LIPREAD_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "lipread", "download", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def one_line(proc, status) -> str:
    assert proc.returncode == status, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread download: error: "), proc.stderr
    return lines[0]


def test_a_dripping_server_is_cut_at_the_deadline(hostile, tmp_path):
    began = time.monotonic()
    proc = download("data", "--url", f"{hostile}/drip.zip", "--data-dir", tmp_path / "data",
                    "--deadline", 3)
    took = time.monotonic() - began
    line = one_line(proc, 1)
    assert "data.zip: not done after 3 s (--deadline)" in line
    assert "none of it kept: run again to start over" in line  # the work folder is gone
    assert list(tmp_path.iterdir()) == []
    assert took < 60  # within the test's own bound, far under the drip's 200 s


def test_a_dripping_grid_file_keeps_its_part_to_resume(hostile, tmp_path):
    dest = tmp_path / "grid"
    proc = download("grid", "--speakers", "s1", "--url", f"{hostile}/drip", "--data-dir",
                    dest, "--deadline", 3)
    line = one_line(proc, 1)
    part = dest / ".downloads" / "alignments.zip.part"
    assert "alignments.zip: not done after 3 s (--deadline)" in line
    assert f"are kept in {part}: run again to resume" in line
    assert part.is_file() and 0 < part.stat().st_size < 1000


@pytest.mark.parametrize("what, path", [
    ("data", "trickle.zip"), ("data", "trickle-close.zip"), ("data", "stream.zip"),
    ("data", "headers.zip"), ("grid", "trickle-close"), ("grid", "stream")])
def test_a_download_without_a_length_ends_at_its_deadline(hostile, tmp_path, what, path):
    """Whatever the server sends (no Content-Length, Connection: close, a stream fast
    enough for the rate floor, headers that never end), the deadline holds: the command
    ends within its deadline + 5 s, saying so."""
    extra = ("--speakers", "s1") if what == "grid" else ()
    began = time.monotonic()
    proc = download(what, *extra, "--url", f"{hostile}/{path}", "--data-dir",
                    tmp_path / "data", "--deadline", 3, timeout=60)
    took = time.monotonic() - began
    line = one_line(proc, 1)
    assert "not done after 3 s (--deadline)" in line
    assert took < 3 + 5 + STARTUP_S, f"ended after {took:.0f} s"


@pytest.mark.parametrize("path", ["trickle.zip", "trickle-close.zip", "headers.zip"])
def test_a_download_without_a_length_is_cut_at_the_minimum_rate(hostile, tmp_path, path):
    """Under the rate floor for its window, the transfer ends within the window + 5 s
    (waited for in a thread: a transfer that ignores it would hold the test forever)."""
    ended = {}

    def fetch():
        try:
            transfer.http_fetch(f"{hostile}/{path}", tmp_path / "slow.zip.part",
                                limits=transfer.Limits(min_rate_kbps=1, window_s=2))
        except archives.DownloadError as err:
            ended["error"] = str(err)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(2 + 5)
    assert not thread.is_alive(), "still downloading after the rate window + 5 s"
    assert "under 1 kB/s (--min-rate)" in ended["error"]


def test_a_declared_length_over_the_cap_is_refused_at_once(hostile, tmp_path):
    proc = download("data", "--url", f"{hostile}/huge.zip", "--data-dir", tmp_path / "data")
    line = one_line(proc, 2)
    assert "data.zip: the server says it is 1000.00 GB; it should be at most 1.00 GB" in line
    assert list(tmp_path.iterdir()) == []


def test_a_stream_without_end_stops_at_the_size_cap(hostile, tmp_path):
    part = tmp_path / "endless.zip.part"
    with pytest.raises(archives.BadInput) as caught:
        transfer.http_fetch(f"{hostile}/endless.zip", part,
                            limits=transfer.Limits(max_bytes=5_000_000))
    assert "the server sent over 5.0 MB, more than the file should hold" in str(caught.value)
    assert not part.exists()


def test_a_slow_server_is_cut_at_the_minimum_rate(hostile, tmp_path):
    part = tmp_path / "drip.zip.part"
    began = time.monotonic()
    with pytest.raises(archives.DownloadError) as caught:
        transfer.http_fetch(f"{hostile}/drip.zip", part,
                            limits=transfer.Limits(min_rate_kbps=1, window_s=2))
    assert time.monotonic() - began < 30
    said = str(caught.value)
    assert "under 1 kB/s (--min-rate)" in said and f"kept in {part}: run again" in said
    assert part.stat().st_size < 100  # a byte every 0.2 s for ~2.5 s


def test_the_google_drive_path_is_held_to_the_same_limits(hostile, tmp_path):
    """gdown (the Drive path) with the same watch: the dripping server cut at the deadline
    through gdown's own cancellation, a declared length over the cap refused."""
    began = time.monotonic()
    with pytest.raises(archives.DownloadError) as caught:
        transfer.fetch(tmp_path / "data.zip", "an-id", f"{hostile}/drip.zip",
                       limits=transfer.Limits(deadline_s=2))
    assert time.monotonic() - began < 30
    assert "stopped: not done after 2 s (--deadline)" in str(caught.value)
    with pytest.raises(archives.DownloadError) as caught:
        transfer.fetch(tmp_path / "data.zip", "an-id", f"{hostile}/huge.zip",
                       limits=transfer.Limits(max_bytes=1_000_000))
    assert "over 1.0 MB, more than the file should hold" in str(caught.value)
    assert not (tmp_path / "data.zip").exists()


@pytest.mark.parametrize("flag, value, said", [
    ("--deadline", "0", "argument --deadline: must be more than 0, not 0"),
    ("--deadline", "soon", "argument --deadline: not a number: 'soon'"),
    ("--min-rate", "-1", "argument --min-rate: must be 0 or more, not -1"),
])
def test_bad_limits_are_one_line_and_exit_2(tmp_path, flag, value, said):
    proc = download("data", "--data-dir", tmp_path / "data", flag, value)
    line = one_line(proc, 2)
    assert line.startswith(f"lipread download: error: {said}"), line
    assert list(tmp_path.iterdir()) == []
