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
    """The side-by-side tables: per clip (ours under ONNX Runtime and under Keras with the
    landmark crop, Keras with the fixed crop, the tutorial's, the tutorial's time over
    ONNX Runtime's), then cold starts and install sizes where measured."""
    onnx, ours, tut = result["onnx"], result["ours"], result["tutorial"]
    on, land, fixed = onnx["crops"]["landmarks"], ours["crops"]["landmarks"], \
        ours["crops"]["fixed"]
    rows = [("", "ONNX, landmarks", "Keras, landmarks", "Keras, fixed crop", "tutorial",
             "speedup")]

    def ratio(a, b, kind):
        if kind is None or not a or not b:
            return "-"
        return f"{(b / a if kind == 'time' else a / b):.1f}x"

    def row(label, o, a, f, b, unit="", kind=None):
        rows.append((label, fmt(o, unit), fmt(a, unit), fmt(f, unit), fmt(b, unit),
                     ratio(o, b, kind)))

    def stage(crop, *keys):
        return sum(crop["stages_s"][k] for k in keys)

    row(f"one clip, file to sentence (median of {result['runs']})", on["clip_latency_s"],
        land["clip_latency_s"], fixed["clip_latency_s"], tut["clip_latency_s"], "s", "time")
    row("  reading (decode, 25 fps)", stage(on, "read"), stage(land, "read"),
        stage(fixed, "read"), None, "s")
    row("  mouth (landmarks + warp / slice)", stage(on, "mouth"), stage(land, "mouth"),
        stage(fixed, "mouth"), None, "s")
    row("  reading + mouth (tutorial: load_video)", stage(on, "read", "mouth"),
        stage(land, "read", "mouth"), stage(fixed, "read", "mouth"),
        tut["stages_s"]["load"], "s", "time")
    row("  network", stage(on, "network"), stage(land, "network"), stage(fixed, "network"),
        tut["stages_s"]["network"], "s", "time")
    row("  greedy decoding", stage(on, "decode"), stage(land, "decode"),
        stage(fixed, "decode"), tut["stages_s"]["decode"], "s")
    row("  same clip, grammar decoder", on["clip_latency_grammar_s"],
        land["clip_latency_grammar_s"], fixed["clip_latency_grammar_s"], None, "s")
    row("network alone, 1 clip", onnx["network_s"], ours["network_s"], None, tut["network_s"],
        "s", "time")
    sizes = sorted({int(b) for b in ours["throughput_clips_per_s"]}
                   | {int(b) for b in tut["throughput_clips_per_s"]})
    for b in sizes:
        row(f"throughput at batch {b}, clips/s", onnx["throughput_clips_per_s"].get(str(b)),
            ours["throughput_clips_per_s"].get(str(b)), None,
            tut["throughput_clips_per_s"].get(str(b)), "", "rate")
    row(f"training, samples/s (batch {ours['train_batch']} / {tut['train_batch']})", None,
        ours["train_samples_per_s"], None, tut["train_samples_per_s"], "")
    row("peak memory, inference (RSS)", onnx["peak_rss_inference_mb"],
        ours["peak_rss_inference_mb"], None, tut["peak_rss_inference_mb"], "MB")
    row("peak memory, with training (RSS)", None, ours["peak_rss_mb"], None,
        tut["peak_rss_mb"], "MB")
    if result.get("largest_input"):
        big = result["largest_input"]
        row(f"peak memory, one {big['size']} clip (the largest read; Keras)", None,
            big["peak_rss_mb"], None, None, "MB")
    rows.append(("parameters", f"{ours['parameters'] / 1e6:.2f} M", "same", "same",
                 f"{tut['parameters'] / 1e6:.2f} M", "-"))
    m = result["machine"]
    head = (f"{result['clip']}: {m['cpus']} CPU cores, load average {m['load_average'][0]:.1f} "
            f"at start, ONNX Runtime {onnx.get('onnxruntime', '?')}, TensorFlow "
            f"{m.get('tensorflow', '?')}; ours: {ours['weights']}; training stack imported "
            f"by the ONNX side: {', '.join(onnx.get('training_stack_imported', [])) or 'none'}")
    said = [f"ours, {name}, says {c['sentence_greedy']!r} (greedy), "
            f"{c['sentence_grammar']!r} (grammar)" for name, c in
            [("ONNX Runtime, landmarks", on), ("Keras, landmarks", land),
             ("Keras, fixed crop", fixed)]]
    return "\n".join([head, *columns(rows), *said, *cold_table(result),
                      *sizes_table(result.get("install_sizes"))])


def columns(rows) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
            for r in rows]


def cold_table(result: dict) -> list[str]:
    cold = result.get("cold_start") or {}
    if not cold.get("predict") and not cold.get("page"):
        return []
    rows = [("cold start (median of runs)", "ONNX Runtime", "Keras/TensorFlow", "speedup")]
    predict = {c["runtime"]: c for c in cold.get("predict", [])}
    page = {c["runtime"]: c for c in cold.get("page", [])}

    def pair(d, key, unit):
        o, k = d.get("onnx", {}).get(key), d.get("keras", {}).get(key)
        return fmt(o, unit), fmt(k, unit), (f"{k / o:.1f}x" if o and k and unit == "s"
                                            else "-")

    if predict:
        runs = next(iter(predict.values()))["runs"]
        rows.append((f"lipread predict, one clip: process start to exit ({runs} runs)",
                     *pair(predict, "median_s", "s")))
        rows.append(("  its peak memory (RSS)", *pair(predict, "peak_rss_mb", "MB")))
    if page:
        runs = next(iter(page.values()))["runs"]
        rows.append((f"the page, fresh server: first visit to sentence ({runs} servers)",
                     *pair(page, "first_reading_s", "s")))
        rows.append(("  the server's start to its health check", *pair(page, "server_start_s",
                                                                         "s")))
    return ["", *columns(rows)]


def sizes_table(sizes: dict | None) -> list[str]:
    if not sizes:
        return []
    rows = [("install size (a fresh venv)", "GiB", "GB", "bytecode", "packages", "largest")]
    for name, s in sizes.items():
        top = ", ".join(f"{n} {b / 2 ** 20:.0f} MiB" for n, b in s["largest"][:3])
        rows.append((f"{name} ({s['requirements']})", f"{s['bytes'] / 2 ** 30:.2f}",
                     f"{s['bytes'] / 1e9:.2f}", f"{s['pyc_bytes'] / 2 ** 20:.0f} MiB",
                     str(s["packages"]), top))
    return ["", *columns(rows)]


def summary(result: dict) -> str:
    lines = [f"speedup, file to sentence: {result['speedup']:.1f}x with landmarks (ONNX "
             f"Runtime; Keras {result['keras_speedup']:.1f}x), {result['fixed_speedup']:.1f}x "
             f"with the fixed crop (network alone: {result['network_speedup']:.1f}x)"]
    for t in result["targets"]:
        value = "not measured" if t["figure"] is None else f"{t['figure']:.3f} {t['unit']}"
        state = {None: "-", True: "met", False: "MISSED"}[t["met"]]
        sign = ">=" if t.get("at_least") else "<="
        lines.append(f"target, {t['target']} {sign} {t['limit']:g} {t['unit']}: {state} ({value})")
    return "\n".join(lines)


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
