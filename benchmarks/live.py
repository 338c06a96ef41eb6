"""The Live page, measured through Chromium's fake camera: a GRID clip padded with 2 s of
still face either side plays as the webcam of a headless Chromium on /live.

    python -m benchmarks --live                        # 20 test clips, a table
    python -m benchmarks --live --clips 5 --json artifacts/live-bench.json

- preview frame rate with the overlay drawn: as the browser shows it (the component's
  <video>, requestVideoFrameCallback) and as the server sends it; the server's CPU (one
  core = 100%) with the page open before START, and while the preview runs;
- latency: from the end of a capture (its last frame in, on the server) to its sentence
  on the page (a MutationObserver's clock; same machine, same clock);
- accuracy: the grammar WER of the live path over the clips, beside `lipread predict
  --decoder grammar` on the same files. Each clip's reading is the first capture that
  starts 1 s or more after the camera's first frame (the camera is up by then).

Needs Chromium (--chromium, else $CHROMIUM, else `chromium` on PATH) and playwright
(requirements-test.txt).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lipread import grid, scoring
from lipread.cli import common
from lipread.live import fakecam

CLIPS = 20  # test clips, the first of the test split in its order
SETTLE_S = 1.0  # a capture starting before this (camera time) may miss the camera's start
READ_TIMEOUT_S = 40  # per clip, START to the reading used
CPU_WINDOW_S = 8  # seconds the server's CPU is sampled over
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
ROOT = Path(__file__).resolve().parents[1]
WATCH = """() => { window.__shown = {};
  new MutationObserver(() => {
    for (const e of document.querySelectorAll('[class*="st-key-sentence_"]')) {
      const n = [...e.classList].find(c => c.startsWith('st-key-sentence_')).split('_')[1];
      if (!(n in window.__shown)) window.__shown[n] = Date.now(); }
  }).observe(document.body, {childList: true, subtree: true}); }"""
VIDEO_FPS = """async (ms) => { const v = document.querySelector('video');
  if (!v) return null;
  const q0 = v.getVideoPlaybackQuality(), t0 = performance.now();
  await new Promise(done => setTimeout(done, ms));
  const q1 = v.getVideoPlaybackQuality(), s = (performance.now() - t0) / 1000;
  return {shown: (q1.totalVideoFrames - q1.droppedVideoFrames
                  - q0.totalVideoFrames + q0.droppedVideoFrames) / s,
          decoded: (q1.totalVideoFrames - q0.totalVideoFrames) / s}; }"""


def default_chromium() -> str | None:
    """$CHROMIUM, else the first Chromium on PATH (None: none found)."""
    return (os.environ.get("CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


def add_chromium(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--chromium", default=default_chromium(),
                   help=f"{what} (default: $CHROMIUM, then chromium on PATH)")


def runnable(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float) -> float:
    """The process's CPU over the next `seconds`, in % of one core."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def start_server(env: dict, log) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("streamlit did not come up")


def readings(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def play_clip(playwright, chromium: str, url, y4m, log: Path, server_pid: int, measure: bool) -> dict:
    """One clip through the camera: its reading (and the preview's figures if `measure`)."""
    browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                         args=[*FLAGS, f"--use-file-for-fake-video-capture={y4m}"])
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{url}/live")
        page.get_by_role("heading", name="Live").wait_for(timeout=300_000)
        frame = page.frame_locator('iframe[title="streamlit_webrtc.component.webrtc_streamer"]')
        start = frame.get_by_role("button", name="START")
        start.wait_for(timeout=300_000)  # the network loaded
        out = {}
        if measure:  # the page open, the camera not started
            time.sleep(2)
            out["server_cpu_idle_pct"] = cpu_share(server_pid, CPU_WINDOW_S)
        page.evaluate(WATCH)
        seen = len(readings(log))
        start.click(timeout=120_000)
        started = time.monotonic()
        if measure:  # the preview running between readings: from 1 s after a reading
            while not readings(log)[seen:] and time.monotonic() - started < READ_TIMEOUT_S:
                time.sleep(0.2)
            time.sleep(1.0)
            videos = [f for f in page.frames if f != page.main_frame  # the component's
                      and f.evaluate("() => !!document.querySelector('video')")]
            fps = videos[0].evaluate(VIDEO_FPS, 4000) if videos else None
            out["browser_preview_fps"] = fps and fps["shown"]
            out["browser_decoded_fps"] = fps and fps["decoded"]
            out["server_cpu_preview_pct"] = cpu_share(server_pid, 3.0)
        while time.monotonic() - started < READ_TIMEOUT_S:
            fresh = [r for r in readings(log)[seen:] if r["start"] >= SETTLE_S]
            if fresh:
                r = fresh[0]
                shown = None
                for _ in range(40):  # the page shows it a moment later
                    shown = page.evaluate("n => window.__shown[n] || null", str(r["number"]))
                    if shown:
                        break
                    time.sleep(0.1)
                out.update(reading=r, shown_at=None if shown is None else shown / 1000)
                return out
            time.sleep(0.2)
        out["reading"] = None
        return out
    finally:
        browser.close()


def predicted(paths: list[Path]) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "lipread", "predict", *map(str, paths),
                          "--decoder", "grammar", "--json", "-"], cwd=ROOT, text=True,
                         capture_output=True, check=True, timeout=600)
    return [r["sentence"] for r in json.loads(out.stdout)["results"]]


def median(values):
    values = sorted(v for v in values if v is not None)
    return values[len(values) // 2] if values else None


def measure(data_dir: Path, names: list[str], chromium: str) -> dict:
    """The figures above for the clips `names` of `data_dir` (each with its alignment)."""
    from playwright import sync_api

    paths = [grid.video_path(data_dir, n) for n in names]
    truths = [grid.load_sentence(grid.alignment_path(data_dir, n)) for n in names]
    files = predicted(paths)
    with tempfile.TemporaryDirectory(prefix="lipread-live-bench-") as tmp:
        log = Path(tmp) / "live.jsonl"
        env = {**os.environ, "LIPREAD_LIVE_LOG": str(log), "LIPREAD_DATA_DIR": str(data_dir),
               "LIPREAD_PROFILES_DIR": str(Path(tmp) / "profiles"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        with open(Path(tmp) / "server.log", "wb") as server_log:
            server, url = start_server(env, server_log)
            try:
                rows = []
                with sync_api.sync_playwright() as p:
                    for i, (name, path) in enumerate(zip(names, paths)):
                        y4m = fakecam.write_y4m(path, Path(tmp) / "camera.y4m")
                        row = play_clip(p, chromium, url, y4m, log, server.pid, measure=i == 0)
                        row["name"] = name
                        rows.append(row)
                        r = row["reading"]
                        print(f"{name}: {r['sentence'] if r else '(no reading)'}", file=sys.stderr)
            finally:
                server.terminate()
                server.wait(timeout=30)
    live = [r["reading"]["sentence"] if r["reading"] else "" for r in rows]
    latencies = [r["shown_at"] - r["reading"]["ended_at"] for r in rows
                 if r["reading"] and r.get("shown_at")]
    first = rows[0]
    preview = first["reading"]["preview"] if first["reading"] else {}
    return {
        "clips": names,
        "live_wer": scoring.error_rates(truths, live)[0],
        "predict_wer": scoring.error_rates(truths, files)[0],
        "same_sentence": sum(a == b for a, b in zip(live, files)),
        "latency_s": {"median": median(latencies), "max": max(latencies, default=None),
                      "server_median": median([r["reading"]["read_at"] - r["reading"]["ended_at"]
                                               for r in rows if r["reading"]])},
        "preview": {"browser_fps": first.get("browser_preview_fps"),
                    "browser_decoded_fps": first.get("browser_decoded_fps"),
                    "server_fps": preview.get("preview_fps"),
                    "tracked_fps": preview.get("tracked_fps"),
                    "frame_ms": preview.get("frame_ms"),
                    "server_cpu_idle_pct": first.get("server_cpu_idle_pct"),
                    "server_cpu_preview_pct": first.get("server_cpu_preview_pct")},
        "readings": [{"name": r["name"], "live": s, "predict": f, "truth": t,
                      **(served(r["reading"]) if r["reading"] else {})}
                     for r, s, f, t in zip(rows, live, files, truths)],
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
    }


def served(reading: dict) -> dict:
    """A reading's time on the server: in all, by stage, and whether its mouth was found
    while the capture ran (live/window.py)."""
    return {"server_s": reading["read_at"] - reading["ended_at"],
            "stages_s": reading.get("seconds"), "located_early": reading.get("located_early")}


def table(r: dict) -> str:
    p, lat = r["preview"], r["latency_s"]

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)
    return "\n".join([
        f"Live, through Chromium's fake camera ({len(r['clips'])} test clips, "
        f"{r['machine']['cpus']} CPUs)",
        f"  preview: {f(p['browser_fps'], '.1f')} fps shown in the browser, "
        f"{f(p['server_fps'], '.1f')} sent by the server (overlay {f(p['frame_ms'], '.1f')} ms "
        f"a frame), face tracked {f(p['tracked_fps'], '.1f')} times a second",
        f"  server CPU: {f(p['server_cpu_idle_pct'], '.0f')}% of a core with the page open, "
        f"{f(p['server_cpu_preview_pct'], '.0f')}% with the preview running",
        f"  latency, capture end to sentence on the page: median {f(lat['median'], '.2f')} s, "
        f"max {f(lat['max'], '.2f')} s (read on the server: {f(lat['server_median'], '.2f')} s)",
        f"  grammar WER: live {r['live_wer']:.1%}, predict on the files {r['predict_wer']:.1%}; "
        f"same sentence on {r['same_sentence']} of {len(r['clips'])} clips",
    ])


PROG = "python -m benchmarks --live"


def cli(argv: list[str]) -> int:
    """`python -m benchmarks --live`: the figures above, a table and the JSON."""
    from benchmarks import report

    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    common.add_data_dir(p)
    p.add_argument("--clips", type=int, default=CLIPS,
                   help=f"test clips to play, the test split's first (default {CLIPS})")
    add_chromium(p, "the Chromium to drive")
    common.add_json(p)
    args = p.parse_args(argv)
    if not 1 <= args.clips <= 100:
        p.error("--clips must be 1 to 100")
    data_dir = grid.resolve_data_dir(args.data_dir)
    split = data_dir / "splits" / "test.txt"
    if not split.is_file():
        common.error(PROG, f"{split}: no test split there (--data-dir: a GRID folder with "
                           "splits/test.txt)")
        return 2
    if not runnable(args.chromium):
        common.error(PROG, f"{args.chromium or 'chromium'}: no chromium there: apt-get "
                           "install chromium, or give --chromium")
        return 2
    result = measure(data_dir, grid.read_names(split)[: args.clips], args.chromium)
    result["command"] = " ".join([PROG, *argv])
    print(table(result), file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    report.write_json(result, args.json)
    return 0
