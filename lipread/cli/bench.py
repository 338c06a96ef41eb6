"""How fast this machine reads a video: cold (a fresh `lipread predict`) and warm.

    lipread bench talk.mp4                     # the medians, in a few lines
    lipread bench talk.mp4 --runs 9 --cold-runs 5 --json bench.json

Warm: the network loaded once in this process, then the video read to its sentence
--runs times after an uncounted first run; the median, stage by stage (read: decode at
25 fps; mouth: find and cut it; network; decode). Cold: `lipread predict` on the video in
--cold-runs fresh processes, from the process's start to its exit (the caches that a first
run on a machine builds, such as the ONNX export, are built by the warm runs first). The
same flags as predict choose the reader (--runtime, --weights, --profile, --decoder,
--crop). Exit status: 0 measured, 1 a failure while running, 2 bad input.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from lipread import formats, pipeline, reading, video
from lipread.cli import common

PROG = "lipread bench"
RUNS = 5  # warm runs timed, after an uncounted first one
COLD_RUNS = 3  # fresh processes timed (0: not measured)


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    p.add_argument("video", help="a video file (.mpg, .mp4, .mov, ...)")
    p.add_argument("--runs", type=int, default=RUNS,
                   help="warm runs timed after an uncounted first one; the median is shown")
    p.add_argument("--cold-runs", type=int, default=COLD_RUNS,
                   help="fresh `lipread predict` processes timed (0: not measured)")
    common.add_decoder(p)
    common.add_model(p)
    common.add_crop(p)
    common.add_json(p, "the figures")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be 1 or more")
    if args.cold_runs < 0:
        p.error("--cold-runs must be 0 or more")
    return args


def warm(model, args) -> dict:
    """The video read --runs times in this process, after an uncounted first run."""
    results = []
    for _ in range(args.runs + 1):
        t0 = time.perf_counter()
        result = reading.read(args.video, model, args.decoder, crop=args.crop)
        results.append((time.perf_counter() - t0, result))
    timed = results[1:]
    return {"runs": args.runs, "median_s": statistics.median(t for t, _ in timed),
            "stages_s": {k: statistics.median(r.seconds[k] for _, r in timed)
                         for k in pipeline.STAGES},
            "sentence": timed[-1][1].sentence}


def predict_command(args) -> list[str]:
    cmd = [sys.executable, "-m", "lipread", "predict", args.video, "--decoder", args.decoder,
           "--crop", args.crop, "--json", "-"]
    for flag, value in (("--arch", args.arch), ("--weights", args.weights),
                        ("--runtime", args.runtime), ("--profile", args.profile)):
        if value is not None:
            cmd += [flag, value]
    return cmd


def cold(args) -> dict:
    """`lipread predict` on the video in fresh processes: start to exit, each."""
    cmd, seconds, said = predict_command(args), [], None
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for _ in range(args.cold_runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"lipread predict failed ({proc.returncode}): {last}")
        said = json.loads(proc.stdout)["results"][0]["sentence"]
    return {"runs": args.cold_runs, "median_s": statistics.median(seconds),
            "min_s": min(seconds), "max_s": max(seconds), "sentence": said}


def text(result: dict) -> str:
    w, c = result["warm"], result["cold"]
    stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in w["stages_s"].items())
    lines = [f"{result['video']}: {result['machine']['cpus']} CPU cores, load average "
             f"{result['machine']['load_average'][0]:.1f} at start, runtime {result['runtime']}",
             f"warm, the network loaded: {w['median_s']:.3f} s (median of {w['runs']}; "
             f"{stages})"]
    if c:
        lines.append(f"cold, a fresh `lipread predict` from start to exit: "
                     f"{c['median_s']:.3f} s (median of {c['runs']}; "
                     f"{c['min_s']:.3f}-{c['max_s']:.3f} s)")
    lines.append(f"sentence: {w['sentence']}")
    return "\n".join(lines)


def cli(argv=None) -> int:
    common.quiet_tensorflow()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    load = os.getloadavg()
    try:
        common.check_writable(args.json)
        if not os.path.lexists(args.video):
            raise FileNotFoundError(f"{args.video}: no such file")
        formats.check_file(args.video)
        if common.uses_keras(args):
            common.import_keras()
        model = common.load_models(args)
        figures = warm(model, args)
    except (OSError, ValueError, video.VideoError) as err:
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    runtime = getattr(model, "runtime", None) or "keras"
    try:
        result = {"video": args.video, "runtime": runtime, "decoder": args.decoder,
                  "crop": args.crop, "warm": figures,
                  "cold": cold(args) if args.cold_runs else None,
                  "machine": {"cpus": os.cpu_count(), "load_average": load},
                  "command": " ".join([PROG, *argv])}
    except (RuntimeError, OSError, ValueError) as err:
        common.error(PROG, err)
        return common.EXIT_FAILED
    print(text(result), file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    if args.json:
        common.write_json(args.json, result)
    return 0
