"""Cold starts, for `python -m benchmarks`: a fresh process from its start to its sentence
(`lipread predict` on one clip), and a fresh page server's first reading in Chromium; each
with ONNX Runtime (the default) and with Keras/TensorFlow (--runtime keras,
LIPREAD_RUNTIME=keras), the median of several runs.

Each measurement is preceded by one uncounted run that builds what a first run builds once
per machine (the ONNX export, the face models' quick forms, Python's bytecode; children run
without PYTHONDONTWRITEBYTECODE, as on a user's machine). The page is timed from the
browser's request to the sentence on the page, on a server started for that run whose
video cache (LIPREAD_CACHE_DIR) is a fresh folder.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREDICT_RUNS = 5  # timed runs of each runtime, after an uncounted first one
PAGE_RUNS = 3  # fresh servers per runtime, after an uncounted first one
PAGE_TIMEOUT_S = 180  # the browser's wait for the first sentence
# The page's sentence, its words on screen, from the current run (not a stale element
# of an earlier one).
SENTENCE_SHOWN = """() => {
  const s = document.querySelector('.st-key-sentence [data-testid="stElementContainer"]');
  const words = document.querySelector('.st-key-sentence code');
  return s !== null && s.getAttribute('data-stale') === 'false' && words !== null
      && words.innerText.trim().length > 0; }"""


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_once(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds from start to exit, peak RSS in MB, stdout) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"{' '.join(cmd[2:])} failed ({proc.returncode}): {last}")
    return took, usage.ru_maxrss / 1024, out.decode().strip()


def predict(clip: Path, runtime: str, runs: int = PREDICT_RUNS) -> dict:
    """`lipread predict <clip> --runtime <runtime>` in fresh processes."""
    cmd = [sys.executable, "-m", "lipread", "predict", str(clip), "--runtime", runtime]
    env = child_env()
    run_once(cmd, env)  # uncounted: builds the caches and bytecode
    results = [run_once(cmd, env) for _ in range(runs)]
    times = [r[0] for r in results]
    return {"runtime": runtime, "runs": runs, "median_s": statistics.median(times),
            "min_s": min(times), "max_s": max(times),
            "peak_rss_mb": max(r[1] for r in results), "sentence": results[-1][2]}


def page(data_dir: Path, chromium: str, runtime: str, runs: int = PAGE_RUNS) -> dict:
    """A fresh `streamlit run app.py` per run: the first visit's sentence, timed."""
    from playwright.sync_api import sync_playwright

    from benchmarks import live

    firsts, starts = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=live.FLAGS)
        try:
            for i in range(runs + 1):  # the first uncounted
                with tempfile.TemporaryDirectory(prefix="lipread-bench-page-") as folder:
                    env = child_env(LIPREAD_DATA_DIR=str(data_dir), LIPREAD_RUNTIME=runtime,
                                    LIPREAD_CACHE_DIR=str(Path(folder) / "cache"),
                                    LIPREAD_PROFILES_DIR=str(Path(folder) / "profiles"))
                    with open(Path(folder) / "server.log", "wb") as log:
                        t0 = time.perf_counter()
                        server, url = live.start_server(env, log)
                        up = time.perf_counter() - t0
                        try:
                            pg = browser.new_page(viewport={"width": 1400, "height": 1200})
                            t1 = time.perf_counter()
                            pg.goto(url)
                            pg.wait_for_function(SENTENCE_SHOWN, timeout=PAGE_TIMEOUT_S * 1000)
                            first = time.perf_counter() - t1
                            pg.close()
                        finally:
                            server.terminate()
                            try:
                                server.wait(timeout=20)
                            except subprocess.TimeoutExpired:
                                server.kill()
                if i:
                    firsts.append(first)
                    starts.append(up)
        finally:
            browser.close()
    return {"runtime": runtime, "runs": runs, "first_reading_s": statistics.median(firsts),
            "first_reading_max_s": max(firsts), "server_start_s": statistics.median(starts)}
