"""Speed, side by side: this project's pipeline and the LipNet tutorial's, on a real clip.

    python bench.py                                  # a table
    python bench.py --json artifacts/bench.json      # and the figures as JSON
    python bench.py --json - > bench.json            # the JSON to stdout, the table to stderr

For one 3 s GRID clip, from file to sentence (warm, the median of several runs): ours
with the mouth found by face landmarks (the default crop) and with the tutorial's fixed
window, stage by stage (reading: decode + 25 fps resampling; mouth: landmarks + warp, or
the fixed slice; network; decoding), beside the tutorial's (its load_video, network,
decoding). Then the network alone, throughput in clips/s at several batch sizes,
training samples/s (a few steps on random batches with each side's loss), and peak
memory. Each side runs in its own process, so that its peak memory is its own.

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

import cliutil

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
TARGET = 0.20  # s, one clip file to sentence with landmarks, warm, on 2 cores (the issue's)

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


def parse_args(argv=None):
    p = cliutil.parser(PROG, __doc__)
    cliutil.add_data_dir(p, DATA_DIR)
    p.add_argument("--clip", default=CLIP, help="a clip name of the data dir, or a video file")
    p.add_argument("--runs", type=int, default=RUNS,
                   help="timed runs of each latency after a warm-up one; the median is shown")
    p.add_argument("--batches", default=BATCHES, help="throughput batch sizes, ours")
    p.add_argument("--tutorial-batches", default=TUTORIAL_BATCHES,
                   help="throughput batch sizes, the tutorial's")
    p.add_argument("--throughput-runs", type=int, default=THROUGHPUT_RUNS,
                   help="timed batches per batch size, after a warm-up one")
    p.add_argument("--train-steps", type=int, default=TRAIN_STEPS,
                   help="timed training steps, ours, after a warm-up one")
    p.add_argument("--train-batch", type=int, default=TRAIN_BATCH, help="training batch, ours")
    p.add_argument("--tutorial-train-steps", type=int, default=TUTORIAL_TRAIN_STEPS,
                   help="timed training steps, the tutorial's (0: not measured)")
    p.add_argument("--tutorial-train-batch", type=int, default=TUTORIAL_TRAIN_BATCH,
                   help="training batch, the tutorial's")
    p.add_argument("--weights", default=WEIGHTS,
                   help="our weights; None: models/lipnet.weights.h5 if there, else random")
    p.add_argument("--target", type=float, default=TARGET,
                   help="seconds, one clip file to sentence with landmarks: reported, met or "
                   "missed")
    p.add_argument("--json", dest="json_out", default=None,
                   help="write the figures here as JSON; '-': to stdout (the table to stderr)")
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
        if args.json_out and args.json_out != "-":
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
    land, fixed = ours["crops"]["landmarks"], ours["crops"]["fixed"]
    result = {
        "clip": str(args.clip_path),
        "runs": args.runs,
        "clip_latency_s": land["clip_latency_s"],  # the landmark crop: the default
        "fixed_clip_latency_s": fixed["clip_latency_s"],
        "tutorial_clip_latency_s": tutorial["clip_latency_s"],
        "speedup": tutorial["clip_latency_s"] / land["clip_latency_s"],
        "fixed_speedup": tutorial["clip_latency_s"] / fixed["clip_latency_s"],
        "network_speedup": tutorial["network_s"] / ours["network_s"],
        "target_s": args.target,
        "target_met": land["clip_latency_s"] <= args.target,
        "ours": ours,
        "tutorial": tutorial,
        "machine": {"cpus": os.cpu_count(), "load_average": load,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": ours.pop("tensorflow")},
        "command": " ".join([PROG, *argv]),
    }
    tutorial.pop("tensorflow", None)
    emit(result, args.json_out)
    return 0


def emit(result: dict, json_out: str | None) -> None:
    """The table and summary (to stderr when the JSON goes to stdout), and the JSON."""
    report = sys.stderr if json_out == "-" else sys.stdout
    print(table(result), file=report)
    print(summary(result), file=report, flush=True)
    if json_out == "-":
        print(json.dumps(result, indent=1), flush=True)
    elif json_out:
        tmp = Path(f"{json_out}.partial")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, json_out)


if __name__ == "__main__":
    sys.exit(cli())
