"""GRID data: the vocabulary, video and alignment loading, and where clips live.

Everything that turns files into arrays lives here, so that the app, the scripts,
the training pipeline and the tests read data the same way.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import mouth
from video import FPS, N_FRAMES, Clip, VideoError, read_clip  # noqa: F401 (utils' API)

# The LipNet tutorial's vocabulary, exactly. Id 0 is the empty out-of-vocabulary /
# padding token (StringLookup's oov_token=""), ids 1..39 the characters, and the
# network has one more class, the CTC blank, last.
VOCAB = list("abcdefghijklmnopqrstuvwxyz'?!123456789 ")
ID_TO_CHAR = [""] + VOCAB
CHAR_TO_ID = {c: i for i, c in enumerate(ID_TO_CHAR)}
PAD_ID = 0
BLANK_ID = len(ID_TO_CHAR)  # 40
NUM_CLASSES = BLANK_ID + 1  # 41

# GRID videos: 360x288 at 25 fps, 3 s per sentence; other videos are resampled to 25 fps.
MIN_FRAMES = 50  # 2 s: shorter clips are too cut to hold a GRID sentence
MOUTH_ROWS = (190, 236)  # the tutorial's crop of the 288-row frame: 46 rows
MOUTH_COLS = (80, 220)  # ... and of the 360 columns: 140 columns
CROP_H, CROP_W = mouth.CROP_H, mouth.CROP_W  # the landmark crop has the window's size
assert (CROP_H, CROP_W) == (MOUTH_ROWS[1] - MOUTH_ROWS[0], MOUTH_COLS[1] - MOUTH_COLS[0])
CROPS = ("landmarks", "fixed")  # face landmarks (default), or the tutorial's window
DEFAULT_CROP = "landmarks"
INPUT_SHAPE = (N_FRAMES, CROP_H, CROP_W, 1)

VIDEO_EXTS = (".mpg", ".mpeg", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# A clip name: a file stem (GRID's are like bbaf2n), of speaker s1 unless prefixed with
# its speaker's folder (s26/bbaf2n): the tutorial's one-speaker layout keeps its names.
CLIP_NAME = re.compile(r"(?:s[0-9]{1,2}/)?[A-Za-z0-9][A-Za-z0-9_.-]*")
SPEAKER_DIR = re.compile(r"s[0-9]{1,2}")  # GRID's speaker folders: s1 ... s34
SILENCE_TOKENS = {"sil", "sp"}  # silence and short pause: not spoken words
SPEAKER = "s1"
DEFAULT_DATA_DIR = "data"

# GRID grammar: every sentence is command color preposition letter digit adverb.
GRID_SLOTS = (
    ("bin", "lay", "place", "set"),
    ("blue", "green", "red", "white"),
    ("at", "by", "in", "with"),
    tuple("abcdefghijklmnopqrstuvxyz"),  # every letter but w
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    ("again", "now", "please", "soon"),
)
GRID_WORDS = sorted({w for slot in GRID_SLOTS for w in slot})


class AlignmentError(ValueError):
    """An alignment file that is missing or malformed."""


# --- vocabulary -------------------------------------------------------------

def text_to_ids(text: str) -> list[int]:
    """Characters to ids; characters outside the vocabulary map to 0 (the OOV id)."""
    return [CHAR_TO_ID.get(c, PAD_ID) for c in text.lower()]


def ids_to_text(ids) -> str:
    """Ids back to text; 0 (padding) and the blank become nothing."""
    return "".join(ID_TO_CHAR[i] for i in ids if 0 < int(i) < BLANK_ID)


def string_lookups():
    """The tutorial's paired Keras StringLookup layers, built from the same VOCAB."""
    import keras

    char_to_num = keras.layers.StringLookup(vocabulary=VOCAB, oov_token="")
    num_to_char = keras.layers.StringLookup(
        vocabulary=char_to_num.get_vocabulary(), oov_token="", invert=True)
    return char_to_num, num_to_char


# --- video ------------------------------------------------------------------

@dataclass
class MouthClip:
    """The network's view of a video: the mouth crops and how they were found."""
    crops: np.ndarray  # (75, 46 + 2 margin, 140 + 2 margin) uint8
    clip: Clip
    track: mouth.MouthTrack | None  # None for the fixed window


def read_gray_frames(path, start: float = 0.0) -> np.ndarray:
    """Up to 3 s of a video at 25 fps as uint8 grayscale, shape (T, H, W)."""
    return read_clip(path, start).frames


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


def cut_mouth(clip: Clip, crop: str = DEFAULT_CROP, margin: int = 0, path="video") -> MouthClip:
    """The mouth crops of a decoded clip (raises VideoError, naming `path`)."""
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
    try:
        track = mouth.locate(frames)
    except mouth.FaceError as err:
        raise VideoError(f"{path}: {err}") from None
    return MouthClip(fit_length(mouth.crop(frames, track, margin)), clip, track)


def notices(view: MouthClip) -> list[str]:
    """What a reader should know about how a video was read: nothing, for a GRID clip."""
    said, clip, track = [], view.clip, view.track
    end = clip.start + N_FRAMES / FPS
    if clip.duration > end + 0.5 / FPS or clip.start > 0:
        said.append(f"the video is {clip.duration:.1f} s long; read {clip.start:g}-"
                    f"{min(end, clip.duration):g} s (the network reads {N_FRAMES / FPS:g} s)")
    if track is not None and track.faces > 1:
        said.append(f"{track.faces} faces found; the largest one is read")
    if track is not None and track.lost:
        said.append(f"no face found on {track.lost} of {len(clip.frames)} frames; the nearest "
                    "landmarks were used there")
    return said


def load_mouth_frames(path, margin: int = 0, crop: str = DEFAULT_CROP,
                      start: float = 0.0) -> np.ndarray:
    """uint8 mouth crops, (75, 46 + 2 margin, 140 + 2 margin), before normalisation."""
    return read_mouth(path, crop, margin, start).crops


def normalize(frames: np.ndarray) -> np.ndarray:
    """Per-clip mean/std normalisation to float32 (T, H, W, 1), as the tutorial does."""
    x = frames.astype(np.float32)
    std = x.std()
    x = (x - x.mean()) / (std if std > 1e-6 else 1.0)
    return x[..., None]


def load_video(path, crop: str = DEFAULT_CROP, start: float = 0.0) -> np.ndarray:
    """A video file to the network's input: float32 (75, 46, 140, 1)."""
    return normalize(load_mouth_frames(path, crop=crop, start=start))


# --- alignments -------------------------------------------------------------

def load_alignment_segments(path) -> list[tuple[float, float, str]]:
    """(start_frame, end_frame, word) for every line, silences included."""
    path = Path(path)
    if not path.exists():
        raise AlignmentError(f"{path}: no such alignment file")
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as err:
        raise AlignmentError(f"{path}: unreadable alignment file ({err})") from None
    segments = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end = int(parts[0]), int(parts[1])
            if len(parts) != 3 or end < start:
                raise ValueError
        except (ValueError, IndexError):
            raise AlignmentError(
                f"{path}: line {number} is not 'start end word': {line.strip()!r}") from None
        # Alignment times are in 1/1000 of a frame at 25 fps.
        segments.append((start / 1000.0, end / 1000.0, parts[2].lower()))
    if not segments:
        raise AlignmentError(f"{path}: the alignment file holds no words")
    return segments


def load_alignments(path) -> list[str]:
    """The spoken words of an alignment file, without `sil` and `sp`."""
    return [w for _, _, w in load_alignment_segments(path) if w not in SILENCE_TOKENS]


def load_sentence(path) -> str:
    return " ".join(load_alignments(path))


# --- where the data lives ---------------------------------------------------

def resolve_data_dir(flag: str | os.PathLike | None = None) -> Path:
    """A flag wins, then $LIPREAD_DATA_DIR, then data/."""
    return Path(flag or os.environ.get("LIPREAD_DATA_DIR") or DEFAULT_DATA_DIR)


def split_name(name: str) -> tuple[str, str]:
    """'s26/bbaf2n' -> ('s26', 'bbaf2n'); a bare name is speaker s1's."""
    speaker, _, stem = name.rpartition("/")
    return speaker or SPEAKER, stem


def speaker_of(name: str) -> str:
    return split_name(name)[0]


def video_dir(data_dir, speaker: str = SPEAKER) -> Path:
    return Path(data_dir) / speaker


def alignment_path(data_dir, name: str) -> Path:
    speaker, stem = split_name(name)
    return Path(data_dir) / "alignments" / speaker / f"{stem}.align"


def list_speakers(data_dir) -> list[str]:
    """The speaker folders (s1 ... s34) of data_dir that hold videos, in number order."""
    root = Path(data_dir)
    if not root.is_dir():
        return []
    found = [d.name for d in root.iterdir() if SPEAKER_DIR.fullmatch(d.name) and d.is_dir()
             and any(p.suffix.lower() in VIDEO_EXTS for p in d.iterdir())]
    return sorted(found, key=lambda s: int(s[1:]))


def list_clips(data_dir, speakers=None) -> list[str]:
    """Sorted names of the clips with a video extension, of `speakers` (default: every
    speaker folder present). Bare names (bbaf2n) when s1 is the only speaker, as in the
    tutorial's layout; otherwise each prefixed with its speaker (s1/bbaf2n, s26/lgbj5a)."""
    speakers = list(speakers) if speakers is not None else list_speakers(data_dir) or [SPEAKER]
    prefix = speakers != [SPEAKER]
    names = []
    for speaker in speakers:
        folder = video_dir(data_dir, speaker)
        if not folder.is_dir():
            continue
        stems = sorted({p.stem for p in folder.iterdir()
                        if p.suffix.lower() in VIDEO_EXTS and p.is_file()})
        names += [f"{speaker}/{s}" if prefix else s for s in stems]
    return names


def video_path(data_dir, name: str) -> Path:
    """The video file of a clip name, whatever its extension."""
    speaker, stem = split_name(name)
    folder = video_dir(data_dir, speaker)
    for ext in VIDEO_EXTS:
        candidate = folder / f"{stem}{ext}"
        if candidate.is_file():
            return candidate
    raise VideoError(f"{folder}/{stem}.*: no video for clip {name!r} in {folder}")


def read_names(path) -> list[str]:
    """Clip names from a text file, one per line; blank lines and # comments skipped.

    A byte-order mark and Windows line ends are fine; a binary file, or a line that is
    not a clip name, is refused with the file and line named.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a directory, not a names file" if path.is_dir() else "no such names file"
        raise FileNotFoundError(f"{path}: {problem}")
    data = path.read_bytes()
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file of clip names (binary bytes); "
                         "give one clip name a line") from None
    names = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.split("#")[0].strip()
        if not name:
            continue
        if not CLIP_NAME.fullmatch(name):
            raise ValueError(f"{path}: line {number} is not a clip name: {name[:40]!r} "
                             "(one name a line, like bbaf2n)")
        names.append(name)
    if not names:
        raise ValueError(f"{path}: the names file lists no clips")
    return names
