"""Speed, side by side: this project's pipeline and the LipNet tutorial's, on a real clip.

    python bench.py                                  # a table
    python bench.py --json artifacts/bench.json      # and the figures as JSON

For one 3 s GRID clip, from file to sentence (warm, the median of several runs), for
each pipeline: reading and preprocessing, the network, decoding. Then the network
alone, throughput in clips/s at several batch sizes, training samples/s (a few steps on
random batches with each side's loss), and peak memory. Each side runs in its own
process, so that its peak memory is its own.

The tutorial's pipeline is reproduced from its code: cv2.VideoCapture, a per-frame
tf.image.rgb_to_grayscale, the crop frame[190:236, 80:220, :], mean/std normalisation
with TF ops, model.predict of its network (modelutil.build_tutorial, random weights:
speed does not depend on them), and greedy CTC decoding with Keras' ctc_decode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

# --- defaults (each one a flag) ---------------------------------------------
DATA_DIR = None  # None: $LIPREAD_DATA_DIR, then data/
CLIP = "bbaf2n"  # a 75-frame MPEG-1 clip of the test split, as the tutorial reads them
RUNS = 5  # timed runs of each latency, after a warm-up one; the median is reported
BATCHES = "1,8,32"  # throughput batch sizes of this project's network
# The tutorial's network at batch 32 needs ~8 GB for its first layer's output alone,
# and a minute a batch on 2 cores: 1 and 8 tell the same story.
TUTORIAL_BATCHES = "1,8"
THROUGHPUT_RUNS = 2  # timed batches per batch size, after a warm-up one
TRAIN_STEPS = 3  # timed training steps, after a warm-up (compiling) one
TRAIN_BATCH = 8  # train.py's batch size
TUTORIAL_TRAIN_STEPS = 1  # ~15x slower than ours: one step says enough
TUTORIAL_TRAIN_BATCH = 2  # the tutorial's padded_batch(2)
WEIGHTS = None  # None: models/lipnet.weights.h5 when present, else random weights

PROG = "bench.py"


# --- the report ---------------------------------------------------------------

def fmt(value, unit="", digits=3):
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.2f} ms" if value < 0.01 else f"{value:.{digits}f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(result: dict) -> str:
    ours, tut = result["ours"], result["tutorial"]
    rows = [("", "this project", "tutorial", "speedup")]

    def row(label, a, b, unit="", ratio=None):
        r = "-" if ratio is None or a is None or b is None or not a or not b else \
            f"{(b / a if ratio == 'time' else a / b):.1f}x"
        rows.append((label, fmt(a, unit), fmt(b, unit), r))

    row(f"one clip, file to sentence (median of {result['runs']})",
        ours["clip_latency_s"], tut["clip_latency_s"], "s", "time")
    for stage, label in (("load", "  reading + preprocessing"), ("network", "  network"),
                         ("decode", "  greedy decoding")):
        row(label, ours["stages_s"][stage], tut["stages_s"][stage], "s",
            None if stage == "decode" else "time")
    row("  same, grammar decoder", ours["clip_latency_grammar_s"], None, "s")
    row("network alone, 1 clip", ours["network_s"], tut["network_s"], "s", "time")
    sizes = sorted({int(b) for b in ours["throughput_clips_per_s"]}
                   | {int(b) for b in tut["throughput_clips_per_s"]})
    for b in sizes:
        row(f"throughput at batch {b}, clips/s", ours["throughput_clips_per_s"].get(str(b)),
            tut["throughput_clips_per_s"].get(str(b)), "", "rate")
    row(f"training, samples/s (batch {ours['train_batch']} / {tut['train_batch']})",
        ours["train_samples_per_s"], tut["train_samples_per_s"], "", "rate")
    row("peak memory, inference (RSS)", ours["peak_rss_inference_mb"],
        tut["peak_rss_inference_mb"], "MB")
    row("peak memory, with training (RSS)", ours["peak_rss_mb"], tut["peak_rss_mb"], "MB")
    rows.append(("parameters", f"{ours['parameters'] / 1e6:.2f} M",
                 f"{tut['parameters'] / 1e6:.2f} M", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
             for r in rows]
    m = result["machine"]
    head = (f"{result['clip']}: {m['cpus']} CPU cores, load average {m['load_average'][0]:.1f} "
            f"at start, TensorFlow {m.get('tensorflow', '?')}; ours: {ours['weights']}")
    sentences = (f"ours says {ours['sentence_greedy']!r} (greedy), "
                 f"{ours['sentence_grammar']!r} (grammar)")
    return "\n".join([head, *lines, sentences])


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--clip", default=CLIP, help="a clip name of the data dir, or a video file")
    p.add_argument("--runs", type=int, default=RUNS)
    p.add_argument("--batches", default=BATCHES)
    p.add_argument("--tutorial-batches", default=TUTORIAL_BATCHES)
    p.add_argument("--throughput-runs", type=int, default=THROUGHPUT_RUNS)
    p.add_argument("--train-steps", type=int, default=TRAIN_STEPS)
    p.add_argument("--train-batch", type=int, default=TRAIN_BATCH)
    p.add_argument("--tutorial-train-steps", type=int, default=TUTORIAL_TRAIN_STEPS)
    p.add_argument("--tutorial-train-batch", type=int, default=TUTORIAL_TRAIN_BATCH)
    p.add_argument("--weights", default=WEIGHTS)
    p.add_argument("--json", dest="json_out", default=None, help="write the figures here")
    p.add_argument("--side", choices=("ours", "tutorial"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b]
        args.tutorial_batches = [int(b) for b in args.tutorial_batches.split(",") if b]
    except ValueError:
        p.error("--batches and --tutorial-batches take comma-separated integers, e.g. 1,8,32")
    if args.runs < 1 or args.throughput_runs < 1 or args.train_steps < 1:
        p.error("--runs, --throughput-runs and --train-steps must be at least 1")
    return args


def resolve_clip(args) -> Path:
    import utils

    if Path(args.clip).suffix:
        path = Path(args.clip)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return path
    return utils.video_path(utils.resolve_data_dir(args.data_dir), args.clip)


def run_side(side: str, argv: list[str]) -> dict:
    """One side in a child process of its own: its figures, its own peak memory."""
    proc = subprocess.run([sys.executable, __file__, *argv, "--side", side],
                          stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"the {side} measurement failed (exit status {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import utils

    try:
        args.clip_path = resolve_clip(args)
        frames = len(utils.read_gray_frames(args.clip_path))
        if frames != utils.N_FRAMES:  # the tutorial's network takes exactly 75 frames
            raise utils.VideoError(f"{args.clip_path}: {frames} frames; the benchmark needs "
                                   f"a {utils.N_FRAMES}-frame clip (the tutorial's pipeline "
                                   "takes no other)")
        if args.json_out:
            Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2

    if args.side:  # a child: measure one side, print it as one JSON line
        import tensorflow as tf

        import bench_pipelines

        measure = (bench_pipelines.measure_ours if args.side == "ours"
                   else bench_pipelines.measure_tutorial)
        r = measure(args)
        r["tensorflow"] = tf.__version__
        print(json.dumps(r))
        return 0

    load = os.getloadavg()
    try:
        ours = run_side("ours", argv)
        tutorial = run_side("tutorial", argv)
    except RuntimeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    result = {
        "clip": str(args.clip_path),
        "runs": args.runs,
        "clip_latency_s": ours["clip_latency_s"],
        "tutorial_clip_latency_s": tutorial["clip_latency_s"],
        "speedup": tutorial["clip_latency_s"] / ours["clip_latency_s"],
        "network_speedup": tutorial["network_s"] / ours["network_s"],
        "ours": ours,
        "tutorial": tutorial,
        "machine": {"cpus": os.cpu_count(), "load_average": load,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": ours.pop("tensorflow")},
        "command": " ".join([PROG, *argv]),
    }
    tutorial.pop("tensorflow", None)
    print(table(result))
    print(f"speedup, file to sentence: {result['speedup']:.1f}x "
          f"(network alone: {result['network_speedup']:.1f}x)")
    if args.json_out:
        tmp = Path(f"{args.json_out}.partial")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
