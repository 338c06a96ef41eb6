"""Train/test splits of GRID, as the clip-name lists that lipread train and lipread evaluate take.

    lipread splits --data-dir data --protocol overlapped   # data/splits/overlapped/
    lipread splits --data-dir data --protocol unseen       # data/splits/unseen/
    lipread splits --data-dir data --protocol s1           # data/splits/s1/
    lipread train --data-dir data --names data/splits/overlapped/train.txt
    lipread evaluate --data-dir data --names data/splits/overlapped/test.txt --by-speaker

Each writes train.txt and test.txt, one clip name a line: s26/lgbj5a, or a bare name
(bbaf2n) when s1 is the only speaker, as grid.list_clips names them. Only clips with both
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
- s1: today's split of speaker s1 (bare names), exactly as lipread download writes it into
  DIR/splits/ (zenodo.write_splits: the 100 test clips of the shipped figures when all are
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
import sys
import uuid
from pathlib import Path

from lipread import grid
from lipread.cli import common
from lipread.corpus import protocols
from lipread.corpus.protocols import PROTOCOLS, Split, SplitError, make_split

PROG = "lipread splits"


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
    p = common.parser(PROG, __doc__)
    common.add_data_dir(p)
    p.add_argument("--protocol", choices=PROTOCOLS, default=PROTOCOLS[0],
                   help="overlapped: test clips drawn from every speaker; unseen: s1, s2, "
                        "s20, s22 held out; s1: today's s1 split")
    common.add_speakers(p, "only these speakers (default: every speaker folder present)")
    p.add_argument("--seed", type=common.non_negative_int, default=protocols.SEED,
                   help="of the overlapped protocol's per-speaker draw (default: %(default)s)")
    p.add_argument("--test-per-speaker", type=common.positive_int,
                   default=protocols.TEST_PER_SPEAKER,
                   help="overlapped protocol: test clips of each speaker (at most half of "
                        "its clips)")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="folder for train.txt and test.txt; default: <data-dir>/splits/"
                        "<protocol>")
    common.add_json(p, "the report")
    return p.parse_args(argv)


def cli(argv=None) -> int:
    args = parse_args(argv)

    data_dir = grid.resolve_data_dir(args.data_dir)
    dest = Path(args.dest) if args.dest else data_dir / "splits" / args.protocol
    try:
        speakers = None
        if args.speakers:
            try:
                speakers = grid.parse_speakers(args.speakers)
            except ValueError as err:
                raise SplitError(f"--speakers: {err}") from None
        common.check_writable(args.json)
        if dest.exists() and not dest.is_dir():
            raise SplitError(f"--dest {dest}: exists and is not a folder")
        split = make_split(data_dir, args.protocol, speakers, args.seed,
                           args.test_per_speaker)
    except (SplitError, OSError) as err:
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    try:
        files = write_split(split, dest)
    except OSError as err:
        common.error(PROG, f"cannot write {err.filename or dest}: {err.strerror or err}")
        return common.EXIT_FAILED
    out = sys.stderr if args.json == "-" else sys.stdout
    for note in split.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    n = len(split.speakers)
    print(f"{split.protocol}: {len(split.train)} train, {len(split.test)} test clips of {n} "
          f"speaker{'s' * (n != 1)} -> {dest}/{{train,test}}.txt", file=out)
    for speaker, row in split.speakers.items():
        print(f"  {speaker:>4}  train {row['train']:5d}  test {row['test']:5d}", file=out)
    if args.json:
        common.write_json(args.json, report(split, data_dir, files, args.seed,
                                             args.test_per_speaker))
    return common.EXIT_OK
