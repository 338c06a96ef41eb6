"""Word and character error rates of a network on GRID clips.

    lipread evaluate --data-dir data --names data/splits/test.txt \
        --decoder grammar --json artifacts/test-grammar.json

WER and CER are as the LipNet paper defines them: the edit distance between the
predicted and the true sentence, in words or characters, summed over all clips and
divided by the total length of the true sentences.

Without --names: the data folder's test split (splits/test.txt) when it has one (said on
stderr), else every clip with an alignment; --all: every clip with an alignment. A clip
that can't be read is listed with its reason (JSON `unread`, a note on stderr) and the
rest are evaluated; each clip's JSON row has its `confidence` and `reliable`
(lipread/reading.py). A terminal shows the progress on stderr. Exit status: 0 when any clip was read, 2 when none could be.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from lipread import face, grid, pipeline, reading, scoring, video
from lipread.cli import common
from lipread.model import loader
from lipread.progress import Progress

BATCH_SIZE = pipeline.BATCH_SIZE  # clips a forward pass
PROG = "lipread evaluate"


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    common.add_data_dir(p)
    names = p.add_mutually_exclusive_group()
    names.add_argument("--names", default=None,
                       help="file of clip names, one a line; default: the data folder's "
                            "splits/test.txt, else every clip with an alignment")
    names.add_argument("--all", action="store_true",
                       help="every clip with an alignment, the training clips too")
    common.add_decoder(p)
    common.add_model(p, ensemble=True)
    common.add_speakers(p, "only these speakers' clips (default: all)")
    p.add_argument("--by-speaker", action="store_true",
                   help="WER and CER per speaker too")
    common.add_crop(p)
    common.add_json(p, "the results (per clip too)")
    p.add_argument("--batch-size", type=common.positive_int, default=BATCH_SIZE)
    return p.parse_args(argv)


def default_names(data_dir: Path, every: bool):
    """The names file evaluate reads without --names: the test split, unless `every`."""
    split = data_dir / "splits" / "test.txt"
    if every or not split.is_file():
        return None
    print(f"{PROG}: note: the test split, {split} (--all: every clip with an alignment)",
          file=sys.stderr)
    return split


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
    """Read every alignment now: a garbled one fails in a second, not after the network
    ran (a video that can't be read is listed by evaluate() and the rest go on)."""
    for name in names:
        grid.load_alignment_segments(grid.alignment_path(data_dir, name))
    return names


def evaluate(model, data_dir: Path, names: list[str], decoder: str, batch_size=BATCH_SIZE,
             crop: str = video.DEFAULT_CROP, progress: bool | None = None):
    """WER, CER, per-clip rows and the clips not read ({name, reason}); `model` may be a
    list of networks (an ensemble whose per-frame probabilities are averaged). `progress`:
    a line redrawn on stderr (None: when stderr is a terminal; nothing on a pipe)."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    reader = models[0] if len(models) == 1 else pipeline.Ensemble(models)
    live = sys.stderr.isatty() if progress is None else progress
    shown = Progress(len(names), log=None if live else (lambda *a, **k: None), live=live,
                     what="read")
    truths, predictions, per_clip, unread = [], [], [], []
    paths = {}
    for name in names:
        try:
            paths[str(grid.video_path(data_dir, name))] = name
        except (video.VideoError, OSError) as err:
            unread.append({"name": name, "reason": str(err)})
    try:
        for path, said in reading.read_many(list(paths), reader, decoder, crop=crop,
                                            batch_size=batch_size):
            name = paths[path]
            if isinstance(said, Exception):
                unread.append({"name": name, "reason": str(said)})
                shown.count(len(per_clip) + len(unread), len(unread))
                continue
            truth = grid.load_sentence(grid.alignment_path(data_dir, name))
            w, nw, c, nc = scoring.error_counts(truth, said.sentence)
            truths.append(truth)
            predictions.append(said.sentence)
            per_clip.append({"name": name, "truth": truth, "predicted": said.sentence,
                             "confidence": round(said.confidence, 4), "reliable": said.reliable,
                             "word_errors": w, "words": nw, "char_errors": c, "chars": nc})
            shown.count(len(per_clip) + len(unread), len(unread))
    finally:
        shown.close()
    order = {n: i for i, n in enumerate(names)}
    unread.sort(key=lambda u: order[u["name"]])
    wer, cer = scoring.error_rates(truths, predictions) if truths else (None, None)
    return wer, cer, per_clip, unread


def cli(argv=None) -> int:
    common.quiet_tensorflow()
    args = parse_args(argv)

    try:
        data_dir = grid.resolve_data_dir(args.data_dir)
        speakers = None
        if args.speakers:
            speakers = grid.parse_speakers(args.speakers)
        names_file = args.names or default_names(data_dir, args.all)
        names = clips_to_evaluate(data_dir, names_file, speakers)
        common.check_writable(args.json)
        if common.uses_keras(args):
            common.import_keras()
        model = common.load_models(args, ensemble=True)
        if args.crop == "landmarks" and len(names) > 20:  # ~35 ms saved a clip for 0.9 s
            face.use_dlib_predictor()
        t0 = time.perf_counter()
        wer, cer, per_clip, unread = evaluate(model, data_dir, names, args.decoder,
                                              args.batch_size, args.crop)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError) as err:  # AlignmentError, WeightsError too
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    if not per_clip:
        reasons = "; ".join(u["reason"] for u in unread[:3])
        common.error(PROG, f"no clip could be read ({len(unread)} tried): {reasons}")
        return common.EXIT_BAD_INPUT
    for u in unread:
        print(f"{PROG}: note: {u['name']} not read: {u['reason']}", file=sys.stderr)
    weights = " + ".join(map(str, args.weights or [loader.DEFAULT_WEIGHTS[args.arch]]))
    if args.profile:
        from lipread.enroll import profiles

        weights = str(profiles.path(args.profile) / profiles.WEIGHTS_FILE)
    wrong = sum(1 for c in per_clip if c["word_errors"])
    report = sys.stderr if args.json == "-" else sys.stdout
    reader = f"profile {args.profile}" if args.profile else args.arch
    print(f"{len(per_clip)} clips{f' ({len(unread)} not read)' if unread else ''}, decoder "
          f"{args.decoder}, crop {args.crop}, {reader} ({weights})", file=report)
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
            "names": None if names_file is None else str(names_file),
            "by_speaker": speakers, "unread": unread, "per_clip": per_clip})
    return common.EXIT_OK
