"""bench.py end to end on a real clip, with the fewest runs: figures come out, not times.

Wall-clock figures are never asserted (they depend on the machine and its load); what is
checked is that both sides ran, that every figure the report promises is there and
positive, and that this project's readings are GRID sentences.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import utils

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--runs", "1", "--batches", "1", "--tutorial-batches", "1", "--throughput-runs", "1",
         "--train-steps", "1", "--train-batch", "2", "--tutorial-train-steps", "0"]


def bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_bench_measures_both_pipelines(grid_dir, tmp_path):
    out = tmp_path / "figures" / "bench.json"
    proc = bench("--data-dir", grid_dir, "--clip", "bbaf2n", "--json", out, *QUICK)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert Path(result["clip"]) == utils.video_path(grid_dir, "bbaf2n")
    ours, tutorial = result["ours"], result["tutorial"]
    for side in (ours, tutorial):
        for key in ("clip_latency_s", "network_s", "peak_rss_inference_mb", "peak_rss_mb"):
            assert side[key] > 0, key
        assert set(side["stages_s"]) == {"load", "network", "decode"}
        assert side["throughput_clips_per_s"]["1"] > 0
    assert ours["train_samples_per_s"] > 0 and ours["train_batch"] == 2
    assert tutorial["train_samples_per_s"] is None  # --tutorial-train-steps 0: not measured
    assert result["speedup"] == tutorial["clip_latency_s"] / ours["clip_latency_s"]
    assert ours["weights"].endswith("lipnet.weights.h5")
    for decoder in ("greedy", "grammar"):
        assert ours[f"sentence_{decoder}"].strip(), decoder
    words = ours["sentence_grammar"].split()
    assert len(words) == 6 and all(w in slot for w, slot in zip(words, utils.GRID_SLOTS))
    assert "one clip, file to sentence" in proc.stdout  # the table
    assert "speedup, file to sentence" in proc.stdout


def test_bench_refuses_a_clip_the_tutorial_cannot_read(grid_dir, tmp_path):
    out = tmp_path / "bench.json"
    proc = bench("--data-dir", grid_dir, "--clip", "lrae3s", "--json", out, *QUICK)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bench.py: error:" in proc.stderr and "74 frames" in proc.stderr, proc.stderr
    assert not out.exists()
