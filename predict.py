"""Read the lips in videos: print each one's sentence.

    python predict.py ../shared/grid/s1/bbaf2n.mpg [more videos] [--decoder grammar] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

# --- defaults (each one a flag) ---------------------------------------------
DECODER = "greedy"
ARCH = "lipnet"
WEIGHTS = None  # None: the shipped weights of --arch


def parse_args(argv=None):
    import decoding
    import modelutil

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("videos", nargs="+", help="video files (.mpg, .mp4, ...), GRID framing")
    p.add_argument("--decoder", choices=decoding.DECODERS, default=DECODER)
    p.add_argument("--arch", choices=modelutil.ARCHS, default=ARCH)
    p.add_argument("--weights", default=WEIGHTS)
    p.add_argument("--json", action="store_true",
                   help="one JSON object a video: path, raw token ids, sentence")
    return p.parse_args(argv)


def cli(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = parse_args(argv)
    import modelutil
    import transcribe
    import utils

    # Check every file before the network loads: a typo fails in a second, not ten.
    failed = 0
    good = []
    for path in args.videos:
        if not os.path.isfile(path):
            problem = "is a directory, not a video file" if os.path.isdir(path) else "no such file"
            print(f"predict.py: error: {path}: {problem}", file=sys.stderr)
            failed += 1
        else:
            good.append(path)
    if not good:
        return 1
    try:
        model = modelutil.load_model(args.arch, args.weights)
    except (modelutil.WeightsError, OSError, ValueError) as err:
        print(f"predict.py: error: {err}", file=sys.stderr)
        return 2
    for path in good:
        try:
            result = transcribe.transcribe(model, path, args.decoder)
        except utils.VideoError as err:
            print(f"predict.py: error: {err}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            print(json.dumps({"path": path, "tokens": result.tokens,
                              "sentence": result.sentence, "decoder": args.decoder}))
        else:
            print(f"{path}\t{result.sentence}" if len(args.videos) > 1 else result.sentence)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(cli())
