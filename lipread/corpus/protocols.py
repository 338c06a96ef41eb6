"""LipNet's GRID protocols as clip-name lists (lipread splits writes them; its --help says each):
overlapped speakers (a seeded draw of each speaker's test clips), unseen speakers (s1, s2,
s20, s22 held out), and today's s1 split (zenodo.write_splits). Only clips with both a
video and an alignment are listed; a SplitError is bad input (exit 2).
"""
from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lipread import grid
from lipread.corpus import zenodo

PROTOCOLS = ("overlapped", "unseen", "s1")
UNSEEN_SPEAKERS = ("s1", "s2", "s20", "s22")  # LipNet's held-out speakers
SEED = 0  # of the overlapped protocol's per-speaker draw
TEST_PER_SPEAKER = 255  # LipNet's overlapped protocol: 255 test clips of each speaker


class SplitError(ValueError):
    """Data that cannot be split as asked (bad input: exit 2)."""


@dataclass
class Split:
    protocol: str
    train: list[str]
    test: list[str]
    speakers: dict = field(default_factory=dict)  # {speaker: {clips, train, test, ...}}
    notes: list[str] = field(default_factory=list)
    held_out: list[str] = field(default_factory=list)  # the unseen protocol's test speakers


# --- what is there ------------------------------------------------------------

def clip_name(speaker: str, stem: str, qualified: bool) -> str:
    return f"{speaker}/{stem}" if qualified else stem


def aligned_stems(data_dir, speaker: str) -> tuple[list[str], int]:
    """(sorted stems of the speaker's clips with a video and an alignment, how many
    videos lack an alignment)."""
    videos = [grid.split_name(n)[1] for n in grid.list_clips(data_dir, [speaker])]
    stems = [s for s in videos if grid.alignment_path(data_dir, f"{speaker}/{s}").is_file()]
    return stems, len(videos) - len(stems)


def speaker_range(speakers) -> str:
    """['s2', 's3', 's4', 's7'] -> 's2-s4, s7'."""
    numbers = sorted(int(s[1:]) for s in speakers)
    parts, start = [], None
    for i, n in enumerate(numbers):
        start = n if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(f"s{start}" if start == n else f"s{start}-s{n}")
            start = None
    return ", ".join(parts)


def chosen_speakers(data_dir: Path, speakers=None) -> tuple[list[str], list[str]]:
    """(the speaker folders present, of `speakers` (numbers) when given; notes)."""
    if not Path(data_dir).is_dir():
        raise SplitError(f"{data_dir}: no such data directory")
    present = grid.list_speakers(data_dir)
    if not present:
        raise SplitError(f"{data_dir}: no speaker folders with videos (expected sN/<name>.mpg "
                         "and alignments/sN/<name>.align)")
    if speakers is None:
        return present, []
    wanted = [f"s{n}" for n in speakers]
    chosen = [s for s in present if s in wanted]
    if not chosen:
        raise SplitError(f"{data_dir}: none of the speakers asked for ({speaker_range(wanted)}) "
                         f"is there (it holds {speaker_range(present)})")
    missing = [s for s in wanted if s not in present]
    return chosen, [f"not in {data_dir}: {speaker_range(missing)}"] if missing else []


def clips_by_speaker(data_dir, speakers) -> tuple[dict[str, list[str]], list[str], dict]:
    """({speaker: stems with an alignment}, notes, {speaker: videos without alignment})."""
    clips, notes, unaligned = {}, [], {}
    for speaker in speakers:
        stems, lacking = aligned_stems(data_dir, speaker)
        unaligned[speaker] = lacking
        if lacking:
            notes.append(f"{speaker}: {lacking} videos without an alignment; left out")
        if stems:
            clips[speaker] = stems
        else:
            notes.append(f"{speaker}: no clip with an alignment; left out")
    if not clips:
        raise SplitError(f"{data_dir}: no clips with alignments of {speaker_range(speakers)} "
                         "(expected alignments/sN/<name>.align beside sN/<name>.mpg)")
    return clips, notes, unaligned


# --- the protocols -------------------------------------------------------------

def overlapped(clips: dict[str, list[str]], seed: int = SEED,
               test_per_speaker: int = TEST_PER_SPEAKER) -> Split:
    """LipNet's overlapped speakers: a seeded draw of each speaker's test clips."""
    qualified = list(clips) != ["s1"]
    split = Split("overlapped", [], [])
    for speaker, stems in clips.items():
        k = min(test_per_speaker, len(stems) // 2)
        if k < test_per_speaker:
            split.notes.append(f"{speaker}: {len(stems)} clips, so {k} test clips (at most "
                               f"half of a speaker's clips), not {test_per_speaker}")
        drawn = set(random.Random(f"{seed}-{speaker}").sample(sorted(stems), k))
        for stem in sorted(stems):
            (split.test if stem in drawn else split.train).append(
                clip_name(speaker, stem, qualified))
        split.speakers[speaker] = {"clips": len(stems), "train": len(stems) - k, "test": k}
    return split


def unseen(clips: dict[str, list[str]], held_out=UNSEEN_SPEAKERS) -> Split:
    """LipNet's unseen speakers: the held-out speakers' clips test, all others train."""
    held = [s for s in clips if s in held_out]
    rest = [s for s in clips if s not in held_out]
    if not held:
        raise SplitError(f"none of the unseen-speaker protocol's held-out speakers "
                         f"({', '.join(held_out)}) is there (found {speaker_range(clips)}): "
                         "nothing to test on")
    if not rest:
        raise SplitError(f"only held-out speakers ({speaker_range(held)}) are there: nothing "
                         "to train on (the unseen protocol trains on every other speaker)")
    split = Split("unseen", [], [], held_out=held)
    for speaker, stems in clips.items():
        into = split.test if speaker in held else split.train
        into += [clip_name(speaker, s, True) for s in sorted(stems)]
        split.speakers[speaker] = {"clips": len(stems), "train": 0 if speaker in held
                                   else len(stems), "test": len(stems) if speaker in held else 0}
    missing = [s for s in held_out if s not in held]
    if missing:
        split.notes.append(f"held out: {', '.join(held)} ({', '.join(missing)} not there)")
    return split


def s1_split(data_dir) -> Split:
    """Today's s1 split, by zenodo.write_splits itself (run on a folder linking s1's)."""
    data_dir = Path(data_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="lipread-splits-") as tmp:
        root = Path(tmp)
        (root / "alignments").mkdir()
        (root / "s1").symlink_to(data_dir / "s1", target_is_directory=True)
        if (data_dir / "alignments" / "s1").is_dir():
            (root / "alignments" / "s1").symlink_to(data_dir / "alignments" / "s1",
                                                    target_is_directory=True)
        zenodo.write_splits(root)
        train, test = ((root / "splits" / f"{k}.txt").read_text().split()
                       for k in ("train", "test"))
    split = Split("s1", train, test)
    split.speakers["s1"] = {"clips": len(train) + len(test), "train": len(train),
                            "test": len(test)}
    return split


def make_split(data_dir, protocol: str, speakers=None, seed: int = SEED,
               test_per_speaker: int = TEST_PER_SPEAKER) -> Split:
    """The split of data_dir's clips under `protocol`; `speakers` (numbers, as
    grid.parse_speakers returns them) restricts it, default every speaker present."""
    if protocol not in PROTOCOLS:
        raise SplitError(f"no such protocol: {protocol!r} (one of {', '.join(PROTOCOLS)})")
    data_dir = Path(data_dir)
    if protocol == "s1":
        if speakers is not None and 1 not in speakers:
            raise SplitError("the s1 protocol splits speaker s1 only; --speakers leaves it out")
        chosen, notes = chosen_speakers(data_dir, [1])
        _, more, unaligned = clips_by_speaker(data_dir, chosen)
        split = s1_split(data_dir)
    else:
        chosen, notes = chosen_speakers(data_dir, speakers)
        clips, more, unaligned = clips_by_speaker(data_dir, chosen)
        split = (overlapped(clips, seed, test_per_speaker) if protocol == "overlapped"
                 else unseen(clips))
    split.notes[:0] = notes + more
    for speaker, row in split.speakers.items():
        row["unaligned"] = unaligned.get(speaker, 0)
    return split
