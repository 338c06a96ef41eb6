"""The app's non-UI helpers: browser video, the mouth-crop GIF, the probability
picture, the landmark picture and the word diff. No Streamlit here.

Loading, decoding, error rates and the network live in utils.py, decoding.py,
transcribe.py and modelutil.py; this module only turns their results into media.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from utils import BLANK_ID, FPS, ID_TO_CHAR, VIDEO_EXTS

CONVERT_TIMEOUT_S = 180  # a stuck ffmpeg is killed after this
MAX_VIDEO_SECONDS = 60  # the browser copy of a long upload keeps its first minute


class ConversionError(RuntimeError):
    """ffmpeg could not make a browser-playable copy of a video."""


# --- content and files ------------------------------------------------------

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
    """The bytes in a fresh, uniquely named temp file, removed afterwards."""
    f = tempfile.NamedTemporaryFile(prefix="lipread-upload-", suffix=suffix, delete=False)
    try:
        with f:
            f.write(data)
        yield Path(f.name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(f.name)


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
    raise ConversionError("no writable cache folder for converted videos")


# --- timing -------------------------------------------------------------------

class Stopwatch:
    """One run's seconds per step, and when the run reached its milestones."""

    def __init__(self):
        self.start = time.perf_counter()
        self.steps: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self.notes: list[str] = []

    @contextlib.contextmanager
    def step(self, name: str):
        begun = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = self.steps.get(name, 0.0) + time.perf_counter() - begun

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter() - self.start

    def note(self, text: str) -> None:
        self.notes.append(text)

    def summary(self) -> str:
        return " · ".join([f"{k} {v:.2f} s" for k, v in self.steps.items()]
                          + [f"{k} after {v:.2f} s" for k, v in self.marks.items()]
                          + self.notes)


def file_stamp(path) -> tuple | None:
    """(path, mtime, size): changes when the file is replaced; None if it is missing."""
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return (str(path), info.st_mtime_ns, info.st_size)


# --- browser video ----------------------------------------------------------

def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped in the imageio-ffmpeg wheel: no system ffmpeg needed."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def to_browser_mp4(src, digest: str) -> tuple[Path, bool]:
    """An H.264/AAC MP4 copy of `src` that browsers play, converted once per content.

    Returns (path, converted_now). The copy is named by the content's sha256 and
    written under a unique temp name first, then renamed: concurrent users never
    see a half-written file. Sound is kept where the source has some.
    """
    import ffmpeg  # ffmpeg-python: builds the argument list, runs it without a shell

    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("digest must be a sha256 hex string")
    folder = cache_dir()
    target = folder / f"{digest}.mp4"
    if target.is_file() and target.stat().st_size > 0:
        return target, False
    partial = folder / f".{digest}.{uuid.uuid4().hex}.part.mp4"
    source = ffmpeg.input(str(src), t=MAX_VIDEO_SECONDS)
    stream = ffmpeg.output(
        source["v:0"], str(partial), **{"map": "0:a:0?"},  # the audio, if any
        vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=23,
        vf="scale=trunc(iw/2)*2:trunc(ih/2)*2",  # yuv420p needs even sizes
        acodec="aac", audio_bitrate="128k", movflags="+faststart", format="mp4",
    ).global_args("-nostdin", "-hide_banner", "-loglevel", "error", "-y")
    process = stream.run_async(cmd=ffmpeg_exe(), pipe_stdout=True, pipe_stderr=True)
    try:
        _, err = process.communicate(timeout=CONVERT_TIMEOUT_S)
        if process.returncode != 0 or not partial.is_file():
            lines = err.decode(errors="replace").strip().splitlines()
            raise ConversionError("ffmpeg could not convert the video: "
                                  + (lines[-1] if lines else f"exit {process.returncode}"))
        os.replace(partial, target)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise ConversionError(f"ffmpeg took over {CONVERT_TIMEOUT_S} s; gave up") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return target, True


# --- what the network sees ----------------------------------------------------

def gif_bytes(frames: np.ndarray, fps: int = FPS) -> bytes:
    """A looping GIF of uint8 grayscale frames (T, H, W), one GIF frame each."""
    import imageio.v3 as iio

    frames = np.asarray(frames, dtype=np.uint8)
    return iio.imwrite("<bytes>", frames, extension=".gif",
                       duration=round(1000 / fps), loop=0)


def class_label(class_id: int) -> str:
    if class_id == BLANK_ID:
        return "blank"
    if class_id == 0:
        return "(none)"
    return "space" if ID_TO_CHAR[class_id] == " " else ID_TO_CHAR[class_id]


def token_chars(tokens) -> str:
    """The raw per-frame tokens as one character each: '_' blank, '·' space."""
    return "".join("_" if t == BLANK_ID else "·" if ID_TO_CHAR[t] == " " else
                   (ID_TO_CHAR[t] or "?") for t in map(int, tokens))


def probability_rows(probs: np.ndarray, floor: float = 0.02) -> list[dict]:
    """Long-format (frame, class, p) rows for the classes that ever reach `floor`."""
    probs = np.asarray(probs, dtype=np.float32)
    keep = [c for c in range(probs.shape[1]) if probs[:, c].max() >= floor]
    return [{"frame": t, "second": round(t / FPS, 2), "order": c,
             "token": class_label(c), "p": round(float(probs[t, c]), 4)}
            for c in keep for t in range(probs.shape[0])]


def probability_chart(probs: np.ndarray) -> tuple:
    """A Vega-Lite heatmap (data, spec): frames across, tokens down, colour = probability.

    A plain spec rather than an Altair object: Altair validates every inline row
    against its schema, which costs about a second per clip here.
    """
    import pandas as pd

    data = pd.DataFrame(probability_rows(probs))
    order = [class_label(c) for c in sorted(set(data["order"]))] if len(data) else []
    spec = {
        "mark": {"type": "rect", "tooltip": True},
        "height": max(120, 16 * len(order)),
        "encoding": {
            "x": {"field": "frame", "type": "ordinal", "title": "frame (25 per second)",
                  "axis": {"values": list(range(0, len(probs), 5)), "labelAngle": 0}},
            # Every token labelled: by default Vega drops every other label when rows are tight.
            "y": {"field": "token", "type": "nominal", "sort": order, "title": None,
                  "axis": {"labelOverlap": False}},
            "color": {"field": "p", "type": "quantitative", "title": "probability",
                      "scale": {"domain": [0, 1], "scheme": "viridis"}},
            "tooltip": [{"field": "frame", "type": "ordinal"},
                        {"field": "second", "type": "quantitative"},
                        {"field": "token", "type": "nominal"},
                        {"field": "p", "type": "quantitative", "format": ".3f"}],
        },
    }
    return data, spec


def landmark_picture(frames: np.ndarray, track, max_width: int = 480) -> np.ndarray:
    """RGB frame of the first detection: the face box (green), the crop's outline (yellow)
    and the 20 lip points (red), shrunk to `max_width` for the page."""
    import cv2

    from mouth import CROP_H, CROP_W

    t = track.box_frame
    rgb = cv2.cvtColor(np.ascontiguousarray(frames[t]), cv2.COLOR_GRAY2RGB)
    shrink = min(1.0, max_width / rgb.shape[1])
    if shrink < 1.0:
        rgb = cv2.resize(rgb, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    thick = max(1, round(rgb.shape[1] / 240))
    left, top, right, bottom = (round(v * shrink) for v in track.face_box)
    cv2.rectangle(rgb, (left, top), (right, bottom), (0, 200, 0), thick)
    back = cv2.invertAffineTransform(track.transforms[t].astype(np.float64))
    corners = np.array([[0, 0], [CROP_W, 0], [CROP_W, CROP_H], [0, CROP_H]], np.float64)
    outline = (corners @ back[:, :2].T + back[:, 2]) * shrink
    cv2.polylines(rgb, [np.round(outline).astype(np.int32)], True, (255, 200, 0), thick)
    for x, y in track.mouth_points[t] * shrink:
        cv2.circle(rgb, (round(float(x)), round(float(y))), thick + 1, (255, 40, 40), -1)
    return rgb


def window_picture(frames: np.ndarray, max_width: int = 480) -> np.ndarray:
    """RGB first frame with the tutorial's fixed window outlined (yellow)."""
    import cv2

    from utils import MOUTH_COLS, MOUTH_ROWS

    rgb = cv2.cvtColor(np.ascontiguousarray(frames[0]), cv2.COLOR_GRAY2RGB)
    cv2.rectangle(rgb, (MOUTH_COLS[0], MOUTH_ROWS[0]), (MOUTH_COLS[1], MOUTH_ROWS[1]),
                  (255, 200, 0), 1)
    shrink = min(1.0, max_width / rgb.shape[1])
    return rgb if shrink == 1.0 else cv2.resize(rgb, None, fx=shrink, fy=shrink,
                                                interpolation=cv2.INTER_AREA)


# --- truth against prediction --------------------------------------------------

def word_diff(truth: str, predicted: str) -> tuple[list, list]:
    """Each side's words as (word, matched) pairs: False marks a word that differs."""
    ref, hyp = truth.split(), predicted.split()
    ref_ok, hyp_ok = [False] * len(ref), [False] * len(hyp)
    for block in difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            ref_ok[block.a + k] = hyp_ok[block.b + k] = True
    return list(zip(ref, ref_ok)), list(zip(hyp, hyp_ok))
