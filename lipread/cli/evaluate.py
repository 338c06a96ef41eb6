"""Word and character error rates of a network on GRID clips.

    lipread evaluate --data-dir ../shared/grid --names ../shared/grid/splits/test.txt \
        --decoder grammar --json artifacts/test-grammar.json

WER and CER are as the LipNet paper defines them: the edit distance between the
predicted and the true sentence, in words or characters, summed over all clips and
divided by the total length of the true sentences.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from lipread import decoding, formats, grid, pipeline, scoring, video
from lipread.cli import common
from lipread.model import loader

BATCH_SIZE = pipeline.BATCH_SIZE  # clips a forward pass
PROG = "lipread evaluate"


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    common.add_data_dir(p)
    p.add_argument("--names", default=None,
                   help="file of clip names, one a line; default: every clip with an alignment")
    common.add_decoder(p)
    common.add_model(p, ensemble=True)
    common.add_speakers(p, "only these speakers' clips (default: all)")
    p.add_argument("--by-speaker", action="store_true",
                   help="WER and CER per speaker too")
    common.add_crop(p)
    common.add_json(p, "the results (per clip too)")
    p.add_argument("--batch-size", type=common.positive_int, default=BATCH_SIZE)
    return p.parse_args(argv)


def clips_to_evaluate(data_dir: Path, names_file, speakers=None) -> list[str]:
    """The clips of the names file (default: every clip with an alignment), of `speakers`
    only when given (numbers, as grid.parse_speakers returns them)."""
    wanted = None if speakers is None else {f"s{n}" for n in speakers}
    if names_file:
        names = [n for n in grid.read_names(names_file)
                 if wanted is None or grid.speaker_of(n) in wanted]
        if not names:
            raise ValueError(f"{names_file}: no clips of speakers {', '.join(sorted(wanted))}")
        missing = [n for n in names if not grid.alignment_path(data_dir, n).is_file()]
        if missing:
            raise ValueError(f"{len(missing)} listed clips have no alignment, e.g. "
                             f"{grid.alignment_path(data_dir, missing[0])}")
        return checked(data_dir, names)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: no such data directory")
    present = grid.list_speakers(data_dir)
    chosen = present if wanted is None else [s for s in present if s in wanted]
    names = [n for n in grid.list_clips(data_dir, chosen or None)
             if grid.alignment_path(data_dir, n).is_file()]
    if not names or (wanted is not None and not chosen):
        raise ValueError(f"{data_dir}: no clips with alignments"
                         f"{'' if wanted is None else ' of ' + ', '.join(sorted(wanted))} "
                         "(expected sN/<name>.mpg and alignments/sN/<name>.align)")
    return checked(data_dir, names)


def by_speaker(per_clip: list[dict]) -> dict:
    """{speaker: {wer, cer, clips}} from evaluate()'s per-clip rows, in speaker order."""
    out = {}
    for row in per_clip:
        s = out.setdefault(grid.speaker_of(row["name"]), [0, 0, 0, 0, 0])
        s[0] += row["word_errors"]
        s[1] += row["words"]
        s[2] += row["char_errors"]
        s[3] += row["chars"]
        s[4] += 1
    return {k: {"wer": v[0] / max(v[1], 1), "cer": v[2] / max(v[3], 1), "clips": v[4]}
            for k, v in sorted(out.items(), key=lambda kv: int(kv[0][1:]))}


def checked(data_dir: Path, names: list[str]) -> list[str]:
    """Read every alignment, and every video's first bytes, now: a garbled alignment or an
    empty or foreign video fails in a second, not after the network ran."""
    for name in names:
        grid.load_alignment_segments(grid.alignment_path(data_dir, name))
        formats.check_file(grid.video_path(data_dir, name))
    return names


def evaluate(model, data_dir: Path, names: list[str], decoder: str, batch_size=BATCH_SIZE,
             crop: str = video.DEFAULT_CROP):
    """WER, CER and per-clip rows; `model` may be a list of networks (an ensemble whose
    per-frame probabilities are averaged)."""
    import numpy as np


    truths, predictions, per_clip = [], [], []
    for start in range(0, len(names), batch_size):
        batch = names[start:start + batch_size]
        frames = np.stack([video.load_video(grid.video_path(data_dir, n), crop) for n in batch])
        models = model if isinstance(model, (list, tuple)) else [model]
        probs = sum(pipeline.predict_probs(m, frames, batch_size) for m in models) / len(models)
        for name, p in zip(batch, probs):
            truth = grid.load_sentence(grid.alignment_path(data_dir, name))
            text = decoding.decode(p, decoder)
            w, nw, c, nc = scoring.error_counts(truth, text)
            truths.append(truth)
            predictions.append(text)
            per_clip.append({"name": name, "truth": truth, "predicted": text,
                             "word_errors": w, "words": nw, "char_errors": c, "chars": nc})
    wer, cer = scoring.error_rates(truths, predictions)
    return wer, cer, per_clip


def cli(argv=None) -> int:
    common.quiet_tensorflow()
    args = parse_args(argv)

    try:
        data_dir = grid.resolve_data_dir(args.data_dir)
        speakers = None
        if args.speakers:
            speakers = grid.parse_speakers(args.speakers)
        names = clips_to_evaluate(data_dir, args.names, speakers)
        common.check_writable(args.json)
        common.import_keras()
        model = common.load_models(args, ensemble=True)
        t0 = time.perf_counter()
        wer, cer, per_clip = evaluate(model, data_dir, names, args.decoder, args.batch_size,
                                      args.crop)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError) as err:  # VideoError, AlignmentError, WeightsError too
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    weights = " + ".join(map(str, args.weights or [loader.DEFAULT_WEIGHTS[args.arch]]))
    if args.profile:
        from lipread.enroll import profiles

        weights = str(profiles.path(args.profile) / profiles.WEIGHTS_FILE)
    wrong = sum(1 for c in per_clip if c["word_errors"])
    report = sys.stderr if args.json == "-" else sys.stdout
    reader = f"profile {args.profile}" if args.profile else args.arch
    print(f"{len(per_clip)} clips, decoder {args.decoder}, crop {args.crop}, {reader} "
          f"({weights})", file=report)
    print(f"WER {wer:.2%}  CER {cer:.2%}  ({wrong} clips with a word wrong; {seconds:.1f} s)",
          file=report)
    speakers = by_speaker(per_clip) if args.by_speaker else None
    for speaker, r in (speakers or {}).items():
        print(f"  {speaker:>4}  WER {r['wer']:6.2%}  CER {r['cer']:6.2%}  ({r['clips']} clips)",
              file=report)
    if args.json:
        common.write_json(args.json, {
            "wer": wer, "cer": cer, "clips": len(per_clip), "decoder": args.decoder,
            "crop": args.crop, "arch": args.arch, "profile": args.profile, "weights": weights,
            "data_dir": str(data_dir),
            "names": args.names, "by_speaker": speakers, "per_clip": per_clip})
    return common.EXIT_OK
