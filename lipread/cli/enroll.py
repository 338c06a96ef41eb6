"""Teach it your face: adapt the reader to one person from a few of their clips.

    lipread enroll --name alice --data-dir recordings/alice      # videos + a .txt sentence each
    lipread enroll --name s26 --data-dir others --speakers s26
    lipread predict --profile alice talk.mp4                     # then read with it

The clips: a folder in GRID's layout (speaker folders, alignments/), or any folder of videos
each with its sentence beside it (<stem>.txt, words only); every sentence from the GRID
grammar (command colour preposition letter digit adverb). By default every weight is
fine-tuned (--method full) on all clips but the last one in five (at least one from three
clips on, two from six), held out of training: the general reader and the taught one read
them, and the profile is made only when the taught one reads them better: a lower CTC
loss on their true sentences, and at most one more word wrong a clip (else exit 1, the
general reader stays; --keep-anyway keeps it). Up to 13 clips, a profile that passes then
trains again on all of them. On a terminal, a line shows how far it is and the time left.
The last of them stops training early with --patience.
--method auto trains adapters and full fine-tuning each on all clips but the last, keeps
the one with the lower loss on it and trains that again on every clip (three trainings);
its card reads the last clip by the kept method's trial, trained without it.
The profile (weights and card) goes to profiles/NAME/ ($LIPREAD_PROFILES_DIR to move it),
written whole or not at all; the general reader is never changed.
Exit status: 0 enrolled, 1 no profile made (no better than the general reader) or a
failure while running, 2 bad input.
From Python: lipread.teach(name, videos, sentences).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import sys
import time

from lipread.cli import common
from lipread.progress import clock
from lipread.enroll import adapt, choose, methods

PROG = "lipread enroll"


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    p.add_argument("--name", required=True,
                   help="the profile's name: 1-32 of a-z 0-9 _ -, a letter or digit first")
    common.add_data_dir(p)
    p.add_argument("--names", default=None, metavar="FILE",
                   help="file of clip names of --data-dir to enroll, one a line, each "
                        "SPEAKER/NAME (s26/lgbj5a; a bare NAME is s1's) (default: every "
                        "clip there)")
    common.add_speakers(p, "only these speakers' clips of --data-dir")
    p.add_argument("--method", choices=[*methods.REGISTRY, choose.AUTO], default=adapt.METHOD,
                   help=f"default {adapt.METHOD}. " + methods.describe() + f"; {choose.AUTO}: "
                        + " or ".join(c.method for c in choose.CANDIDATES)
                        + ", whichever has the lower loss on the last clip trained without it")
    p.add_argument("--lr", type=common.positive, default=adapt.LEARNING_RATE,
                   help="learning rate of one --method (default: the method's own: "
                        + ", ".join(f"{m.name} {m.lr:g}" for m in methods.REGISTRY.values()
                                    if m.name != "tempo") + ")")
    p.add_argument("--max-epochs", type=common.positive_int, default=adapt.MAX_EPOCHS,
                   help=f"at most this many epochs of {adapt.SAMPLES_PER_EPOCH} clips "
                        "(default: the method's own: " + ", ".join(
                            f"{m.name} {m.epochs}" for m in methods.REGISTRY.values()
                            if m.name != "tempo") + ")")
    p.add_argument("--patience", type=common.non_negative_int, default=adapt.PATIENCE,
                   help="one --method only: stop after this many epochs without a lower "
                        "loss on the held-out clip, keeping the best; 0 or none (default): "
                        "never stop early, run --max-epochs and keep the last")
    p.add_argument("--tempo", type=tempo_arg, default="auto" if adapt.TEMPO is None
                   else adapt.TEMPO,
                   help="read the person's clips this much faster than recorded (1.0: as "
                        f"they are), or auto (default): {adapt.START_TEMPO:g} unless the "
                        "general reader's loss on their clips is clearly lower at another "
                        f"of {', '.join(map(str, adapt.TEMPOS))}")
    p.add_argument("--seed", type=int, default=adapt.SEED)
    p.add_argument("--force", action="store_true", help="replace a profile of that name")
    p.add_argument("--keep-anyway", action="store_true",
                   help="keep the profile even when it reads the held-out takes no better "
                        "than the general reader (or there are too few takes to check)")
    p.add_argument("--keep-clips", action="store_true",
                   help="copy the clips and their sentences into the profile (recordings/)")
    p.add_argument("--owner", default=None, type=owner_arg, metavar="HASH",
                   help="the page visitor who made it (32 hex digits, the Teach page's): "
                        "without it the profile is the operator's, listed to every visitor")
    p.add_argument("--progress-file", default=None, metavar="PATH",
                   help="keep {fraction, stage, eta_s} as JSON here while it runs (the page "
                        "reads it)")
    common.add_json(p, "the profile's card")
    return p.parse_args(argv)


def owner_arg(text: str) -> str:
    from lipread.enroll import profiles

    if not profiles.OWNER.fullmatch(text):
        raise argparse.ArgumentTypeError("must be 32 hex digits (a-f, 0-9)")
    return text


def tempo_arg(text: str) -> float | None:
    if text == "auto":
        return None
    value = common.positive(text)
    if not 0.5 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be auto or from 0.5 to 2, not {text}")
    return value


def progress_writer(path):
    """progress(fraction, stage, seconds left or None) that rewrites `path` whole each time."""
    t0 = time.monotonic()

    def write(fraction, stage, eta=None):
        elapsed = time.monotonic() - t0
        data = {"fraction": round(fraction, 3), "stage": stage,
                "elapsed_s": round(elapsed, 1), "eta_s": None if eta is None else round(eta)}
        fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=os.path.dirname(path) or ".")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    return write


def progress_line(stream=None):
    """progress(fraction, stage, seconds left or None) as one line redrawn on a terminal
    (stderr); nothing when stderr is not one (logs get the lines `log` prints)."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None

    def show(fraction, stage, eta=None):
        left = f", about {clock(eta)} left" if eta is not None else ""
        line = f"teaching: {fraction:4.0%}  {stage}{left}"
        stream.write(f"\r{line[:120]:<120}" + ("\n" if fraction >= 1.0 else ""))
        stream.flush()
    return show


def say(line: str, progress, args) -> None:
    """A log line on stdout, the terminal's progress line (stderr) wiped first."""
    if progress is not None and not args.progress_file:
        sys.stderr.write(f"\r{'':<120}\r")
    print(line, flush=True)


def end_line(progress, args) -> None:
    """The terminal's progress line ended, so that an error starts a line of its own."""
    if progress is not None and not args.progress_file:
        sys.stderr.write("\n")


def cli(argv=None) -> int:
    common.quiet_tensorflow()
    args = parse_args(argv)
    from lipread import grid
    from lipread.enroll import clips, judge, profiles, teach

    try:
        profiles.check_name(args.name)
        if args.method == choose.AUTO and (args.lr is not None or args.patience):
            raise ValueError("--lr and --patience set one --method's training; with "
                             "--method auto each candidate trains its own way")
        common.check_writable(args.json)
        if args.progress_file:
            common.check_writable(args.progress_file)
        speakers = None
        if args.speakers:
            try:
                speakers = [f"s{n}" for n in grid.parse_speakers(args.speakers)]
            except ValueError as err:
                raise ValueError(f"--speakers: {err}") from None
        found = clips.find(grid.resolve_data_dir(args.data_dir), args.names, speakers)
    except (OSError, ValueError) as err:  # EnrollError, ProfileError
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    common.import_keras()
    progress = progress_writer(args.progress_file) if args.progress_file else progress_line()
    try:
        info = teach.teach(args.name, found, force=args.force, method=args.method, lr=args.lr,
                           max_epochs=args.max_epochs, patience=args.patience,
                           tempo=args.tempo, seed=args.seed, keep_clips=args.keep_clips,
                           keep_anyway=args.keep_anyway, owner=args.owner,
                           log=lambda line: say(line, progress, args), progress=progress)
    except teach.NoBetter as err:  # measured, not kept: the card says so; a failure to act on
        end_line(progress, args)
        if args.json:
            common.write_json(args.json, err.card)
        common.error(PROG, err)
        return common.EXIT_FAILED
    except (OSError, ValueError) as err:
        end_line(progress, args)
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    for h in info["held_out_takes"]:
        print(f"held-out {h['name']} ({h['sentence']}): before '{h['before']['said']}' "
              f"({h['before']['word_errors']}/{h['before']['words']} words wrong), after "
              f"'{h['after']['said']}' ({h['after']['word_errors']}/{h['after']['words']})")
    if info["verdict"].get("taught"):
        print(f"{args.name}: {judge.instead(info['verdict'])}")
    print(f"profile {args.name}: {profiles.path(args.name)} ({info['seconds']:.0f} s); read "
          f"with: lipread predict --profile {args.name} VIDEO", flush=True)
    if args.json:
        common.write_json(args.json, info)
    return common.EXIT_OK
