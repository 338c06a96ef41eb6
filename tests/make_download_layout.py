"""Make a GRID folder laid out the way `lipread download data` lands the tutorial's data.zip.

Made from another GRID folder (../shared/grid: 100 MPEG-1 test clips, 800 H.264 .mp4 ones):

    python tests/make_download_layout.py --src ../shared/grid --dest "$(mktemp -d)" --train-clips 40

What lands in --dest: s1/<name>.mpg only (MPEG-1, as in data.zip): every test clip, copied
byte for byte when it already is an .mpg, and --train-clips training clips spread evenly
over the sorted training split, re-encoded to MPEG-1 with imageio-ffmpeg's ffmpeg (25 fps,
the same size, no sound); alignments/s1/<name>.align for those clips; and the splits
written by zenodo.write_splits(), the code path a download takes. CI runs the
data-dependent tests (pytest -m grid) on it, so that they cannot lean on ../shared/grid's
.mp4 files, its clip count or its split files.

Exit status: 0 built, 1 a failure while building (ffmpeg), 2 bad input or usage.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROG = "make_download_layout.py"
TRAIN_CLIPS = 40  # 0: all of them
QSCALE = 2  # MPEG-1 quantiser (2: near transparent; data.zip's own clips are about this)


class BadInput(Exception):
    pass


def parse_args(argv=None):
    from lipread.cli import common

    p = common.parser(PROG, __doc__)
    p.epilog = "exit status: 0 built, 1 a failure while building (ffmpeg), 2 bad input or usage"
    p.add_argument("--src", required=True, metavar="DIR",
                   help="a GRID folder (s1/, alignments/s1/, splits/)")
    p.add_argument("--dest", required=True, metavar="DIR",
                   help="an empty folder (mktemp -d) or one that does not exist yet")
    p.add_argument("--train-clips", type=common.non_negative_int, default=TRAIN_CLIPS,
                   metavar="N", help="training clips to include, spread over the split (0: all)")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write a summary of the layout here ('-': stdout) (default: none)")
    return p.parse_args(argv)


def pick(names: list[str], n: int) -> list[str]:
    """n names spread evenly over the sorted list (every command and colour, not just 'b')."""
    names = sorted(names)
    if n == 0 or n >= len(names):
        return names
    if n == 1:
        return names[:1]
    return [names[round(i * (len(names) - 1) / (n - 1))] for i in range(n)]


def to_mpeg1(ffmpeg: str, src: Path, dst: Path) -> None:
    """MPEG-1 video at 25 fps and the source's size, no sound: what data.zip holds."""
    from lipread import video

    proc = subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                           "-an", "-c:v", "mpeg1video", "-q:v", str(QSCALE),
                           "-r", str(video.FPS), "-pix_fmt", "yuv420p", str(dst)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not dst.is_file():
        raise RuntimeError(f"ffmpeg could not re-encode {src}: "
                           f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")


def check_same_clip(src: Path, dst: Path) -> None:
    """The re-encoded clip has the source's frame count and frame size at 25 fps."""
    from lipread import video

    a, b = video.read_clip(src), video.read_clip(dst)
    if a.frames.shape != b.frames.shape or abs(b.fps - video.FPS) > 0.01:
        raise RuntimeError(f"{dst.name}: {b.frames.shape} at {b.fps:g} fps, but {src.name} "
                           f"gives {a.frames.shape}")


def build(src: Path, dest: Path, train_clips: int, log=print) -> dict:
    import imageio_ffmpeg

    from lipread import grid
    from lipread.corpus import zenodo

    for need in ("s1", "alignments/s1", "splits/train.txt", "splits/test.txt"):
        if not (src / need).exists():
            raise BadInput(f"{src}: no {need} (not a GRID folder laid out like data.zip)")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BadInput(f"{dest}: exists and is not an empty folder")
    test = grid.read_names(src / "splits" / "test.txt")
    train = pick(grid.read_names(src / "splits" / "train.txt"), train_clips)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    (dest / grid.SPEAKER).mkdir(parents=True, exist_ok=True)
    (dest / "alignments" / grid.SPEAKER).mkdir(parents=True)
    copied = encoded = 0
    start = time.perf_counter()
    for name in test + train:
        video = grid.video_path(src, name)
        target = grid.video_dir(dest) / f"{name}.mpg"
        if video.suffix.lower() == ".mpg":
            shutil.copyfile(video, target)  # MPEG-1 already: as it is
            copied += 1
        else:
            to_mpeg1(ffmpeg, video, target)
            check_same_clip(video, target)
            encoded += 1
        shutil.copyfile(grid.alignment_path(src, name), grid.alignment_path(dest, name))
    n_train, n_test = zenodo.write_splits(dest)  # the code path of a download
    seconds = time.perf_counter() - start
    summary = {"src": str(src), "dest": str(dest), "clips": len(test) + len(train),
               "copied": copied, "reencoded": encoded, "splits": {"train": n_train,
                                                                  "test": n_test},
               "seconds": round(seconds, 1)}
    log(f"{dest}: {summary['clips']} .mpg clips ({copied} copied, {encoded} re-encoded to "
        f"MPEG-1) in {seconds:.0f} s; splits: {n_train} train, {n_test} test")
    return summary


def cli(argv=None) -> int:
    args = parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json == "-" else print
    try:
        summary = build(Path(args.src), Path(args.dest), args.train_clips, log)
    except (BadInput, FileNotFoundError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    if args.json:
        text = json.dumps(summary, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
