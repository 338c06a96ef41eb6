"""GRID: its vocabulary and grammar, clip names and speakers, alignments, and where the
clips of a data folder live. Videos themselves are read by video.py.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from lipread.constants import VIDEO_EXTS, VideoError

# The LipNet tutorial's vocabulary, exactly. Id 0 is the empty out-of-vocabulary /
# padding token (StringLookup's oov_token=""), ids 1..39 the characters, and the
# network has one more class, the CTC blank, last.
VOCAB = list("abcdefghijklmnopqrstuvwxyz'?!123456789 ")
ID_TO_CHAR = [""] + VOCAB
CHAR_TO_ID = {c: i for i, c in enumerate(ID_TO_CHAR)}
PAD_ID = 0
BLANK_ID = len(ID_TO_CHAR)  # 40
NUM_CLASSES = BLANK_ID + 1  # 41

# A clip name: a file stem (GRID's are like bbaf2n), of speaker s1 unless prefixed with
# its speaker's folder (s26/bbaf2n): the tutorial's one-speaker layout keeps its names.
CLIP_NAME = re.compile(r"(?:s[0-9]{1,2}/)?[A-Za-z0-9][A-Za-z0-9_.-]*")
SPEAKER_DIR = re.compile(r"s[0-9]{1,2}")  # GRID's speaker folders: s1 ... s34
SILENCE_TOKENS = {"sil", "sp"}  # silence and short pause: not spoken words
MAX_NAMES_BYTES = 16 << 20  # a names file: GRID's 34,000 clip names are ~0.5 MB
MAX_ALIGNMENT_BYTES = 64 << 10  # a GRID alignment is ~250 bytes: never read a huge file whole
SPEAKER = "s1"
SPEAKERS = tuple(range(1, 35))  # GRID's speaker numbers: s1 ... s34
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
SLOT_NAMES = ("command", "colour", "preposition", "letter", "digit", "adverb")
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


# --- alignments -------------------------------------------------------------

def load_alignment_segments(path) -> list[tuple[float, float, str]]:
    """(start_frame, end_frame, word) for every line, silences included."""
    path = Path(path)
    if not path.exists():
        raise AlignmentError(f"{path}: no such alignment file")
    if not path.is_file():
        raise AlignmentError(f"{path}: not a regular file (a folder, pipe or device)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_ALIGNMENT_BYTES + 1)
        if len(data) > MAX_ALIGNMENT_BYTES:
            raise AlignmentError(f"{path}: over {MAX_ALIGNMENT_BYTES // 1024} KB, not a GRID "
                                 "alignment (those are a few hundred bytes)")
        text = data.decode("utf-8")
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

def grammar_error(text: str) -> str | None:
    """Why `text` is not a GRID sentence (None when it is one)."""
    words = text.split()
    if len(words) != len(GRID_SLOTS):
        return (f"{len(words)} words; a GRID sentence has {len(GRID_SLOTS)}: command colour "
                "preposition letter digit adverb, e.g. 'bin blue at f two now'")
    for word, slot, what in zip(words, GRID_SLOTS, SLOT_NAMES):
        if word not in slot:
            return f"{word!r} is no GRID {what} ({', '.join(slot[:4])}, ...)"
    return None


def resolve_data_dir(flag: str | os.PathLike | None = None) -> Path:
    """A flag wins, then $LIPREAD_DATA_DIR, then data/."""
    return Path(flag or os.environ.get("LIPREAD_DATA_DIR") or DEFAULT_DATA_DIR)


def parse_speakers(text: str) -> list[int]:
    """'s1-s34', 's1,s3,s5-s7', '1-4' -> sorted speaker numbers; ValueError says why."""
    chosen: set[int] = set()
    for item in text.replace(" ", "").split(","):
        m = re.fullmatch(r"[sS]?(\d+)(?:-[sS]?(\d+))?", item)
        if not m:
            raise ValueError(f"not a speaker or a range of them: {item!r} (e.g. s1-s34, "
                             "s1,s3,s5-s7 or 1-4)")
        first, last = int(m[1]), int(m[2] or m[1])
        if first not in SPEAKERS or last not in SPEAKERS:
            raise ValueError(f"{item}: GRID's speakers are s1 to s34")
        if first > last:
            raise ValueError(f"{item}: a range goes from low to high (s{last}-s{first})")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


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
    if path.stat().st_size > MAX_NAMES_BYTES:
        raise ValueError(f"{path}: over {MAX_NAMES_BYTES >> 20} MB, not a file of clip names "
                         "(all of GRID's 34,000 names take under 1 MB)")
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
            raise ValueError(f"{path}: line {number} is not a clip name: {name[:40]!r} (one "
                             "name a line: SPEAKER/NAME, like s26/lgbj5a; a bare NAME is s1's)")
        names.append(name)
    if not names:
        raise ValueError(f"{path}: the names file lists no clips")
    return names
