"""Train/test splits of GRID, as the clip-name lists that train.py and evaluate.py take.

    python splits.py --data-dir data --protocol overlapped   # data/splits/overlapped/
    python splits.py --data-dir data --protocol unseen       # data/splits/unseen/
    python splits.py --data-dir data --protocol s1           # data/splits/s1/
    python train.py --data-dir data --names data/splits/overlapped/train.txt
    python evaluate.py --data-dir data --names data/splits/overlapped/test.txt --by-speaker

Each writes train.txt and test.txt, one clip name a line: s26/lgbj5a, or a bare name
(bbaf2n) when s1 is the only speaker, as utils.list_clips names them. Only clips with both
a video and an alignment are listed. The protocols are LipNet's (Assael et al. 2016,
"LipNet: End-to-End Sentence-level Lipreading", arXiv:1611.01599, its GRID evaluation):

- overlapped: 255 random sentences of each speaker for evaluation, the rest of that
  speaker's clips for training. The draw is seeded per speaker (--seed and the speaker's
  name), so adding or removing a speaker leaves every other speaker's draw as it was. A
  speaker takes at most --test-per-speaker test clips and at most half of its clips (a
  small corpus, a fixture: a note says so), so every speaker keeps training clips.
- unseen: speakers s1, s2, s20 and s22 held out entirely: all their clips test, every
  other speaker's clips train; none of them ever in train.txt. Those present are held out
  (a note names the missing ones); with none of them present there is nothing to test on,
  an error. No randomness: --seed and --test-per-speaker do not apply.
- s1: today's split of speaker s1 (bare names), exactly as download.py writes it into
  DIR/splits/ (corpus.write_splits: the 100 test clips of ../shared/grid when all are
  there, else a seeded 10%); here written into DIR/splits/s1/.

Peers, checked in a code library: rizkiarm/LipNet's training/overlapped_speakers/
prepare.py keeps the first N clips of each speaker for validation (folder order, not a
seeded draw) and links the rest for training; its training/unseen_speakers reads a
folder prepared by hand. Keras re-implementations' READMEs say the same of the unseen
split ("The original article excluded speakers S1, S2, S20 and S22 from the training
dataset").

Exit status: 0 written, 1 a failure while writing, 2 bad input (no such data directory,
no clips, no held-out speaker present for the unseen protocol).
"""
from __future__ import annotations

import os
import random
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cliutil

# --- defaults (each one a flag) ---------------------------------------------
DATA_DIR = None  # None: $LIPREAD_DATA_DIR, then data/
PROTOCOL = "overlapped"
SPEAKERS = None  # None: every speaker folder present, e.g. "s1-s34" or "s1,s26"
SEED = 0  # of the overlapped protocol's per-speaker draw
TEST_PER_SPEAKER = 255  # LipNet's overlapped protocol: 255 test clips of each speaker
DEST = None  # None: <data-dir>/splits/<protocol>
JSON = None  # a path for the report as JSON; "-": stdout

PROTOCOLS = ("overlapped", "unseen", "s1")
UNSEEN_SPEAKERS = ("s1", "s2", "s20", "s22")  # LipNet's held-out speakers
PROG = "splits.py"


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
    import utils

    videos = [utils.split_name(n)[1] for n in utils.list_clips(data_dir, [speaker])]
    stems = [s for s in videos if utils.alignment_path(data_dir, f"{speaker}/{s}").is_file()]
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
    import utils

    if not Path(data_dir).is_dir():
        raise SplitError(f"{data_dir}: no such data directory")
    present = utils.list_speakers(data_dir)
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
    """Today's s1 split, by corpus.write_splits itself (run on a folder linking s1's)."""
    import corpus

    data_dir = Path(data_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="lipread-splits-") as tmp:
        root = Path(tmp)
        (root / "alignments").mkdir()
        (root / "s1").symlink_to(data_dir / "s1", target_is_directory=True)
        if (data_dir / "alignments" / "s1").is_dir():
            (root / "alignments" / "s1").symlink_to(data_dir / "alignments" / "s1",
                                                    target_is_directory=True)
        corpus.write_splits(root)
        train, test = ((root / "splits" / f"{k}.txt").read_text().split()
                       for k in ("train", "test"))
    split = Split("s1", train, test)
    split.speakers["s1"] = {"clips": len(train) + len(test), "train": len(train),
                            "test": len(test)}
    return split


def make_split(data_dir, protocol: str = PROTOCOL, speakers=None, seed: int = SEED,
               test_per_speaker: int = TEST_PER_SPEAKER) -> Split:
    """The split of data_dir's clips under `protocol`; `speakers` (numbers, as
    corpus.parse_speakers returns them) restricts it, default every speaker present."""
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


# --- writing -------------------------------------------------------------------

def write_list(path: Path, names: list[str]) -> None:
    """One name a line, whole or not at all (a temp name beside it, then renamed)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        tmp.write_text("".join(f"{n}\n" for n in names))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_split(split: Split, dest) -> dict[str, str]:
    """dest/train.txt and dest/test.txt; returns their paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = {k: dest / f"{k}.txt" for k in ("train", "test")}
    write_list(files["train"], split.train)
    write_list(files["test"], split.test)
    return {k: str(v) for k, v in files.items()}


def report(split: Split, data_dir, files: dict, seed: int, test_per_speaker: int) -> dict:
    return {"protocol": split.protocol, "data_dir": str(data_dir), "files": files,
            "train": len(split.train), "test": len(split.test),
            "seed": seed if split.protocol == "overlapped" else None,
            "test_per_speaker": test_per_speaker if split.protocol == "overlapped" else None,
            "held_out": split.held_out or None, "speakers": split.speakers,
            "notes": split.notes}


# --- the script ----------------------------------------------------------------

def parse_args(argv=None):
    p = cliutil.parser(PROG, __doc__)
    cliutil.add_data_dir(p, DATA_DIR)
    p.add_argument("--protocol", choices=PROTOCOLS, default=PROTOCOL,
                   help="overlapped: test clips drawn from every speaker; unseen: s1, s2, "
                        "s20, s22 held out; s1: today's s1 split")
    p.add_argument("--speakers", default=SPEAKERS,
                   help="only these speakers, e.g. s1-s34 or s1,s26 (default: every speaker "
                        "folder present)")
    p.add_argument("--seed", type=cliutil.non_negative_int, default=SEED,
                   help="of the overlapped protocol's per-speaker draw (default: %(default)s)")
    p.add_argument("--test-per-speaker", type=cliutil.positive_int, default=TEST_PER_SPEAKER,
                   help="overlapped protocol: test clips of each speaker (at most half of "
                        "its clips)")
    p.add_argument("--dest", default=DEST, metavar="DIR",
                   help="folder for train.txt and test.txt; default: <data-dir>/splits/"
                        "<protocol>")
    p.add_argument("--json", default=JSON, metavar="PATH",
                   help="write the report as JSON here; '-': stdout")
    return p.parse_args(argv)


def cli(argv=None) -> int:
    args = parse_args(argv)
    import utils

    data_dir = utils.resolve_data_dir(args.data_dir)
    dest = Path(args.dest) if args.dest else data_dir / "splits" / args.protocol
    try:
        speakers = None
        if args.speakers:
            import corpus
            try:
                speakers = corpus.parse_speakers(args.speakers)
            except ValueError as err:
                raise SplitError(f"--speakers: {err}") from None
        cliutil.check_writable(args.json)
        if dest.exists() and not dest.is_dir():
            raise SplitError(f"--dest {dest}: exists and is not a folder")
        split = make_split(data_dir, args.protocol, speakers, args.seed,
                           args.test_per_speaker)
    except (SplitError, OSError) as err:
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    try:
        files = write_split(split, dest)
    except OSError as err:
        cliutil.error(PROG, f"cannot write {err.filename or dest}: {err.strerror or err}")
        return cliutil.EXIT_FAILED
    out = sys.stderr if args.json == "-" else sys.stdout
    for note in split.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    n = len(split.speakers)
    print(f"{split.protocol}: {len(split.train)} train, {len(split.test)} test clips of {n} "
          f"speaker{'s' * (n != 1)} -> {dest}/{{train,test}}.txt", file=out)
    for speaker, row in split.speakers.items():
        print(f"  {speaker:>4}  train {row['train']:5d}  test {row['test']:5d}", file=out)
    if args.json:
        cliutil.write_json(args.json, report(split, data_dir, files, args.seed,
                                             args.test_per_speaker))
    return cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
