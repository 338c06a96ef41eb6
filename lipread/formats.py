"""What a file is, from its first bytes: the video containers this project reads, and a
one-line reason for anything else, before FFmpeg sees it.

FFmpeg follows what some files say: an `ffconcat` list or an HLS playlist names other
files (or URLs) to read, and its safe mode still lets relative names through, so a
48-byte "video" could show another user's upload. So an untrusted file is opened only
when its first bytes are one of the containers below, and FFmpeg itself is held to
their demuxers and the file protocol (FFMPEG_CAPTURE_OPTIONS). No project imports.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

HEAD_BYTES = 64  # enough of a file's start to tell every kind below
# The containers read, by their signature: MPEG program and elementary streams (GRID's
# .mpg), MP4/MOV (phones; the first box's type), Matroska/WebM (browsers), AVI, Ogg, FLV,
# raw Y4M (test cameras).
MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
DEMUXERS = ("mpeg", "mpegvideo", "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm",
            "avi", "ogg", "flv", "yuv4mpegpipe")
# OpenCV's FFmpeg options ("key;value|key;value"), read at every VideoCapture: only local
# files, only the demuxers above (a playlist or concat list is refused by FFmpeg too).
FFMPEG_CAPTURE_OPTIONS = ("protocol_whitelist;file|format_whitelist;" + ",".join(DEMUXERS))
# What is refused by name, and why: files that point FFmpeg at other files or servers.
POINTERS = ((b"ffconcat", "an FFmpeg concat list (it names other files to read)"),
            (b"#EXTM3U", "an HLS playlist (it names other files or URLs to read)"),
            (b"#EXT-X-", "an HLS playlist (it names other files or URLs to read)"),
            (b"v=0", "an SDP session description (it points at network streams)"),
            (b"[playlist]", "a playlist (it names other files to read)"),
            (b"<?xml", "an XML file (DASH manifests name other files to read)"))
IMAGES = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
GIVE = "give a video file (mp4, mov, webm, mkv, avi, mpg) of at least 2 s"


class FormatError(ValueError):
    """A file that is not a video container this project reads: one line, the file, what
    it is and, once, what to do."""


def without_advice(message: str) -> str:
    """A message of this module less its advice (GIVE), for a caller that gives its own
    (the page's "Try another file: ..."): each error says what to do once."""
    for joint in ("; or ", ": ", "; "):
        if message.endswith(joint + GIVE):
            return message[: -len(joint + GIVE)]
    return message


def container(head: bytes) -> str | None:
    """The container a file's first bytes show, or None."""
    if head[:4] == b"\x00\x00\x01\xba":
        return "MPEG-PS"
    if head[:4] == b"\x00\x00\x01\xb3":
        return "MPEG-ES"
    if head[4:8] in MP4_BOXES:
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] == b"OggS":
        return "Ogg"
    if head[:3] == b"FLV":
        return "FLV"
    if head[:10] == b"YUV4MPEG2 ":
        return "Y4M"
    return None


def refusal(head: bytes) -> str:
    """Why a file whose first bytes are `head` is not read: one line, with what to do."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, what in POINTERS:
        if text.startswith(magic):
            return f"{what}, not a video: {GIVE}"
    for magic, what in IMAGES:
        if head.startswith(magic):
            return f"an image ({what}), not a video: {GIVE}"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return f"an image (WebP), not a video: {GIVE}"
    if head[:1] == b"\x47" and len(head) > 1:
        return f"an MPEG transport stream, which is not read: re-encode it as mp4; or {GIVE}"
    if head[:4] == b"\x00\x00\x00\x01" or head[:3] == b"\x00\x00\x01":
        return f"a raw video stream without a container, which is not read; {GIVE}"
    if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"a text file, not a video: {GIVE}"
    return f"not a video format this reads (MP4/MOV, WebM/Matroska, AVI, MPEG, Ogg, FLV); {GIVE}"


@contextlib.contextmanager
def opened(path):
    """The file at `path` held open and checked (a regular, non-empty file whose first
    bytes are a container this reads): yields (its container, the name FFmpeg should open).
    On Linux that name is /proc/self/fd/N, the very file checked, so a file swapped in
    between cannot be what is decoded. FormatError, naming the file and what to do, for a
    missing file, a folder, a pipe or device, an empty or unreadable file, or no video."""
    path = Path(path)
    try:
        path.stat()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except OSError as err:
        raise FormatError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise FormatError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FormatError(f"{path}: is a directory, not a video file")
        if not stat.S_ISREG(info.st_mode):
            raise FormatError(f"{path}: not a regular file (a pipe, socket or device): {GIVE}")
        if info.st_size == 0:
            raise FormatError(f"{path}: the file is empty")
        try:
            head = os.pread(fd, HEAD_BYTES, 0)
        except OSError as err:
            raise FormatError(f"{path}: cannot be read ({err.strerror})") from None
        kind = container(head)
        if kind is None:
            raise FormatError(f"{path}: {refusal(head)}")
        held = Path(f"/proc/self/fd/{fd}")
        yield kind, str(held if held.exists() else path)
    finally:
        os.close(fd)


def check_file(path) -> str:
    """The container of the regular, non-empty file `path` (see `opened`); reads its first
    HEAD_BYTES, never follows what it says."""
    with opened(path) as (kind, _):
        return kind
