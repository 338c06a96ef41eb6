"""Teaching a stranger: how the shipped teaching (lipread/enroll/teach.py: one take in five
held out to judge it, the general reader kept when it is no better) reads a speaker no
setting was chosen on, as the number of sentences grows, on clips held out of everything.

    python -m experiments curve run --speaker s4 --folds 2,3,4 --ns 5,9,15,20,30,40
    python -m experiments curve run --speaker s4 --folds 0,1 --ns 9,20 --order random
    python -m experiments curve table --speaker s4
    python -m experiments curve run --speaker s26 --fold-size 1 --folds 0,1,2,3,4,5,6,7,8,9 --ns 9

Folds: the speaker's clips in a fixed shuffled order (SEED); fold k holds out clips
10k..10k+9, read by the general reader and by the taught one (grammar decoder, 60 words:
one word 1.7 points); the other clips are the pool, of which n are taught: the first n by
coverage (each next clip the one that adds most words not yet taught, as the prompts do)
or in the pool's own (random) order. On s4 (fifty clips) folds 0 and 1 choose, 2, 3 and 4
report. `--config`: `default` (lipread enroll's), or experiments/enroll_study's form
(method:lr[:tempo[:epochs[:field=value]]]). Each teaching appends one JSON line to --out;
a rerun skips what is there.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lipread import grid
from lipread.enroll import adapt, judge, teach

OUT = Path("artifacts/teach-curve.jsonl")
SEED = 0  # of the clips' order
FOLD = 10  # clips held out of everything, read to score


def clips_of(data_dir: Path, speaker: str):
    """(names in the fixed shuffled order, uint8 crops with margin, sentences)."""
    from lipread.training import dataset

    names = grid.list_clips(data_dir, [speaker])
    names = [names[i] for i in np.random.default_rng(SEED).permutation(len(names))]
    arrays = dataset.load_clip_arrays(data_dir, names, log=None)
    order = [list(arrays.names).index(n) for n in names]
    sentences = [grid.load_sentence(grid.alignment_path(data_dir, n)) for n in names]
    return names, np.asarray(arrays.frames)[order], sentences


def by_coverage(pool: list[int], sentences: list[str]) -> list[int]:
    """The pool reordered: each next clip the one adding most words not yet taught (ties:
    the pool's order)."""
    left, seen, out = list(pool), set(), []
    while left:
        best = max(left, key=lambda i: len(set(sentences[i].split()) - seen))
        out.append(best)
        seen |= set(sentences[best].split())
        left.remove(best)
    return out


def settings_of(config: str) -> adapt.Settings:
    if config == "default":
        return adapt.Settings()
    from experiments.enroll_study import settings_of as study_settings

    return study_settings(config)


def errors(readings) -> int:
    return sum(r["word_errors"] for r in readings)


def run(args) -> None:
    from lipread.model import loader

    out = Path(args.out)
    done = {(r["speaker"], r["config"], r["order"], r["n"], r["fold"])
            for r in lines(out)}
    names, crops, sentences = clips_of(Path(args.data_dir), args.speaker)
    base = loader.load_model("lipnet")
    for f in map(int, args.folds.split(",")):
        tested = list(range(f * args.fold_size, (f + 1) * args.fold_size))
        pool = [i for i in range(len(names)) if i not in tested]
        if args.order == "coverage":
            pool = by_coverage(pool, sentences)
        general = [judge.read_take(base, crops[i], sentences[i]) for i in tested]
        for n in map(int, args.ns.split(",")):
            key = (args.speaker, args.config, args.order, n, f)
            if key in done or n > len(pool):
                continue
            taught_ids = pool[:n]
            t0 = time.perf_counter()
            taught = teach.learn(crops[taught_ids], [sentences[i] for i in taught_ids],
                                 settings_of(args.config), base, log=None)
            seconds = time.perf_counter() - t0
            after = [judge.read_take(taught.adapted.model, crops[i], sentences[i])
                     for i in tested]
            kept = taught.verdict["kept"]
            declined = taught.declined and errors(  # the taught reader, when STATS is kept
                [judge.read_take(taught.declined.model, crops[i], sentences[i]) for i in tested])
            row = {"speaker": args.speaker, "config": args.config, "order": args.order,
                   "n": n, "fold": f, "words": sum(r["words"] for r in general),
                   "general_errors": errors(general),
                   "taught_errors": errors(after) if declined is None else declined,
                   "used_errors": errors(after) if kept else errors(general), "kept": kept,
                   "verdict": taught.verdict, "seconds": round(seconds, 1),
                   "method": taught.adapted.settings.method, "declined_errors": declined,
                   "epochs": taught.adapted.epochs, "tempo": taught.adapted.tempo,
                   "held_losses": [round(x, 3) for x in taught.adapted.held_losses[:1]
                                   + taught.adapted.held_losses[-1:]],
                   "taught": [names[i] for i in taught_ids]}
            with open(out, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"fold {f} n {n:>2}: general {row['general_errors']}/{row['words']}, "
                  f"taught {row['taught_errors']}, used {row['used_errors']} "
                  f"({row['method'] + ' kept' if kept else 'general kept'}"
                  + (f"; the taught one read {declined}" if taught.declined else "")
                  + f"), {seconds:.0f} s", flush=True)


def lines(out: Path) -> list[dict]:
    if not out.is_file():
        return []
    return [json.loads(x) for x in out.read_text().splitlines() if x.strip()]


def table(args) -> str:
    """Per configuration and order: the mean held-out WER over the folds run, per n."""
    rows = [r for r in lines(Path(args.out)) if r["speaker"] == args.speaker]
    groups = {}
    for r in rows:
        groups.setdefault((r["config"], r["order"]), {}).setdefault(r["n"], []).append(r)
    text = []
    for (config, order), by_n in sorted(groups.items()):
        ns = sorted(by_n)
        text.append(f"\n{args.speaker}, {config}, {order}:")
        text.append("| | untaught | " + " | ".join(f"{n} clips" for n in ns) + " |")
        text.append("|---|---:|" + "---:|" * len(ns))
        first = by_n[ns[0]]
        words = sum(r["words"] for r in first)
        text.append(f"| WER (folds {','.join(str(r['fold']) for r in first)}) | "
                    f"{100 * sum(r['general_errors'] for r in first) / words:.1f}% | "
                    + " | ".join(wer(by_n[n], 'used_errors') for n in ns) + " |")
        text.append("| taught, kept or not | | "
                    + " | ".join(wer(by_n[n], 'taught_errors') for n in ns) + " |")
        text.append("| kept | | " + " | ".join(
            f"{sum(r['kept'] for r in by_n[n])}/{len(by_n[n])}" for n in ns) + " |")
        text.append("| seconds (mean) | | " + " | ".join(
            f"{np.mean([r['seconds'] for r in by_n[n]]):.0f}" for n in ns) + " |")
    return "\n".join(text)


def wer(rows, key) -> str:
    words = sum(r["words"] for r in rows)
    return f"{100 * sum(r[key] for r in rows) / words:.1f}% ({len(rows)})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments curve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("run", "table"))
    p.add_argument("--speaker", default="s4")
    p.add_argument("--data-dir", default=os.environ.get("LIPREAD_OTHERS_DIR"))
    p.add_argument("--folds", default="2,3,4")
    p.add_argument("--ns", default="5,9,15,20,30,40")
    p.add_argument("--fold-size", type=int, default=FOLD,
                   help="clips a fold holds out (1 with --ns 9 on ten clips: leave-one-out)")
    p.add_argument("--order", choices=("coverage", "random"), default="coverage")
    p.add_argument("--config", default="default")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    if args.what == "table":
        print(table(args))
        return 0
    if not args.data_dir:
        p.error("give --data-dir (the speakers' folder), or set LIPREAD_OTHERS_DIR")
    run(args)
    return 0
