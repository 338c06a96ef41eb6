"""Speed beside the LipNet tutorial's pipeline on a real clip; cold starts; install sizes.

This project's pipeline (ONNX Runtime and Keras) and the tutorial's, side by side. Run
from the repository's root:

    python -m benchmarks                               # a table
    python -m benchmarks --json artifacts/bench.json   # and the figures as JSON
    python -m benchmarks --json - > bench.json         # the JSON to stdout, the table to stderr
    python -m benchmarks --sizes                       # and each requirements set's size
    python -m benchmarks --live                        # the Live page (benchmarks/live.py)

For one 3 s GRID clip, from file to sentence (warm, the median of several runs): ours
with the mouth found by face landmarks (the default crop) and with the tutorial's fixed
window, stage by stage (reading: decode + 25 fps resampling; mouth: landmarks + warp, or
the fixed slice; network; decoding), beside the tutorial's (its load_video, network,
decoding). Then the network alone, throughput in clips/s at several batch sizes,
training samples/s (a few steps on random batches with each side's loss), and peak
memory. Each side runs in its own process, so that its peak memory is its own.

The tutorial's pipeline is reproduced from its code: cv2.VideoCapture, a per-frame
tf.image.rgb_to_grayscale, the crop frame[190:236, 80:220, :], mean/std normalisation
with TF ops, model.predict of its network (networks.build_tutorial, random weights:
speed does not depend on them), and greedy CTC decoding with Keras' ctc_decode.

Ours runs twice: under ONNX Runtime (reading's default: no TensorFlow imported) and under
Keras/TensorFlow (--runtime keras, and training). Cold starts (benchmarks/coldstart.py):
`lipread predict` on the clip in fresh processes, and a fresh page server's first reading in
Chromium (--page-runs 0: not measured), with each runtime. --sizes installs each
requirements set into a temp venv and measures it (benchmarks/installs.py; minutes).
The summary says, for each of the targets below, met or MISSED.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import coldstart, installs, live, report
from lipread import grid, video
from lipread.cli import common

# --- defaults (each one a flag) ---------------------------------------------
CLIP = "bbaf2n"  # a 75-frame MPEG-1 clip of the test split, as the tutorial reads them
RUNS = 5  # timed runs of each latency, after a warm-up one; the median is reported
BATCHES = "1,8,32"  # throughput batch sizes of this project's network
# The tutorial's network at batch 32 needs ~8 GB for its first layer's output alone,
# and a minute a batch on 2 cores: 1 and 8 tell the same story.
TUTORIAL_BATCHES = "1,8"
THROUGHPUT_RUNS = 2  # timed batches per batch size, after a warm-up one
TRAIN_STEPS = 3  # timed training steps, after a warm-up (compiling) one
TRAIN_BATCH = 8  # lipread train's batch size
TUTORIAL_TRAIN_STEPS = 1  # ~15x slower than ours: one step says enough
TUTORIAL_TRAIN_BATCH = 2  # the tutorial's padded_batch(2)
WEIGHTS = None  # None: models/lipnet.weights.h5 when present, else random weights
# Targets on 2 cores: said met or MISSED in the summary.
TARGET = 0.06  # s, one clip file to sentence with landmarks, warm, ONNX Runtime
SPEEDUP_TARGET = 35.0  # x, the tutorial's file-to-sentence time of the same run over that
NETWORK_TARGET = 0.010  # s, the network alone, warm, one clip, ONNX Runtime
COLD_TARGET = 0.4  # s, `lipread predict` on one clip, process start to sentence
PAGE_TARGET = 1.0  # s, a fresh server's first page visit to its sentence
# The venvs make builds, in GB (10^9 bytes: the stricter unit; du -sh's G is GiB)
SIZE_TARGETS = {"run": 2.5, "reading": 1.2}

PROG = "python -m benchmarks"
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    common.add_data_dir(p)
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
                   help="seconds, one clip file to sentence with landmarks, ONNX Runtime: "
                   "reported, met or missed")
    p.add_argument("--cold-runs", type=int, default=coldstart.PREDICT_RUNS,
                   help="fresh `lipread predict` processes per runtime (0: not measured)")
    p.add_argument("--page-runs", type=int, default=coldstart.PAGE_RUNS,
                   help="fresh page servers per runtime (0: not measured)")
    live.add_chromium(p, "the Chromium the page is timed in")
    p.add_argument("--sizes", action="store_true",
                   help="install each requirements set into a temp venv and measure it")
    common.add_json(p, "the figures")
    p.add_argument("--side", choices=("ours", "onnx", "tutorial", "worst"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b]
        args.tutorial_batches = [int(b) for b in args.tutorial_batches.split(",") if b]
    except ValueError:
        p.error("--batches and --tutorial-batches take comma-separated integers, e.g. 1,8,32")
    if args.runs < 1 or args.throughput_runs < 1 or args.train_steps < 1:
        p.error("--runs, --throughput-runs and --train-steps must be at least 1")
    if args.cold_runs < 0 or args.page_runs < 0:
        p.error("--cold-runs and --page-runs must be 0 or more")
    if args.page_runs and not live.runnable(args.chromium):
        p.error(f"{args.chromium or 'chromium'}: no chromium there: apt-get install chromium, "
                "give --chromium, or --page-runs 0")
    return args


def resolve_clip(args) -> Path:
    if Path(args.clip).suffix:
        path = Path(args.clip)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        return path
    return grid.video_path(grid.resolve_data_dir(args.data_dir), args.clip)


def pipelines_log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def targets(args, reader: dict, cold: dict, sizes: dict | None,
            tutorial_s: float | None = None) -> list[dict]:
    """Each target: what it is, its figure, met or not (None: not measured); a limit is
    at most, or with `at_least` at least."""
    def one(what, figure, limit, unit, at_least=False):
        met = None if figure is None else figure >= limit if at_least else figure <= limit
        return {"target": what, "figure": figure, "limit": limit, "unit": unit,
                "at_least": at_least, "met": met}

    by = {c["runtime"]: c for c in cold["predict"]}
    page = {c["runtime"]: c for c in cold["page"]}
    gb = {k: v["bytes"] / 1e9 for k, v in (sizes or {}).items()}
    return [
        one("lipread predict, one clip, cold (ONNX Runtime)",
            by.get("onnx", {}).get("median_s"), COLD_TARGET, "s"),
        one("the page's first reading on a fresh server (ONNX Runtime)",
            page.get("onnx", {}).get("first_reading_s"), PAGE_TARGET, "s"),
        one("one clip file to sentence with landmarks, warm (ONNX Runtime)",
            reader["crops"]["landmarks"]["clip_latency_s"], args.target, "s"),
        one("the same, as a speedup over the tutorial's pipeline of this run",
            tutorial_s and tutorial_s / reader["crops"]["landmarks"]["clip_latency_s"],
            SPEEDUP_TARGET, "x", at_least=True),
        one("the network alone, warm (ONNX Runtime)", reader["network_s"], NETWORK_TARGET,
            "s"),
        one("make run's environment (reading + training)", gb.get("run"),
            SIZE_TARGETS["run"], "GB"),
        one("a reading-only environment", gb.get("reading"), SIZE_TARGETS["reading"], "GB"),
    ]


def run_side(side: str, argv: list[str]) -> dict:
    """One side in a child process of its own: its figures, its own peak memory."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *argv, "--side", side],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"the {side} measurement failed (exit status {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--live" in argv:  # the Live page through a fake camera: its own flags
        argv.remove("--live")
        return live.cli(argv)
    args = parse_args(argv)

    try:
        args.clip_path = resolve_clip(args)
        frames = len(video.read_clip(args.clip_path).frames)
        if frames != video.N_FRAMES:  # the tutorial's network takes exactly 75 frames
            raise video.VideoError(f"{args.clip_path}: {frames} frames; the benchmark needs "
                                   f"a {video.N_FRAMES}-frame clip (the tutorial's pipeline "
                                   "takes no other)")
        if args.json and args.json != "-":
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2

    if args.side:  # a child: measure one side, print it as one JSON line
        from benchmarks import pipelines

        if args.side == "onnx":  # before anything imports TensorFlow
            print(json.dumps(pipelines.measure_reader(args)))
            return 0
        import tensorflow as tf

        measure = {"ours": pipelines.measure_ours, "tutorial": pipelines.measure_tutorial,
                   "worst": pipelines.measure_worst}[args.side]
        r = measure(args)
        r["tensorflow"] = tf.__version__
        print(json.dumps(r))
        return 0

    load = os.getloadavg()
    cold = {"predict": [], "page": []}
    try:
        reader = run_side("onnx", argv)
        ours = run_side("ours", argv)
        tutorial = run_side("tutorial", argv)
        worst = run_side("worst", argv)
        for runtime in ("onnx", "keras"):
            if args.cold_runs:
                pipelines_log(f"cold start, lipread predict --runtime {runtime}")
                cold["predict"].append(coldstart.predict(args.clip_path, runtime,
                                                         args.cold_runs))
            if args.page_runs:
                pipelines_log(f"cold start, the page's first reading, {runtime}")
                cold["page"].append(coldstart.page(grid.resolve_data_dir(args.data_dir),
                                                   args.chromium, runtime, args.page_runs))
        sizes = installs.measure(ROOT) if args.sizes else None
    except (RuntimeError, OSError, subprocess.SubprocessError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    land, fixed = ours["crops"]["landmarks"], ours["crops"]["fixed"]
    result = {
        "clip": str(args.clip_path),
        "runs": args.runs,
        "clip_latency_s": reader["crops"]["landmarks"]["clip_latency_s"],  # the default
        "keras_clip_latency_s": land["clip_latency_s"],
        "fixed_clip_latency_s": fixed["clip_latency_s"],
        "tutorial_clip_latency_s": tutorial["clip_latency_s"],
        "speedup": tutorial["clip_latency_s"] / reader["crops"]["landmarks"]["clip_latency_s"],
        "keras_speedup": tutorial["clip_latency_s"] / land["clip_latency_s"],
        "fixed_speedup": tutorial["clip_latency_s"] / fixed["clip_latency_s"],
        "network_speedup": tutorial["network_s"] / reader["network_s"],
        "target_s": args.target,
        "target_met": reader["crops"]["landmarks"]["clip_latency_s"] <= args.target,
        "targets": targets(args, reader, cold, sizes, tutorial["clip_latency_s"]),
        "onnx": reader,
        "cold_start": cold,
        "install_sizes": sizes,
        "ours": ours,
        "tutorial": tutorial,
        "largest_input": worst,  # the largest frames read: its peak memory
        "machine": {"cpus": os.cpu_count(), "load_average": load,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "tensorflow": ours.pop("tensorflow")},
        "command": " ".join([PROG, *argv]),
    }
    tutorial.pop("tensorflow", None)
    worst.pop("tensorflow", None)
    report.emit(result, args.json)
    return 0
