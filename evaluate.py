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
    p.add_argument("--weights", nargs="+", default=WEIGHTS, metavar="WEIGHTS",
                   help="default: the shipped weights of --arch; several: an ensemble, "
                        "their per-frame probabilities averaged")
    p.add_argument("--speakers", default=None,
                   help="only these speakers' clips, e.g. s1-s34 or s1,s26 (default: all)")
    p.add_argument("--by-speaker", action="store_true",
                   help="WER and CER per speaker too")
    p.add_argument("--crop", choices=utils.CROPS, default=CROP,
                   help="how the mouth is found: face landmarks, or GRID's fixed window")
    p.add_argument("--json", dest="json_out", default=JSON, metavar="PATH",
                   help="write the results (per clip too) as JSON here; '-': stdout")
    p.add_argument("--batch-size", type=cliutil.positive_int, default=BATCH_SIZE)
    return p.parse_args(argv)


def clips_to_evaluate(data_dir: Path, names_file, speakers=None) -> list[str]:
    """The clips of the names file (default: every clip with an alignment), of `speakers`
    only when given (numbers, as corpus.parse_speakers returns them)."""
    import utils

    wanted = None if speakers is None else {f"s{n}" for n in speakers}
    if names_file:
        names = [n for n in utils.read_names(names_file)
                 if wanted is None or utils.speaker_of(n) in wanted]
        if not names:
            raise ValueError(f"{names_file}: no clips of speakers {', '.join(sorted(wanted))}")
        missing = [n for n in names if not utils.alignment_path(data_dir, n).is_file()]
        if missing:
            raise ValueError(f"{len(missing)} listed clips have no alignment, e.g. "
                             f"{utils.alignment_path(data_dir, missing[0])}")
        return checked(data_dir, names)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data directory")
    present = utils.list_speakers(data_dir)
    chosen = present if wanted is None else [s for s in present if s in wanted]
    names = [n for n in utils.list_clips(data_dir, chosen or None)
             if utils.alignment_path(data_dir, n).is_file()]
    if not names or (wanted is not None and not chosen):
        raise ValueError(f"{data_dir}: no clips with alignments"
                         f"{'' if wanted is None else ' of ' + ', '.join(sorted(wanted))} "
                         "(expected sN/<name>.mpg and alignments/sN/<name>.align)")
    return checked(data_dir, names)


def by_speaker(per_clip: list[dict]) -> dict:
    """{speaker: {wer, cer, clips}} from evaluate()'s per-clip rows, in speaker order."""
    import utils

    out = {}
    for row in per_clip:
        s = out.setdefault(utils.speaker_of(row["name"]), [0, 0, 0, 0, 0])
        s[0] += row["word_errors"]
        s[1] += row["words"]
        s[2] += row["char_errors"]
        s[3] += row["chars"]
        s[4] += 1
    return {k: {"wer": v[0] / max(v[1], 1), "cer": v[2] / max(v[3], 1), "clips": v[4]}
            for k, v in sorted(out.items(), key=lambda kv: int(kv[0][1:]))}


def checked(data_dir: Path, names: list[str]) -> list[str]:
    """Read every alignment now: a garbled one fails in a second, not after the network ran."""
    import utils

    for name in names:
        utils.load_alignment_segments(utils.alignment_path(data_dir, name))
    return names


def evaluate(model, data_dir: Path, names: list[str], decoder: str, batch_size=BATCH_SIZE,
             crop: str = CROP):
    """WER, CER and per-clip rows; `model` may be a list of networks (an ensemble whose
    per-frame probabilities are averaged)."""
    import numpy as np

    import decoding
    import transcribe
    import utils

    truths, predictions, per_clip = [], [], []
    for start in range(0, len(names), batch_size):
        batch = names[start:start + batch_size]
        frames = np.stack([utils.load_video(utils.video_path(data_dir, n), crop) for n in batch])
        models = model if isinstance(model, (list, tuple)) else [model]
        probs = sum(transcribe.predict_probs(m, frames, batch_size) for m in models) / len(models)
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
        speakers = None
        if args.speakers:
            import corpus
            speakers = corpus.parse_speakers(args.speakers)
        names = clips_to_evaluate(data_dir, args.names, speakers)
        cliutil.check_writable(args.json_out)
        cliutil.import_keras()
        model = [modelutil.load_model(args.arch, w) for w in args.weights or [None]]
        t0 = time.perf_counter()
        wer, cer, per_clip = evaluate(model, data_dir, names, args.decoder, args.batch_size,
                                      args.crop)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError) as err:  # VideoError, AlignmentError, WeightsError too
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    weights = " + ".join(map(str, args.weights or [modelutil.DEFAULT_WEIGHTS[args.arch]]))
    wrong = sum(1 for c in per_clip if c["word_errors"])
    report = sys.stderr if args.json_out == "-" else sys.stdout
    print(f"{len(per_clip)} clips, decoder {args.decoder}, crop {args.crop}, {args.arch} "
          f"({weights})", file=report)
    print(f"WER {wer:.2%}  CER {cer:.2%}  ({wrong} clips with a word wrong; {seconds:.1f} s)",
          file=report)
    speakers = by_speaker(per_clip) if args.by_speaker else None
    for speaker, r in (speakers or {}).items():
        print(f"  {speaker:>4}  WER {r['wer']:6.2%}  CER {r['cer']:6.2%}  ({r['clips']} clips)",
              file=report)
    if args.json_out:
        cliutil.write_json(args.json_out, {
            "wer": wer, "cer": cer, "clips": len(per_clip), "decoder": args.decoder,
            "crop": args.crop, "arch": args.arch, "weights": weights, "data_dir": str(data_dir),
            "names": args.names, "by_speaker": speakers, "per_clip": per_clip})
    return cliutil.EXIT_OK


if __name__ == "__main__":
    sys.exit(cli())
