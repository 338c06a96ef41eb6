"""Read the lips in videos: print each one's sentence.

    python predict.py ../shared/grid/s1/bbaf2n.mpg [more videos] [--decoder grammar]
    python predict.py talk.mp4 --start 12.5 --json -     # 3 s from 12.5 s, JSON on stdout

Any video OpenCV decodes, at any size and frame rate: the mouth is found by face
landmarks (--crop fixed: the tutorial's window of a 360x288 GRID frame) and 3 s are read
at 25 fps. Exit status: 0 every video read, 1 a failure while running, 2 bad input.
"""
from __future__ import annotations

import os
import sys

import cliutil

# --- defaults (each one a flag) ---------------------------------------------
DECODER = "greedy"
ARCH = "lipnet"
WEIGHTS = None  # None: the shipped weights of --arch
CROP = "landmarks"  # the mouth found by face landmarks; "fixed": the tutorial's window
START = 0.0  # seconds into each video where the 3 s read begin
JSON = None  # a path for the results as JSON; "-": stdout

PROG = "predict.py"


def parse_args(argv=None):
    import decoding
    import modelutil
    import utils

    p = cliutil.parser(PROG, __doc__)
    p.add_argument("videos", nargs="+", help="video files (.mpg, .mp4, .mov, ...)")
    p.add_argument("--decoder", choices=decoding.DECODERS, default=DECODER)
    p.add_argument("--arch", choices=modelutil.ARCHS, default=ARCH)
    p.add_argument("--weights", default=WEIGHTS, help="default: the shipped weights of --arch")
    p.add_argument("--crop", choices=utils.CROPS, default=CROP,
                   help="how the mouth is found: face landmarks, or GRID's fixed window")
    p.add_argument("--start", type=cliutil.non_negative, default=START,
                   help="seconds into each video where the 3 s read begin")
    p.add_argument("--json", default=JSON, metavar="PATH",
                   help="write the results as JSON here ('-': stdout, instead of the text)")
    return p.parse_args(argv)


def error(message) -> None:
    cliutil.error(PROG, message)


def check_videos(paths) -> list[str]:
    """The paths that are files; a line for each that is not (checked before the network
    loads: a typo fails in a second, not ten)."""
    good = []
    for path in paths:
        if os.path.isfile(path):
            good.append(path)
        else:
            error(f"{path}: {'is a directory, not a video file' if os.path.isdir(path) else 'no such file'}")
    return good


def cli(argv=None) -> int:
    cliutil.quiet_tensorflow()
    args = parse_args(argv)
    import modelutil
    import transcribe
    import utils

    good = check_videos(args.videos)
    if not good:
        return cliutil.EXIT_BAD_INPUT
    try:
        cliutil.check_writable(args.json)
        cliutil.import_keras()
        model = modelutil.load_model(args.arch, args.weights)
    except (OSError, ValueError) as err:  # WeightsError too
        error(err)
        return cliutil.EXIT_BAD_INPUT
    results, bad = [], len(args.videos) - len(good)
    for path in good:
        try:
            result = transcribe.transcribe(model, path, args.decoder, args.crop, args.start)
        except utils.VideoError as err:
            error(err)
            bad += 1
            continue
        for notice in result.notices:
            print(f"{PROG}: note: {path}: {notice}", file=sys.stderr)
        results.append({"path": path, "sentence": result.sentence, "tokens": result.tokens,
                        "decoder": args.decoder, "crop": args.crop, "start": args.start,
                        "notices": result.notices})
        if args.json != "-":
            print(f"{path}\t{result.sentence}" if len(args.videos) > 1 else result.sentence,
                  flush=True)
    if args.json and results:
        cliutil.write_json(args.json, {"arch": args.arch, "decoder": args.decoder,
                                        "crop": args.crop, "results": results})
    return cliutil.EXIT_BAD_INPUT if bad else cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
