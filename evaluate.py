"""Word and character error rates of a network on GRID clips.

    python evaluate.py --data-dir ../shared/grid --names ../shared/grid/splits/test.txt \
        --decoder grammar --json artifacts/test-grammar.json

WER and CER are as the LipNet paper defines them: the edit distance between the
predicted and the true sentence, in words or characters, summed over all clips and
divided by the total length of the true sentences.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import cliutil

# --- defaults (each one a flag) ---------------------------------------------
DATA_DIR = None  # None: $LIPREAD_DATA_DIR, then data/
NAMES = None  # None: every clip of the data directory that has an alignment
DECODER = "greedy"
ARCH = "lipnet"
WEIGHTS = None  # None: the shipped weights of --arch
CROP = "landmarks"  # the mouth found by face landmarks; "fixed": the tutorial's window
BATCH_SIZE = 16
JSON = None  # a path for the results as JSON; "-": stdout

PROG = "evaluate.py"


def parse_args(argv=None):
    import decoding
    import modelutil
    import utils

    p = cliutil.parser(PROG, __doc__)
    cliutil.add_data_dir(p, DATA_DIR)
    p.add_argument("--names", default=NAMES,
                   help="file of clip names, one a line; default: every clip with an alignment")
    p.add_argument("--decoder", choices=decoding.DECODERS, default=DECODER)
    p.add_argument("--arch", choices=modelutil.ARCHS, default=ARCH)
    p.add_argument("--weights", default=WEIGHTS, help="default: the shipped weights of --arch")
    p.add_argument("--crop", choices=utils.CROPS, default=CROP,
                   help="how the mouth is found: face landmarks, or GRID's fixed window")
    p.add_argument("--json", dest="json_out", default=JSON, metavar="PATH",
                   help="write the results (per clip too) as JSON here; '-': stdout")
    p.add_argument("--batch-size", type=cliutil.positive_int, default=BATCH_SIZE)
    return p.parse_args(argv)


def clips_to_evaluate(data_dir: Path, names_file) -> list[str]:
    import utils

    if names_file:
        names = utils.read_names(names_file)
        missing = [n for n in names if not utils.alignment_path(data_dir, n).is_file()]
        if missing:
            raise ValueError(f"{len(missing)} listed clips have no alignment in "
                             f"{data_dir / 'alignments' / utils.SPEAKER}, e.g. {missing[0]}")
        return checked(data_dir, names)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data directory")
    names = [n for n in utils.list_clips(data_dir) if utils.alignment_path(data_dir, n).is_file()]
    if not names:
        raise ValueError(f"{data_dir}: no clips with alignments (expected "
                         f"{utils.SPEAKER}/<name>.mpg and alignments/{utils.SPEAKER}/<name>.align)")
    return checked(data_dir, names)


def checked(data_dir: Path, names: list[str]) -> list[str]:
    """Read every alignment now: a garbled one fails in a second, not after the network ran."""
    import utils

    for name in names:
        utils.load_alignment_segments(utils.alignment_path(data_dir, name))
    return names


def evaluate(model, data_dir: Path, names: list[str], decoder: str, batch_size=BATCH_SIZE,
             crop: str = CROP):
    import numpy as np

    import decoding
    import transcribe
    import utils

    truths, predictions, per_clip = [], [], []
    for start in range(0, len(names), batch_size):
        batch = names[start:start + batch_size]
        frames = np.stack([utils.load_video(utils.video_path(data_dir, n), crop) for n in batch])
        probs = transcribe.predict_probs(model, frames, batch_size)
        for name, p in zip(batch, probs):
            truth = utils.load_sentence(utils.alignment_path(data_dir, name))
            text = decoding.decode(p, decoder)
            w, nw, c, nc = decoding.error_counts(truth, text)
            truths.append(truth)
            predictions.append(text)
            per_clip.append({"name": name, "truth": truth, "predicted": text,
                             "word_errors": w, "words": nw, "char_errors": c, "chars": nc})
    wer, cer = decoding.error_rates(truths, predictions)
    return wer, cer, per_clip


def cli(argv=None) -> int:
    cliutil.quiet_tensorflow()
    args = parse_args(argv)
    import modelutil
    import utils

    try:
        data_dir = utils.resolve_data_dir(args.data_dir)
        names = clips_to_evaluate(data_dir, args.names)
        cliutil.check_writable(args.json_out)
        cliutil.import_keras()
        model = modelutil.load_model(args.arch, args.weights)
        t0 = time.perf_counter()
        wer, cer, per_clip = evaluate(model, data_dir, names, args.decoder, args.batch_size,
                                      args.crop)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError) as err:  # VideoError, AlignmentError, WeightsError too
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    weights = str(args.weights or modelutil.DEFAULT_WEIGHTS[args.arch])
    wrong = sum(1 for c in per_clip if c["word_errors"])
    report = sys.stderr if args.json_out == "-" else sys.stdout
    print(f"{len(per_clip)} clips, decoder {args.decoder}, crop {args.crop}, {args.arch} "
          f"({weights})", file=report)
    print(f"WER {wer:.2%}  CER {cer:.2%}  ({wrong} clips with a word wrong; {seconds:.1f} s)",
          file=report)
    if args.json_out:
        cliutil.write_json(args.json_out, {
            "wer": wer, "cer": cer, "clips": len(per_clip), "decoder": args.decoder,
            "crop": args.crop, "arch": args.arch, "weights": weights, "data_dir": str(data_dir),
            "names": args.names, "per_clip": per_clip})
    return cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
