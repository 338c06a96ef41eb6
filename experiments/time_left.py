"""How right teaching's time left is: `lipread enroll` run on a speaker's first N clips,
its --progress-file read twice a second, the time left the page shows from it (`eta_s`
counted down since the file was written, jobs.counted_down) set against the time that was
in fact left.

    python -m experiments eta --takes 9 --speaker s4 --data-dir ../shared/others

The profile goes to a temporary folder (removed after); --keep-anyway, so that a teaching
that did not help still runs to its end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lipread import grid
from lipread.enroll import jobs

POLL_S = 0.5


def watch(takes: int, speaker: str, data_dir: Path) -> tuple[float, list[tuple]]:
    """(total seconds, [(seconds in, fraction done, eta said)]) of one teaching."""
    work = Path(tempfile.mkdtemp(prefix="lipread-eta-"))
    try:
        names = grid.list_clips(data_dir, [speaker])[:takes]
        (work / "names.txt").write_text("".join(f"{n}\n" for n in names))
        progress = work / "progress.json"
        cmd = [sys.executable, "-m", "lipread", "enroll", "--name", "eta", "--data-dir",
               str(data_dir), "--names", str(work / "names.txt"), "--progress-file",
               str(progress), "--keep-anyway"]
        env = {**os.environ, "LIPREAD_PROFILES_DIR": str(work / "profiles")}
        t0, rows = time.monotonic(), []
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        while child.poll() is None:
            time.sleep(POLL_S)
            try:
                said = json.loads(progress.read_text())
            except (OSError, ValueError):
                continue
            rows.append((time.monotonic() - t0, said["fraction"],
                         jobs.counted_down(progress, said["eta_s"])))
        if child.returncode:
            raise SystemExit(f"lipread enroll exited {child.returncode}")
        return time.monotonic() - t0, rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments eta", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--takes", type=int, default=20)
    p.add_argument("--speaker", default="s4")
    p.add_argument("--data-dir", default=os.environ.get("LIPREAD_OTHERS_DIR"))
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error("give --data-dir (the speakers' folder), or set LIPREAD_OTHERS_DIR")
    total, rows = watch(args.takes, args.speaker, Path(args.data_dir))
    said = [(t, f, eta, total - t) for t, f, eta in rows if eta is not None]
    errors = [(eta - left) / left for t, f, eta, left in said if left >= 10]
    print(f"{args.takes} takes: {total:.1f} s; time left said from {said[0][0]:.0f} s on; "
          f"while 10 s or more were left, off by {100 * min(errors):+.0f}% to "
          f"{100 * max(errors):+.0f}%")
    for t, f, eta, left in said[::max(1, len(said) // 12)]:
        print(f"  {t:6.1f} s in, {f:.2f} done: said {eta:4.0f} s, left {left:5.1f} s")
    return 0
