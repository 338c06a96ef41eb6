"""The benchmark's report: the side-by-side table, the summary lines, the JSON."""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path


def fmt(value, unit="", digits=3):
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.2f} ms" if value < 0.01 else f"{value:.{digits}f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(result: dict) -> str:
    """The side-by-side table: each row a label, our landmark and fixed-crop figures, the
    tutorial's, and the tutorial's time over ours (or our rate over its) for each crop."""
    ours, tut = result["ours"], result["tutorial"]
    land, fixed = ours["crops"]["landmarks"], ours["crops"]["fixed"]
    rows = [("", "ours, landmarks", "ours, fixed crop", "tutorial", "speedup",
             "speedup, fixed")]

    def ratio(a, b, kind):
        if kind is None or not a or not b:
            return "-"
        return f"{(b / a if kind == 'time' else a / b):.1f}x"

    def row(label, a, f, b, unit="", kind=None):
        rows.append((label, fmt(a, unit), fmt(f, unit), fmt(b, unit), ratio(a, b, kind),
                     ratio(f, b, kind)))

    def stage(crop, *keys):
        return sum(crop["stages_s"][k] for k in keys)

    row(f"one clip, file to sentence (median of {result['runs']})", land["clip_latency_s"],
        fixed["clip_latency_s"], tut["clip_latency_s"], "s", "time")
    row("  reading (decode, 25 fps)", stage(land, "read"), stage(fixed, "read"), None, "s")
    row("  mouth (landmarks + warp / slice)", stage(land, "mouth"), stage(fixed, "mouth"),
        None, "s")
    row("  reading + mouth (tutorial: load_video)", stage(land, "read", "mouth"),
        stage(fixed, "read", "mouth"), tut["stages_s"]["load"], "s", "time")
    row("  network", stage(land, "network"), stage(fixed, "network"),
        tut["stages_s"]["network"], "s", "time")
    row("  greedy decoding", stage(land, "decode"), stage(fixed, "decode"),
        tut["stages_s"]["decode"], "s")
    row("  same clip, grammar decoder", land["clip_latency_grammar_s"],
        fixed["clip_latency_grammar_s"], None, "s")
    row("network alone, 1 clip", ours["network_s"], None, tut["network_s"], "s", "time")
    sizes = sorted({int(b) for b in ours["throughput_clips_per_s"]}
                   | {int(b) for b in tut["throughput_clips_per_s"]})
    for b in sizes:
        row(f"throughput at batch {b}, clips/s", ours["throughput_clips_per_s"].get(str(b)),
            None, tut["throughput_clips_per_s"].get(str(b)), "", "rate")
    row(f"training, samples/s (batch {ours['train_batch']} / {tut['train_batch']})",
        ours["train_samples_per_s"], None, tut["train_samples_per_s"], "", "rate")
    row("peak memory, inference (RSS)", ours["peak_rss_inference_mb"], None,
        tut["peak_rss_inference_mb"], "MB")
    row("peak memory, with training (RSS)", ours["peak_rss_mb"], None, tut["peak_rss_mb"],
        "MB")
    if result.get("largest_input"):
        big = result["largest_input"]
        row(f"peak memory, one {big['size']} clip (the largest read)", big["peak_rss_mb"], None,
            None, "MB")
    rows.append(("parameters", f"{ours['parameters'] / 1e6:.2f} M", "-",
                 f"{tut['parameters'] / 1e6:.2f} M", "-", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
             for r in rows]
    m = result["machine"]
    head = (f"{result['clip']}: {m['cpus']} CPU cores, load average {m['load_average'][0]:.1f} "
            f"at start, TensorFlow {m.get('tensorflow', '?')}; ours: {ours['weights']}; "
            "both crops run the same network (its rows: fixed crop -)")
    said = [f"ours, {name} crop, says {c['sentence_greedy']!r} (greedy), "
            f"{c['sentence_grammar']!r} (grammar)" for name, c in ours["crops"].items()]
    return "\n".join([head, *lines, *said])


def summary(result: dict) -> str:
    target, took = result["target_s"], result["clip_latency_s"]
    return (f"speedup, file to sentence: {result['speedup']:.1f}x with landmarks, "
            f"{result['fixed_speedup']:.1f}x with the fixed crop (network alone: "
            f"{result['network_speedup']:.1f}x)\n"
            f"target, one clip file to sentence with landmarks <= {target:.2f} s: "
            f"{'met' if took <= target else 'MISSED'} ({took:.3f} s, warm, median of "
            f"{result['runs']})")


def emit(result: dict, json_out: str | None) -> None:
    """The table and summary (to stderr when the JSON goes to stdout), and the JSON."""
    report = sys.stderr if json_out == "-" else sys.stdout
    print(table(result), file=report)
    print(summary(result), file=report, flush=True)
    write_json(result, json_out)


def write_json(result: dict, json_out: str | None) -> None:
    """The JSON to stdout ('-'), or to a file, whole or not at all."""
    if json_out == "-":
        print(json.dumps(result, indent=1), flush=True)
    elif json_out:  # whole or not at all, under a name no other run uses
        tmp = Path(json_out).with_name(f".{Path(json_out).name}.{uuid.uuid4().hex}.partial")
        try:
            tmp.write_text(json.dumps(result, indent=1))
            os.replace(tmp, json_out)
        finally:
            tmp.unlink(missing_ok=True)
