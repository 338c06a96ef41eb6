"""Read the lips in videos: print each one's sentence.

    lipread predict data/s1/bbaf2n.mpg [more videos] [--decoder grammar]
    lipread predict talk.mp4 --start 12.5 --json -     # 3 s from 12.5 s, JSON on stdout
    lipread predict --data-dir others --speakers s26   # every clip of s26
    lipread predict --data-dir others s31/lgbj5a       # a clip by its name

Any video OpenCV decodes, at any size and frame rate: the mouth is found by face
landmarks (--crop fixed: the tutorial's window of a 360x288 GRID frame) and 3 s are read
at 25 fps. An argument that is no file but a clip name of the data directory (s26/lgbj5a;
a bare name is s1's) reads that clip; --speakers reads every clip of those speakers.
Each result's JSON is its `name` (the argument) and the reading (lipread/reading.py, the
same keys as the page's download): sentence, decoder, tokens (75 class ids, blank 40),
`confidence` (0-1, the chance every word is right), `reliable`, `words` (word, confidence,
start_s, end_s: the grammar reading's, whatever the decoder), start_s and notices; an
unreliable reading gets a note on stderr.
Exit status: 0 every video read, 1 a failure while running, 2 bad input.
"""
from __future__ import annotations

import os
import sys

from lipread import formats, grid, reading, video
from lipread.cli import common

PROG = "lipread predict"

def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    p.add_argument("videos", nargs="*",
                   help="video files (.mpg, .mp4, .mov, ...), or clip names of --data-dir "
                        "(s26/lgbj5a; a bare name is s1's)")
    common.add_data_dir(p)
    common.add_speakers(p, "also every clip of these speakers of --data-dir")
    common.add_decoder(p)
    common.add_model(p)
    common.add_crop(p)
    p.add_argument("--start", type=common.non_negative, default=0.0,
                   help="seconds into each video where the 3 s read begin")
    common.add_json(p, "the results (instead of the text, with '-')")
    args = p.parse_args(argv)
    if not args.videos and not args.speakers:
        p.error("give video files (or clip names), or --speakers")
    return args


def error(message) -> None:
    common.error(PROG, message)


def check_videos(paths, data_dir=None) -> list[tuple[str, str, str | None]]:
    """(label, path, clip name or None) of each argument that is a video file, or else a
    clip of data_dir; a line for each that is neither, or is empty, a folder, a pipe or no
    video container (checked before the network loads: a typo fails in a second, not ten)."""
    good = []
    for path in paths:
        if os.path.lexists(path):  # a file (a video, or what it is not), a folder, a pipe
            try:
                formats.check_file(path)
                good.append((path, path, None))
            except formats.FormatError as err:
                error(err)
            continue
        if (data_dir is not None and grid.CLIP_NAME.fullmatch(path)
                and os.path.splitext(path)[1].lower() not in video.VIDEO_EXTS):
            try:
                found = str(grid.video_path(data_dir, path))
                formats.check_file(found)
                good.append((path, found, path))
            except formats.FormatError as err:
                error(err)
            except video.VideoError:
                speaker, stem = grid.split_name(path)
                error(f"{path}: no such file, nor a clip of {data_dir} (no "
                      f"{grid.video_dir(data_dir, speaker)}/{stem}.*)")
            continue
        error(f"{path}: no such file")
    return good


def speaker_clips(data_dir, text: str) -> list[tuple[str, str, str]]:
    """(name, path, name) of every clip of the speakers `text` names (s26, s1-s34) that are
    in data_dir; ValueError when none is (a note names those missing beside others)."""
    try:
        wanted = [f"s{n}" for n in grid.parse_speakers(text)]
    except ValueError as err:
        raise ValueError(f"--speakers: {err}") from None
    if not os.path.isdir(data_dir):
        raise ValueError(f"{data_dir}: no such data directory (--data-dir, for --speakers)")
    present = grid.list_speakers(data_dir)
    chosen = [s for s in present if s in wanted]
    if not chosen:
        raise ValueError(f"--speakers {text}: none of them has videos in {data_dir} (it holds "
                         f"{', '.join(present) or 'no speaker folders'})")
    missing = [s for s in wanted if s not in present]
    if missing:
        print(f"{PROG}: note: --speakers: not in {data_dir}: {', '.join(missing)}",
              file=sys.stderr)
    return [(n, str(grid.video_path(data_dir, n)), n)
            for n in grid.list_clips(data_dir, chosen)]


def cli(argv=None) -> int:
    common.quiet_tensorflow()
    args = parse_args(argv)

    data_dir = grid.resolve_data_dir(args.data_dir)
    good = check_videos(args.videos, data_dir)
    bad = len(args.videos) - len(good)
    try:
        if args.speakers:
            known = {path for _, path, _ in good}
            good += [c for c in speaker_clips(data_dir, args.speakers) if c[1] not in known]
        if not good:
            return common.EXIT_BAD_INPUT
        common.check_writable(args.json)
        if common.uses_keras(args):
            common.import_keras()
        model = common.load_models(args)
    except (OSError, ValueError) as err:  # WeightsError too
        error(err)
        return common.EXIT_BAD_INPUT
    results, several = [], len(good) + bad > 1
    for label, path, _ in good:
        try:
            said = reading.read(path, model, args.decoder, args.start, args.crop)
        except video.VideoError as err:
            error(err)
            bad += 1
            continue
        unsure = [] if said.reliable else [said.unsure(args.profile)]
        for notice in said.notices + unsure:
            print(f"{PROG}: note: {label}: {notice}", file=sys.stderr)
        results.append({"name": label, **said.as_json()})
        if args.json != "-":
            print(f"{label}\t{said.sentence}" if several else said.sentence, flush=True)
    if args.json and results:
        common.write_json(args.json, {"arch": args.arch, "profile": args.profile,
                                        "decoder": args.decoder, "crop": args.crop,
                                        "results": results})
    return common.EXIT_BAD_INPUT if bad else common.EXIT_OK
