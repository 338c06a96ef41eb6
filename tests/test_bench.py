"""lipread bench end to end on a real clip, with the fewest runs: figures come out, not times.

Wall-clock figures are never asserted (they depend on the machine and its load); what is
checked is that both sides ran, that every figure the report promises is there and
positive, that the table's speedups are the JSON's times divided, and that this
project's readings, with either crop, are GRID sentences.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lipread import grid

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--runs", "1", "--batches", "1", "--tutorial-batches", "1", "--throughput-runs", "1",
         "--train-steps", "1", "--train-batch", "2", "--tutorial-train-steps", "0"]
STAGES = {"read", "mouth", "network", "decode"}


def bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lipread", "bench", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.fixture(scope="module")
def run(grid_dir, tmp_path_factory):
    """One quick bench run: (its process, the JSON it wrote)."""
    out = tmp_path_factory.mktemp("bench") / "figures" / "bench.json"
    proc = bench("--data-dir", grid_dir, "--clip", "bbaf2n", "--json", out, *QUICK)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def table_rows(text: str) -> dict[str, list[str]]:
    """The printed table: label -> its five cells (ours landmarks, ours fixed, tutorial,
    speedup, speedup fixed). Cells are never blank ('-'), columns 2+ spaces apart."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "ours, landmarks" in line)
    header = re.split(r"\s{2,}", lines[start].strip())
    assert header == ["ours, landmarks", "ours, fixed crop", "tutorial", "speedup",
                      "speedup, fixed"], header
    rows = {}
    for line in lines[start + 1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != 6:
            break
        rows[cells[0]] = cells[1:]
    return rows


def test_bench_measures_both_pipelines(run, grid_dir):
    proc, result = run
    assert Path(result["clip"]) == grid.video_path(grid_dir, "bbaf2n")
    ours, tutorial = result["ours"], result["tutorial"]
    for side in (ours, tutorial):
        for key in ("network_s", "peak_rss_inference_mb", "peak_rss_mb"):
            assert side[key] > 0, key
        assert side["throughput_clips_per_s"]["1"] > 0
    assert tutorial["clip_latency_s"] > 0
    assert set(tutorial["stages_s"]) == {"load", "network", "decode"}
    assert all(v > 0 for v in tutorial["stages_s"].values())
    assert set(ours["crops"]) == {"landmarks", "fixed"}
    for crop, figures in ours["crops"].items():
        for key in ("clip_latency_s", "clip_latency_grammar_s"):
            assert figures[key] > 0, (crop, key)
        for key in ("stages_s", "stages_grammar_s"):
            assert set(figures[key]) == STAGES, (crop, key)
            assert all(v > 0 for v in figures[key].values()), (crop, key, figures[key])
        assert figures["sentence_greedy"].strip(), crop
        words = figures["sentence_grammar"].split()  # a GRID sentence, whichever the crop
        assert len(words) == 6 and all(w in slot for w, slot in zip(words, grid.GRID_SLOTS)), \
            (crop, words)
    for key in ("clip_latency_s", "fixed_clip_latency_s", "tutorial_clip_latency_s",
                "speedup", "fixed_speedup", "network_speedup"):
        assert result[key] > 0, key
    assert result["clip_latency_s"] == ours["crops"]["landmarks"]["clip_latency_s"]
    assert result["fixed_clip_latency_s"] == ours["crops"]["fixed"]["clip_latency_s"]
    assert result["target_s"] == 0.2 and isinstance(result["target_met"], bool)
    assert ours["train_samples_per_s"] > 0 and ours["train_batch"] == 2
    assert tutorial["train_samples_per_s"] is None  # --tutorial-train-steps 0: not measured
    assert ours["weights"].endswith("lipnet.weights.h5")
    # The largest input read, in a process of its own: read to a GRID sentence, its peak
    # memory under the bound the hostile-input tests hold (tests/test_hostile_video.py).
    big = result["largest_input"]
    assert big["size"] == "3840x2160" and 0 < big["peak_rss_mb"] < 1500
    assert len(big["sentence_grammar"].split()) == 6
    assert "peak memory, one 3840x2160 clip (the largest read)" in proc.stdout


def test_bench_table_speedups_are_the_json_times_divided(run):
    proc, result = run
    ours, tut = result["ours"], result["tutorial"]
    land, fixed = ours["crops"]["landmarks"], ours["crops"]["fixed"]

    def stage(figures, *keys):
        return sum(figures["stages_s"][k] for k in keys)

    # label start -> (ours with landmarks, ours with the fixed crop, tutorial, what):
    # "time": the tutorial's time over ours; "rate": our rate over the tutorial's.
    expected = {
        "one clip, file to sentence": (land["clip_latency_s"], fixed["clip_latency_s"],
                                       tut["clip_latency_s"], "time"),
        "reading + mouth": (stage(land, "read", "mouth"), stage(fixed, "read", "mouth"),
                            tut["stages_s"]["load"], "time"),
        "network": (stage(land, "network"), stage(fixed, "network"),
                    tut["stages_s"]["network"], "time"),
        "network alone, 1 clip": (ours["network_s"], None, tut["network_s"], "time"),
        "throughput at batch 1": (ours["throughput_clips_per_s"]["1"], None,
                                  tut["throughput_clips_per_s"]["1"], "rate"),
    }
    rows = table_rows(proc.stdout)
    checked = set()
    for label, cells in rows.items():
        match = [k for k in expected if re.match(re.escape(k) + r"($| \(|,)", label)]
        if cells[3] == "-" and cells[4] == "-":
            assert not match, f"{label}: no speedup printed"
            continue
        assert len(match) == 1, f"{label}: a speedup the test does not know: {cells}"
        a, f, b, what = expected[match[0]]
        for cell, ours_value in ((cells[3], a), (cells[4], f)):
            if ours_value is None:
                assert cell == "-", (label, cells)
                continue
            want = b / ours_value if what == "time" else ours_value / b
            assert cell.endswith("x") and abs(float(cell[:-1]) - want) <= 0.05 + 1e-9, \
                (label, cell, want)
        checked.add(match[0])
    assert checked == set(expected), set(expected) - checked
    # The training row: the tutorial's steps were not measured, so no speedup.
    assert any(label.startswith("training") and cells[2] == cells[3] == "-"
               for label, cells in rows.items())

    said = re.search(r"speedup, file to sentence: ([\d.]+)x with landmarks, ([\d.]+)x with "
                     r"the fixed crop \(network alone: ([\d.]+)x\)", proc.stdout)
    assert said, proc.stdout
    for printed, ours_time, tut_time in (
            (said[1], land["clip_latency_s"], tut["clip_latency_s"]),
            (said[2], fixed["clip_latency_s"], tut["clip_latency_s"]),
            (said[3], ours["network_s"], tut["network_s"])):
        assert abs(float(printed) - tut_time / ours_time) <= 0.05 + 1e-9
    assert "target, one clip file to sentence with landmarks <= 0.20 s: " in proc.stdout


def test_bench_json_to_stdout_puts_the_table_on_stderr(run, capsys):
    from lipread.bench import report

    _, result = run
    report.emit(result, "-")
    out, err = capsys.readouterr()
    assert json.loads(out) == result
    assert table_rows(err) and "speedup, file to sentence" in err


def test_bench_refuses_a_clip_the_tutorial_cannot_read(grid_dir, test_names, tmp_path,
                                                       ffmpeg_encode):
    """A 74-frame clip, as GRID has a few (lrae3s, sbbbzp, ...), made from a test clip."""
    from lipread import grid

    data = tmp_path / "data"
    (data / "s1").mkdir(parents=True)
    ffmpeg_encode(grid.video_path(grid_dir, test_names[0]), data / "s1" / "short.mpg",
                  "-frames:v", 74, "-c:v", "mpeg1video", "-q:v", 2, "-an")
    out = tmp_path / "bench.json"
    proc = bench("--data-dir", data, "--clip", "short", "--json", out, *QUICK)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "lipread bench: error:" in proc.stderr and "74 frames" in proc.stderr, proc.stderr
    assert not out.exists()
