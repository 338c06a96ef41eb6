"""The enrollment study: which adaptation method and settings, chosen on one speaker and
reported on another, and how the error falls with the number of enrollment clips.

    python -m experiments enroll choose --speaker s26   # the configurations, 7 clips, 3 folds
    python -m experiments enroll report --speaker s31 --config full:1e-4   # 9, leave one out
    python -m experiments enroll curve  --speaker s31 --config full:1e-4   # 1, 3, 5, 7 clips
    python -m experiments enroll report --speaker s26 --config auto   # auto chosen per fold
    python -m experiments enroll summary                 # what the lines say

The speakers' clips: --data-dir, else $LIPREAD_OTHERS_DIR (a GRID-style folder with s26/,
s31/ and their alignments; `make enroll-study` passes OTHERS_DIR). Configurations that
rehearse (`rehearse=N`) draw the general reader's own clips from --grid-dir (default:
$LIPREAD_DATA_DIR, then data/).

Folds: a speaker's clips sorted by name; fold f enrolls the n clips from the f-th on
(cyclically) and reads all the others, so n = 9 over folds 0-9 is leave-one-out. Of the n
enrollment clips the last is held out of training to stop it early (n >= 3; with fewer,
adapt.FIXED_EPOCHS run), unless the configuration fixes its epochs (method:lr:tempo:epochs):
then all n train. Every adaptation appends one JSON line to --out, and a rerun skips the
lines it finds there, so a stopped study resumes. WER: grammar decoder, words of the clips
read, never of clips enrolled. `--config auto` (choose.py, `lipread enroll --method
auto`): on each fold the method is chosen on the enrolled clips alone (the last of them
judges), then trained on all of them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from experiments.enroll_tally import chosen, lines_of, report, table
from lipread import decoding, grid, pipeline, scoring
from lipread.enroll import adapt, choose, rehearsal

OTHERS_ENV = "LIPREAD_OTHERS_DIR"  # the speakers' folder when --data-dir is not given
OUT = Path("artifacts/enroll-study.jsonl")
# The configurations compared (method:learning rate), chosen on one speaker only.
CONFIGS = ("full:1e-4", "full:3e-4", "frontend:1e-3", "batchnorm:3e-3", "adapters:1e-3",
           "prompt:3e-2", "tempo:0:auto", "full:1e-4:auto", "full:3e-4:auto",
           "adapters:1e-3:auto")
STUDY_EPOCHS = 40  # run in full unless a configuration names its epochs (stopping applied after)
CHOOSE_N, CHOOSE_FOLDS = 7, (0, 3, 6)  # each fold reads 3 clips: 9 of the 10 in all
CURVE_NS, CURVE_FOLDS = (1, 3, 5, 7), (0, 3, 6)


def settings_of(config: str, **extra) -> adapt.Settings:
    """method:lr[:tempo[:epochs[:field=value...]]], the tempo a number or `auto` (chosen on
    the enrollment clips); with epochs, that many run, no early stopping (patience None);
    then any other adapt.Settings field (`average_from=40`, `seed=1`)."""
    method, lr, *rest = config.split(":")
    tempo = rest[0] if rest else "1.0"  # no tempo named: as recorded (not the default auto)
    extra["tempo"] = None if tempo == "auto" else float(tempo)
    if len(rest) > 1:
        extra.update(max_epochs=int(rest[1]), patience=None)
    for part in rest[2:]:
        key, value = part.split("=")
        extra[key] = type(getattr(adapt.Settings(), key) or 0)(value)
    extra.setdefault("max_epochs", STUDY_EPOCHS)
    return adapt.Settings(method=method, lr=float(lr), **extra)


def fixed_epochs(config: str) -> bool:
    return len(config.split(":")) > 3


def speaker_clips(data_dir, speaker):
    """(names, uint8 crops with margin, sentences) of one speaker, sorted by name."""
    from lipread.training import dataset

    names = grid.list_clips(data_dir, [speaker])
    arrays = dataset.load_clip_arrays(data_dir, names, log=None)
    sentences = [grid.load_sentence(grid.alignment_path(data_dir, n)) for n in arrays.names]
    return list(arrays.names), np.asarray(arrays.frames), sentences


def read(model, crops, sentences):
    """Grammar readings of centred crops and their word error counts (edits, words)."""
    from lipread.training.cropstore import center

    probs = pipeline.predict_probs(model, np.stack([center(c) for c in crops]))
    said = [decoding.decode(p, "grammar") for p in probs]
    counts = [scoring.error_counts(t, s)[:2] for t, s in zip(sentences, said)]
    return said, counts


def fold(n_clips, n, f):
    """(enrolled ids, of which the last is held out when n >= 3; ids read)."""
    enrolled = [(f + j) % n_clips for j in range(n)]
    return enrolled, [i for i in range(n_clips) if i not in enrolled]


def run_fold(base, names, crops, sentences, n, f, config, out, tag, own=None):
    done = {(r["tag"], r["config"], r["n"], r["fold"]) for r in lines_of(out)}
    if (tag, config, n, f) in done:
        return
    enrolled, tested = fold(len(names), n, f)
    truth = [sentences[i] for i in tested]
    general = sum(e for e, _ in read(base, crops[tested], truth)[1])
    by_epoch = []  # word errors on the clips read, after each epoch (0: the general reader)

    def watch(epoch, model):
        by_epoch.append(sum(e for e, _ in read(model, crops[tested], truth)[1]))
    if config == choose.AUTO:
        _write_auto(base, names, crops, sentences, n, f, out, tag, general)
        return
    # Every epoch runs (no early stopping): summary() applies a stopping rule afterwards.
    # With a fixed number of epochs, every enrolled clip trains (none is held out).
    if fixed_epochs(config):
        settings = settings_of(config)
        result = adapt.adapt(crops[enrolled], [sentences[i] for i in enrolled], settings,
                             base, watch=watch, rehearsal=own)
    elif n >= 3:
        train, held = enrolled[:-1], enrolled[-1]
        result = adapt.adapt(crops[train], [sentences[i] for i in train],
                             settings_of(config, patience=STUDY_EPOCHS), base,
                             (crops[held], sentences[held]), watch=watch, rehearsal=own)
    else:
        result = adapt.adapt(crops[enrolled], [sentences[i] for i in enrolled],
                             settings_of(config), base, watch=watch, rehearsal=own)
    if fixed_epochs(config):
        kept = settings.max_epochs
        # the weights kept (the last epoch's, or the average) read the clips once more
        after = sum(e for e, _ in read(result.model, crops[tested], truth)[1])
    elif n >= 3:
        kept = adapt.stop_epoch(result.held_losses, adapt.STUDY_PATIENCE)
    else:
        kept = adapt.FIXED_EPOCHS
    if not fixed_epochs(config):
        after = by_epoch[kept]
    words = sum(len(t.split()) for t in truth)
    row = {"tag": tag, "config": config, "n": n, "fold": f,
           "enrolled": [names[i] for i in enrolled], "read": [names[i] for i in tested],
           "edits_by_epoch": by_epoch, "held_losses": [round(x, 3) for x in result.held_losses],
           "edits_before": general, "edits_after": after, "words": words,
           "tempo": result.tempo,
           "best_epoch": kept, "epochs": result.epochs,
           "seconds": round(result.seconds, 1), "settings": dataclasses.asdict(result.settings)}
    _append(out, row)
    print(f"{tag} {config} n={n} fold {f}: WER {row['edits_before'] / words:.1%} -> "
          f"{row['edits_after'] / words:.1%} ({words} words; stopped at epoch {kept}; by "
          f"epoch {by_epoch}, {result.seconds:.0f} s)", flush=True)


def _write_auto(base, names, crops, sentences, n, f, out, tag, general):
    """One fold of --config auto: the method chosen on the enrolled clips (the last of
    them judges; choose.py), trained on all of them, reads the others."""
    enrolled, tested = fold(len(names), n, f)
    truth = [sentences[i] for i in tested]
    choice = choose.choose(crops[enrolled], [sentences[i] for i in enrolled],
                           choose.CANDIDATES, base)
    edits = sum(e for e, _ in read(choice.adapted.model, crops[tested], truth)[1])
    words = sum(len(t.split()) for t in truth)
    row = {"tag": tag, "config": choose.AUTO, "n": n, "fold": f,
           "enrolled": [names[i] for i in enrolled], "read": [names[i] for i in tested],
           "edits_by_epoch": [general, edits], "edits_before": general, "edits_after": edits,
           "words": words, "picked": choice.picked.method, "tempo": choice.adapted.tempo,
           "held_losses": {m: round(t.held_loss, 3) for m, t in choice.trials.items()},
           "best_epoch": choice.adapted.best_epoch, "epochs": choice.adapted.epochs,
           "seconds": round(choice.adapted.seconds + sum(t.adapted.seconds for t in
                                                         choice.trials.values()), 1),
           "settings": dataclasses.asdict(choice.adapted.settings)}
    _append(out, row)
    print(f"{tag} auto n={n} fold {f}: WER {general / words:.1%} -> {edits / words:.1%} "
          f"({words} words; chose {choice.picked.method}, {row['seconds']:.0f} s)", flush=True)


def _append(out, row):
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f_out:
        f_out.write(json.dumps(row) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments enroll", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=("choose", "report", "curve", "summary", "chosen",
                                     "table"))
    p.add_argument("--speaker", default="s26")
    p.add_argument("--config", action="append", help="method:lr (default: CONFIGS)")
    p.add_argument("--data-dir", type=Path, default=os.environ.get(OTHERS_ENV) or None,
                   help=f"the speakers' folder (default: ${OTHERS_ENV})")
    p.add_argument("--grid-dir", type=Path, default=None,
                   help="the general reader's GRID folder, for rehearse=N (default: "
                        "$LIPREAD_DATA_DIR, then data/)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.stage in ("choose", "report", "curve") and args.data_dir is None:
        p.error(f"give --data-dir (or set {OTHERS_ENV}): the folder with the speakers' clips")
    if args.stage == "summary":
        print(report(args.out))
        return 0
    if args.stage == "table":
        print(table(args.out))
        return 0
    if args.stage == "chosen":  # the configuration chosen on --speaker, for make
        print(chosen(args.out, args.speaker))
        return 0
    from lipread.model import loader

    base = loader.load_model("lipnet")
    names, crops, sentences = speaker_clips(args.data_dir, args.speaker)
    configs = args.config or list(CONFIGS)
    own = None  # s1's clips, for configurations that rehearse (rehearsal.py)
    if any("rehearse=" in c for c in configs):
        own = rehearsal.own_clips(grid.resolve_data_dir(args.grid_dir))
    plan = {"choose": [(CHOOSE_N, f) for f in CHOOSE_FOLDS],
            "report": [(9, f) for f in range(len(names))],
            "curve": [(n, f) for n in CURVE_NS for f in CURVE_FOLDS]}[args.stage]
    for config in configs:
        for n, f in plan:
            run_fold(base, names, crops, sentences, n, f, config, args.out,
                     f"{args.stage}-{args.speaker}", own)
    return 0

