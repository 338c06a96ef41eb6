"""The clips a person enrolls with: found in a folder, each with its sentence, checked, and
cut to mouth crops.

A folder in GRID's layout (s26/<stem>.mpg with alignments/s26/<stem>.align), or any folder
of videos with a sentence beside each (<stem>.txt: the words said, no timings; what the
page's recordings are). --names picks clips of the folder by name (s26/bgbsza). Or videos
named one by one (gather), each with the sentence given for it or found as above.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipread import formats, grid, video

SENTENCE_EXT = ".txt"
MAX_SENTENCE_BYTES = 4096  # a GRID sentence is ~30 bytes
MAX_CLIPS = 50  # a few prompted sentences, not a corpus (lipread train is for that)


class EnrollError(ValueError):
    """Clips that can't be enrolled: missing, unreadable, faceless, or off the grammar."""


@dataclass
class Clip:
    name: str
    path: Path
    sentence: str


def _sentence_file(path: Path) -> str:
    if path.stat().st_size > MAX_SENTENCE_BYTES:
        raise EnrollError(f"{path}: over {MAX_SENTENCE_BYTES} bytes; a sentence file holds "
                          "the one sentence said in its video")
    try:
        return " ".join(path.read_bytes().decode("utf-8-sig").lower().split())
    except UnicodeDecodeError:
        raise EnrollError(f"{path}: not text; write the sentence said, e.g. 'bin blue at f "
                          "two now'") from None


def sentence(data_dir: Path, name: str, path: Path) -> str:
    """The clip's sentence: its alignment, else the .txt beside its video; in the grammar."""
    align = grid.alignment_path(data_dir, name)
    beside = path.with_suffix(SENTENCE_EXT)
    if align.is_file():
        try:
            text, source = grid.load_sentence(align), align
        except grid.AlignmentError as err:
            raise EnrollError(str(err)) from None
    elif beside.is_file():
        text, source = _sentence_file(beside), beside
    else:
        raise EnrollError(f"{path}: no sentence for it: give {align} or {beside} (the words "
                          "said, e.g. 'bin blue at f two now')")
    return _in_grammar(text, source)


def _in_grammar(text: str, source) -> str:
    problem = grid.grammar_error(text)
    if problem:
        raise EnrollError(f"{source}: {text[:60]!r} is not a GRID sentence: {problem}")
    return text


def find(data_dir, names_file=None, speakers=None) -> list[Clip]:
    """The folder's clips (or those --names lists; of `speakers` only, speaker folder
    names, when given), each with its checked sentence."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise EnrollError(f"{data_dir}: no such folder; give --data-dir a folder of clips "
                          "(GRID layout, or videos with a .txt sentence beside each)")
    if names_file:
        try:
            names = grid.read_names(names_file)
        except (OSError, ValueError) as err:
            raise EnrollError(f"--names: {err}") from None
        names = [n for n in names if speakers is None or grid.speaker_of(n) in speakers]
        if not names:
            raise EnrollError(f"--names {names_file}: no clips of --speakers "
                              f"{', '.join(speakers)}")
        try:
            found = [(n, grid.video_path(data_dir, n)) for n in names]
        except video.VideoError as err:
            raise EnrollError(f"--names {names_file}: {err}; name each clip SPEAKER/NAME as "
                              f"its folder in {data_dir} says (s26/lgbj5a; a bare name is "
                              "s1's)") from None
    elif grid.list_speakers(data_dir):
        present = grid.list_speakers(data_dir)
        chosen = present if speakers is None else [s for s in present if s in speakers]
        if not chosen:
            raise EnrollError(f"--speakers: none of {', '.join(speakers)} has videos in "
                              f"{data_dir} (it holds {', '.join(present)})")
        found = [(n, grid.video_path(data_dir, n)) for n in grid.list_clips(data_dir, chosen)]
    else:  # a flat folder of videos (recordings)
        found = [(p.stem, p) for p in sorted(data_dir.iterdir())
                 if p.suffix.lower() in video.VIDEO_EXTS and p.is_file()]
    if not found:
        raise EnrollError(f"{data_dir}: no videos ({', '.join(video.VIDEO_EXTS)}) in it or "
                          "in speaker folders (s1/, s26/, ...)")
    if len(found) > MAX_CLIPS:
        raise EnrollError(f"{data_dir}: {len(found)} clips; enrollment takes at most "
                          f"{MAX_CLIPS} (pick some with --names)")
    return [Clip(n, Path(p), sentence(data_dir, n, Path(p))) for n, p in found]


def gather(videos, sentences=None) -> list[Clip]:
    """The clips to enroll: a folder's (every clip in it, as `find`), or these videos', in
    order: each a path, with its sentence from `sentences` or, when that is None, found as
    `find` finds it (its alignment in GRID's layout, else the .txt beside it). Clips
    (`find`'s) are taken as they are."""
    if isinstance(videos, (str, os.PathLike)):
        if sentences is not None:
            raise EnrollError(f"{videos}: a folder's clips have their sentences in it; give "
                              "sentences with a list of videos")
        return find(videos)
    videos = list(videos)
    if isinstance(sentences, str):
        raise EnrollError("sentences: give a list, one sentence a video")
    if sentences is not None and len(sentences) != len(videos):
        raise EnrollError(f"{len(videos)} videos and {len(sentences)} sentences: give one "
                          "sentence a video")
    if not videos:
        raise EnrollError("no videos given")
    if len(videos) > MAX_CLIPS:
        raise EnrollError(f"{len(videos)} videos; enrollment takes at most {MAX_CLIPS}")
    gathered = []
    for i, item in enumerate(videos):
        if isinstance(item, Clip):
            gathered.append(item)
            continue
        path = Path(item)
        if not path.is_file():
            raise EnrollError(f"{path}: no such video file")
        in_speaker = grid.SPEAKER_DIR.fullmatch(path.parent.name) is not None  # GRID's layout
        name = f"{path.parent.name}/{path.stem}" if in_speaker else path.stem
        if sentences is None:
            said = sentence(path.parent.parent if in_speaker else path.parent, name, path)
        else:
            said = _in_grammar(" ".join(str(sentences[i]).lower().split()), path)
        gathered.append(Clip(name, path, said))
    return gathered


def crops(clip: Clip) -> np.ndarray:
    """uint8 mouth crops with training's margin (cropstore.MARGIN) of 3 s of the clip."""
    from lipread.training.cropstore import MARGIN

    try:
        formats.check_file(clip.path)
        return video.read_mouth(clip.path, margin=MARGIN).crops
    except (formats.FormatError, video.VideoError) as err:
        raise EnrollError(str(err)) from None
