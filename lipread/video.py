"""A video file to the network's input: decoded at 25 frames a second whatever its size
and frame rate, the mouth cut out (face landmarks, or the tutorial's fixed window of a GRID
frame), normalised. `load_video` is the one entry point; `read_mouth` keeps how the mouth
was found too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipread import budget as budgets
from lipread import formats, mouth
# The clip's figures, the video files' names and VideoError are constants.py's, named here too
from lipread.constants import CROP_H, CROP_W, FPS, N_FRAMES, VideoError
from lipread.constants import INPUT_SHAPE as INPUT_SHAPE
from lipread.constants import VIDEO_EXTS as VIDEO_EXTS

# FFmpeg's decoder chatter on damaged video ("invalid cbp", "ac-tex damaged") would bury
# the one-line error a bad file gets; OpenCV reads this once, at the first VideoCapture.
# Set OPENCV_FFMPEG_LOGLEVEL=24 to see FFmpeg's warnings again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# Only local files, only the video demuxers of formats.py (not setdefault: not weakened).
os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = formats.FFMPEG_CAPTURE_OPTIONS
# OpenCV's own warnings ("[ WARN:0@0.007] global cap.cpp:212 open VIDEOIO(FFMPEG): ...",
# for a file FFmpeg will not open) likewise: errors only, unless OPENCV_LOG_LEVEL says.
QUIET_OPENCV = "OPENCV_LOG_LEVEL" not in os.environ

# Frame sizes: GRID's 360x288 up to a phone's 4K. Larger frames are refused before decoding
# (an 8K frame costs ~100 MB, a 3 s clip GBs); frames over READ_SIZE are shrunk as decoded.
MAX_SIZE = (3840, 2160)  # 4K UHD, either way round
MAX_PIXELS = MAX_SIZE[0] * MAX_SIZE[1]
READ_SIZE = (1920, 1080)  # ample for the mouth: the crop is 140x46 pixels
# Frames up to this size decode in one thread: GRID's 360x288 MPEG-1 in less time and half
# the CPU of FFmpeg's threads (the other core finds the face meanwhile); larger, in threads.
ONE_THREAD_PIXELS = 640 * 480


MIN_FRAMES = 50  # 2 s: shorter clips are too cut to hold a GRID sentence
MOUTH_ROWS = (190, 236)  # the tutorial's crop of the 288-row frame: 46 rows
MOUTH_COLS = (80, 220)  # ... and of the 360 columns: 140 columns
assert (CROP_H, CROP_W) == (MOUTH_ROWS[1] - MOUTH_ROWS[0], MOUTH_COLS[1] - MOUTH_COLS[0])
CROP_HELP = {"landmarks": "the mouth found by dlib's 68 face landmarks, in any framing",
             "fixed": "the tutorial's window (rows 190-236, columns 80-220 of a GRID frame)"}
CROPS = tuple(CROP_HELP)  # how the mouth is found
DEFAULT_CROP = "landmarks"


@dataclass
class Clip:
    """A video's first seconds, resampled to 25 fps: what the network reads."""
    frames: np.ndarray  # (T, H, W) uint8 grayscale, T <= 75
    fps: float  # the file's own frame rate
    duration: float  # the whole video's length in seconds (0: the file doesn't say, and it
    # goes on past what was read)
    start: float  # where the frames begin, in seconds


def _frame_size(cap, path) -> tuple[int, int]:
    """(width, height) of the stream, from its header, before any frame is kept; a frame
    over MAX_PIXELS is refused here, before it can cost gigabytes."""
    import cv2

    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > MAX_PIXELS:
        raise VideoError(f"{path}: frames of {width}x{height} are larger than the "
                         f"{MAX_SIZE[0]}x{MAX_SIZE[1]} this reads (decoding them would take "
                         "gigabytes): scale the video down, e.g. to 1280 pixels wide")
    return width, height


def _open(source: str, path, threads: int | None = None):
    """An opened cv2.VideoCapture of `source` (decoding in `threads`, None: FFmpeg's choice)
    and its frame size (width, height), checked."""
    import cv2

    params = [] if threads is None else [cv2.CAP_PROP_N_THREADS, threads]
    cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: not a video OpenCV can decode "
                             "(corrupt, or not a video at all)")
        return cap, _frame_size(cap, path)
    except BaseException:
        cap.release()
        raise


def _gray(frame: np.ndarray, path) -> np.ndarray:
    """A decoded frame in grayscale, shrunk to fit READ_SIZE either way round (its aspect
    kept)."""
    import cv2

    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    height, width = gray.shape
    if width * height > MAX_PIXELS:  # a stream that grows past what its header said
        raise VideoError(f"{path}: a frame of {width}x{height} is larger than the "
                         f"{MAX_SIZE[0]}x{MAX_SIZE[1]} this reads: scale the video down")
    shrink = min(READ_SIZE[0] / max(width, height), READ_SIZE[1] / min(width, height))
    if shrink < 1.0:
        gray = cv2.resize(gray, (round(width * shrink), round(height * shrink)),
                          interpolation=cv2.INTER_AREA)
    return gray


def read_clip(path, start: float = 0.0, seconds: float = N_FRAMES / FPS, ready=None,
              into=None) -> Clip:
    """Decode `seconds` of a video from `start`, resampled to 25 fps by the frames' timestamps.

    Any frame rate: each 25 fps instant takes the frame shown at that moment, so a 30 or
    50 fps video gives the same 75 frames as its 25 fps original. Only a video container
    this reads is opened (formats.py); at most one frame per 25 fps instant is kept while
    decoding, so memory is bounded whatever the file's frame rate or length. `ready`, if
    given, is called with the list of the instants' frames that are final so far, as they
    grow (a later frame can no longer be nearer to them), for a reader that starts early;
    `into`, if given, is called with the frames' (instants, H, W) shape and returns the
    uint8 array to decode into (the clip's frames are then a view of it).
    """
    path = Path(path)
    if start < 0:
        raise VideoError(f"{path}: the start time must be 0 or more, not {start}")
    try:
        with formats.opened(path) as (_, source):
            return _decode(path, source, start, seconds, ready, into)
    except formats.FormatError as err:
        raise VideoError(str(err)) from None


def _decode(path: Path, source: str, start: float, seconds: float, ready, into) -> Clip:
    """read_clip's decoding of the checked file `source` (messages name `path`)."""
    import cv2

    if QUIET_OPENCV:  # (the variable is read once, maybe before this module was imported)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    cap, size = _open(source, path, threads=1)
    if size[0] * size[1] > ONE_THREAD_PIXELS:  # opened again, to decode in FFmpeg's threads
        cap.release()
        cap, size = _open(source, path)
    try:
        budget = budgets.Budget(path, *size)  # what one reading decodes
        fps = cap.get(cv2.CAP_PROP_FPS)  # 0.0 when the file does not say
        fps = fps if 1.0 <= fps <= 1000.0 else float(FPS)
        budget.check_rate(fps, seconds)
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)  # 0 or -1 when the file does not say
        duration = count / fps if count > 0 else 0.0
        if start > 0 and budget.check_seek(source, start, seconds, fps):
            cap.set(cv2.CAP_PROP_POS_MSEC, start * 1000.0)  # (else: read up to it, counted)
        wanted = start + np.arange(round(seconds * FPS)) / FPS
        # Each 25 fps instant's nearest frame so far (an earlier frame wins a tie): a frame
        # can only be nearest to instants after the frame before it.
        kept, best = None, np.full(len(wanted), np.inf)  # kept: (instants, H, W) when known
        # Instants whose nearest frame so far is the last one converted (`gray`), still after
        # it: written once a later frame proves no nearer, not on every frame that comes.
        pending = np.zeros(len(wanted), bool)
        last, goes_on = None, False
        end = start + seconds + 1.0 / fps
        size = np.empty((int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))), np.uint8)  # until a frame
        while cap.grab():  # decoded, but not yet converted to an image
            stamp = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if last is not None and not stamp > last:  # no usable timestamps: count frames
                stamp = last + 1.0 / fps
            if stamp > end:
                budget.spend(size)
                goes_on = True
                break
            distance = np.round(np.abs(wanted - stamp), 6)  # in µs: a tie is a tie
            candidate = (wanted > (-np.inf if last is None else last)) & (distance < best)
            # Converted only if it may be an instant's frame: within half a frame of one
            # (the next frame would be nearer to the rest), or the first after an instant.
            half = 0.5 * max(1.0 / fps, 0.0 if last is None else stamp - last) + 1e-6
            if stamp < start - 1.0 / fps or not (candidate & ((distance <= half) | (
                    (best == np.inf) & (wanted <= stamp)))).any():
                budget.spend(size)
                if stamp >= start - 1.0 / fps:
                    last = stamp
                continue
            ok, frame = cap.retrieve()
            if not ok:
                break
            budget.spend(frame)
            if pending.any():  # the last frame stays nearest where this one is not nearer
                kept[pending & ~candidate] = gray
            size, gray = frame, _gray(frame, path)
            if kept is None:  # filled as decoded: no copy of the whole clip at the end
                shape = (len(wanted), *gray.shape)
                kept = np.empty(shape, np.uint8) if into is None else into(shape)
            elif gray.shape != kept.shape[1:]:
                raise VideoError(f"{path}: its frames change size mid-stream: re-encode it "
                                 "(e.g. ffmpeg -i in.mp4 out.mp4)")
            best[candidate] = distance[candidate]
            kept[candidate & (wanted <= stamp)] = gray  # no later frame can be nearer
            pending = candidate & (wanted > stamp)
            last = stamp
            if ready is not None:  # the instants up to this frame: no later one is nearer
                ready(kept[:int(np.searchsorted(wanted, stamp, side="right"))])
    finally:
        cap.release()
    if last is None:
        if start > 0 and (not duration or start >= duration):  # (0: the file does not say)
            length = f"the video is {duration:.1f} s long; " if duration else ""
            raise VideoError(f"{path}: {length}nothing from {start:g} s on")
        raise VideoError(f"{path}: no frame could be decoded (corrupt or not a video)")
    n = int(np.count_nonzero(wanted <= last + 0.5 / fps + 1e-6))
    pending[n:] = False  # (instants after the clip's end are cut)
    if pending.any():
        kept[pending] = gray
    if kept is None or np.isinf(best[:n]).any():  # (every instant read has its frame)
        raise VideoError(f"{path}: no frame could be decoded (corrupt or not a video)")
    if duration or not goes_on:  # (unsaid and going on: 0) a header's length may be short
        duration = max(duration, last + 1.0 / fps)
    return Clip(kept[:n], fps, duration, start)


@dataclass
class MouthClip:
    """The network's view of a video: the mouth crops and how they were found."""
    crops: np.ndarray  # (75, 46 + 2 margin, 140 + 2 margin) uint8
    clip: Clip
    track: mouth.MouthTrack | None  # None for the fixed window




def crop_mouth(frames: np.ndarray, margin: int = 0) -> np.ndarray:
    """The mouth region of GRID-framed (T, 288, 360) frames, widened by `margin` pixels."""
    top, bottom = MOUTH_ROWS[0] - margin, MOUTH_ROWS[1] + margin
    left, right = MOUTH_COLS[0] - margin, MOUTH_COLS[1] + margin
    return frames[:, top:bottom, left:right]


def fit_length(frames: np.ndarray, n: int = N_FRAMES) -> np.ndarray:
    """Trim to n frames, or pad by repeating the last frame (GRID has 74-frame clips)."""
    if len(frames) >= n:
        return frames[:n]
    pad = np.repeat(frames[-1:], n - len(frames), axis=0)
    return np.concatenate([frames, pad])


def read_mouth(path, crop: str = DEFAULT_CROP, margin: int = 0, start: float = 0.0) -> MouthClip:
    """A video to its mouth crops: 3 s from `start`, the mouth found by face landmarks
    (crop="landmarks") or cut with the tutorial's fixed window (crop="fixed")."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    return cut_mouth(read_clip(path, start), crop, margin, path)


def cut_mouth(clip: Clip, crop: str = DEFAULT_CROP, margin: int = 0, path="video",
              track=None) -> MouthClip:
    """The mouth crops of a decoded clip (raises VideoError, naming `path`); `track`: the
    landmark crop's mouth.locate of its frames, or its FaceError, when already made."""
    frames = clip.frames
    if len(frames) < MIN_FRAMES:
        raise VideoError(
            f"{path}: only {len(frames)} frames (at {FPS} fps) could be read from "
            f"{clip.start:g} s on; need at least {MIN_FRAMES} ({MIN_FRAMES / FPS:.0f} s): "
            "truncated or too short")
    if crop == "fixed":
        height, width = frames.shape[1:]
        need_h, need_w = MOUTH_ROWS[1] + margin, MOUTH_COLS[1] + margin
        if height < need_h or width < need_w:
            raise VideoError(
                f"{path}: frames are {width}x{height}; the fixed mouth window needs at least "
                f"{need_w}x{need_h} (GRID framing is 360x288): use the landmark crop")
        return MouthClip(fit_length(crop_mouth(frames, margin)), clip, None)
    if isinstance(track, mouth.FaceError):  # found while decoding (pipeline.look)
        raise VideoError(f"{path}: {track}")
    try:
        track = track or mouth.locate(frames)
    except mouth.FaceError as err:
        raise VideoError(f"{path}: {err}") from None
    return MouthClip(fit_length(mouth.crop(frames, track, margin)), clip, track)


def notices(view: MouthClip) -> list[str]:
    """What a reader should know about how a video was read: nothing, for a GRID clip."""
    said, clip, track = [], view.clip, view.track
    end = clip.start + N_FRAMES / FPS
    if not clip.duration:
        said.append(f"the video goes on past {end:g} s; read {clip.start:g}-{end:g} s "
                    f"(the network reads {N_FRAMES / FPS:g} s)")
    elif clip.duration > end + 0.5 / FPS or clip.start > 0:
        said.append(f"the video is {clip.duration:.1f} s long; read {clip.start:g}-"
                    f"{min(end, clip.duration):g} s (the network reads {N_FRAMES / FPS:g} s)")
    if track is not None and track.faces > 1:
        said.append(f"{track.faces} faces found; the largest one is read")
    if track is not None and track.lost:
        said.append(f"no face found on {track.lost} of {len(clip.frames)} frames; the nearest "
                    "landmarks were used there")
    return said




def normalize(frames: np.ndarray) -> np.ndarray:
    """Per-clip mean/std normalisation to float32 (T, H, W, 1), as the tutorial does."""
    x = frames.astype(np.float32)
    std = x.std()
    x = (x - x.mean()) / (std if std > 1e-6 else 1.0)
    return x[..., None]


def load_video(path, crop: str = DEFAULT_CROP, start: float = 0.0) -> np.ndarray:
    """A video file to the network's input: float32 (75, 46, 140, 1)."""
    return normalize(read_mouth(path, crop, start=start).crops)
