"""The enrollment study's tally: its lines (artifacts/enroll-study.jsonl, one per
adaptation, experiments/enroll_study.py) summed per stage, configuration and number of
clips enrolled; the README's tables; the configuration a choose stage picks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def lines_of(out) -> list[dict]:
    """The study's lines so far (none when the file is not there yet)."""
    if not Path(out).is_file():
        return []
    return [json.loads(line) for line in Path(out).read_text().splitlines() if line.strip()]


def summary(out) -> list[dict]:
    """WER per (tag, config, n) over the folds run: before, after early stopping (or
    FIXED_EPOCHS without a held-out clip), and after each fixed number of epochs."""
    table = {}
    for r in lines_of(out):
        key = (r["tag"], r["config"], r["n"])
        t = table.setdefault(key, {"tag": key[0], "config": key[1], "n": key[2], "folds": 0,
                                   "before": 0, "after": 0, "words": 0, "seconds": 0.0,
                                   "by_epoch": None})
        t["folds"] += 1
        t["before"] += r["edits_before"]
        t["after"] += r["edits_after"]
        t["words"] += r["words"]
        t["seconds"] += r["seconds"]
        edits = np.asarray(r["edits_by_epoch"])
        t["by_epoch"] = edits if t["by_epoch"] is None else \
            t["by_epoch"][:len(edits)] + edits[:len(t["by_epoch"])]
    return [{**t, "wer_before": t["before"] / t["words"], "wer_after": t["after"] / t["words"],
             "wer_by_epoch": [round(e / t["words"], 4) for e in t.pop("by_epoch")],
             "seconds_per_fold": t["seconds"] / t["folds"]} for t in table.values()]


def table(out) -> str:
    """The README's tables in Markdown: the choose stage per configuration and speaker
    (WER with early stopping, and after 40 epochs), the reports, and the curves."""
    rows, lines = summary(out), []
    by_config = {(t["config"], t["tag"][-3:]): t for t in rows if t["tag"].startswith("choose")}
    configs = list(dict.fromkeys(c for c, _ in by_config))

    def cell(t):
        if t is None:
            return "-"
        last = t["wer_by_epoch"][-1] if len(t["wer_by_epoch"]) > 1 else t["wer_after"]
        return f"{t['wer_after']:.1%} / {last:.1%}"
    general = {spk: next((t["wer_before"] for (c, s), t in by_config.items() if s == spk), None)
               for spk in ("s26", "s31")}
    lines += ["| method:lr:tempo | s26: stopped / 40 epochs | s31: stopped / 40 epochs | "
              "s a fold |", "|---|---|---|---|",
              "| none (the general reader) | " + " | ".join(
                  f"{general[s]:.1%}" if general[s] is not None else "-"
                  for s in ("s26", "s31")) + " | - |"]
    for c in configs:
        a, b = by_config.get((c, "s26")), by_config.get((c, "s31"))
        secs = [t["seconds_per_fold"] for t in (a, b) if t]
        lines.append(f"| {c} | {cell(a)} | {cell(b)} | {sum(secs) / len(secs):.0f} |")
    lines += ["", "| stage | configuration | clips enrolled | folds | words read | WER before "
              "| WER after |", "|---|---|---|---|---|---|---|"]
    for t in sorted((t for t in rows if not t["tag"].startswith("choose")),
                    key=lambda t: (t["tag"], t["n"])):
        lines.append(f"| {t['tag']} | {t['config']} | {t['n']} | {t['folds']} | {t['words']} "
                     f"| {t['wer_before']:.1%} | {t['wer_after']:.1%} |")
    return "\n".join(lines)


def chosen(out, speaker: str) -> str:
    """The configuration the choose stage on `speaker` picks: the lowest WER over its
    configurations and rules (early stopping, or a fixed 10, 15, ... 40 epochs), as the
    `method:lr:tempo[:epochs]` the report and curve stages take (ties: the first)."""
    best = None
    for t in summary(out):
        if t["tag"] != f"choose-{speaker}":
            continue
        method, lr, *rest = t["config"].split(":")
        base = f"{method}:{lr}:{rest[0] if rest else '1.0'}"
        options = [(t["wer_after"], base)] + [
            (wer, f"{base}:{e}") for e, wer in enumerate(t["wer_by_epoch"])
            if e >= 10 and e % 5 == 0]
        for wer, config in options:
            if best is None or wer < best[0]:
                best = (wer, config)
    if best is None:
        raise ValueError(f"no choose-{speaker} lines in {out}: run the choose stage first")
    return best[1]


def report(out) -> str:
    """`summary`'s lines: each (stage, configuration, n), then what each choose stage picked."""
    lines = []
    for t in sorted(summary(out), key=lambda t: (t["tag"], t["n"], t["wer_after"])):
        curve = t["wer_by_epoch"]
        fixed = " ".join(f"{e}:{curve[e]:.0%}" for e in range(5, len(curve), 5))
        lines.append(f"{t['tag']:12} {t['config']:16} n={t['n']} folds={t['folds']} "
                     f"WER {t['wer_before']:.1%} -> {t['wer_after']:.1%} stopped; after "
                     f"epochs {fixed} ({t['words']} words, "
                     f"{t['seconds_per_fold']:.0f} s a fold)")
    for speaker in ("s26", "s31"):
        try:
            lines.append(f"chosen on {speaker}: {chosen(out, speaker)}")
        except ValueError:
            pass
    return "\n".join(lines)
