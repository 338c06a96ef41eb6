"""The enrollment study: which adaptation method and settings, chosen on one speaker and
reported on another, and how the error falls with the number of enrollment clips.

    python -m lipread.enroll.study choose --speaker s26      # the configurations, 7 clips, 3 folds
    python -m lipread.enroll.study report --speaker s31 --config full:1e-4   # 9 clips, leave one out
    python -m lipread.enroll.study curve  --speaker s31 --config full:1e-4   # 1, 3, 5, 7 clips

Folds: a speaker's clips sorted by name; fold f enrolls the n clips from the f-th on
(cyclically) and reads all the others, so n = 9 over folds 0-9 is leave-one-out. Of the n
enrollment clips the last is held out of training to stop it early (n >= 3; with fewer,
adapt.FIXED_EPOCHS run). Every adaptation appends one JSON line to --out, and a rerun skips the
lines it finds there, so a stopped study resumes. WER: grammar decoder, words of the clips
read, never of clips enrolled.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from lipread import decoding, grid, pipeline, scoring
from lipread.enroll import adapt

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "others"  # s26, s31 beside the project
OUT = Path("artifacts/enroll-study.jsonl")
# The configurations compared (method:learning rate), chosen on one speaker only.
CONFIGS = ("full:5e-5", "full:1e-4", "full:3e-4", "frontend:3e-4", "frontend:1e-3",
           "batchnorm:1e-3", "batchnorm:3e-3", "adapters:1e-3", "adapters:3e-3",
           "prompt:1e-2", "prompt:3e-2")
CHOOSE_N, CHOOSE_FOLDS = 7, (0, 3, 6)  # each fold reads 3 clips: 9 of the 10 in all
CURVE_NS, CURVE_FOLDS = (1, 3, 5, 7), (0, 2, 4, 6, 8)


def settings_of(config: str, **extra) -> adapt.Settings:
    method, lr = config.split(":")
    return adapt.Settings(method=method, lr=float(lr), **extra)


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


def run_fold(base, names, crops, sentences, n, f, config, out, tag):
    done = {(r["tag"], r["config"], r["n"], r["fold"]) for r in _lines(out)}
    if (tag, config, n, f) in done:
        return
    enrolled, tested = fold(len(names), n, f)
    before = read(base, crops[tested], [sentences[i] for i in tested])[1]
    if n >= 3:
        train, held = enrolled[:-1], enrolled[-1]
        result = adapt.adapt(crops[train], [sentences[i] for i in train],
                             settings_of(config), base, (crops[held], sentences[held]))
    else:
        result = adapt.adapt(crops[enrolled], [sentences[i] for i in enrolled],
                             settings_of(config, max_epochs=adapt.FIXED_EPOCHS), base)
    said, after = read(result.model, crops[tested], [sentences[i] for i in tested])
    row = {"tag": tag, "config": config, "n": n, "fold": f,
           "enrolled": [names[i] for i in enrolled], "read": [names[i] for i in tested],
           "said": said, "edits_before": sum(e for e, _ in before),
           "edits_after": sum(e for e, _ in after), "words": sum(w for _, w in after),
           "best_epoch": result.best_epoch, "epochs": result.epochs,
           "seconds": round(result.seconds, 1), "settings": dataclasses.asdict(result.settings)}
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as f_out:
        f_out.write(json.dumps(row) + "\n")
    print(f"{tag} {config} n={n} fold {f}: WER {row['edits_before'] / row['words']:.1%} -> "
          f"{row['edits_after'] / row['words']:.1%} ({row['words']} words; best epoch "
          f"{result.best_epoch}/{result.epochs}, {result.seconds:.0f} s)", flush=True)


def _lines(out):
    if not Path(out).is_file():
        return []
    return [json.loads(line) for line in Path(out).read_text().splitlines() if line.strip()]


def summary(out) -> list[dict]:
    """WER before and after per (tag, config, n), over the folds run."""
    table = {}
    for r in _lines(out):
        key = (r["tag"], r["config"], r["n"])
        t = table.setdefault(key, {"tag": key[0], "config": key[1], "n": key[2], "folds": 0,
                                   "before": 0, "after": 0, "words": 0, "seconds": 0.0})
        t["folds"] += 1
        t["before"] += r["edits_before"]
        t["after"] += r["edits_after"]
        t["words"] += r["words"]
        t["seconds"] += r["seconds"]
    return [{**t, "wer_before": t["before"] / t["words"], "wer_after": t["after"] / t["words"],
             "seconds_per_fold": t["seconds"] / t["folds"]} for t in table.values()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lipread.enroll.study", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=("choose", "report", "curve", "summary"))
    p.add_argument("--speaker", default="s26")
    p.add_argument("--config", action="append", help="method:lr (default: CONFIGS)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.stage == "summary":
        for t in sorted(summary(args.out), key=lambda t: (t["tag"], t["n"], t["wer_after"])):
            print(f"{t['tag']:12} {t['config']:16} n={t['n']} folds={t['folds']} "
                  f"WER {t['wer_before']:.1%} -> {t['wer_after']:.1%} ({t['words']} words, "
                  f"{t['seconds_per_fold']:.0f} s a fold)")
        return 0
    from lipread.model import loader

    base = loader.load_model("lipnet")
    names, crops, sentences = speaker_clips(args.data_dir, args.speaker)
    configs = args.config or list(CONFIGS)
    plan = {"choose": [(CHOOSE_N, f) for f in CHOOSE_FOLDS],
            "report": [(9, f) for f in range(len(names))],
            "curve": [(n, f) for n in CURVE_NS for f in CURVE_FOLDS]}[args.stage]
    for config in configs:
        for n, f in plan:
            run_fold(base, names, crops, sentences, n, f, config, args.out,
                     f"{args.stage}-{args.speaker}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
