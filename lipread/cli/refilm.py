"""Re-film GRID clips as another camera might have: a data folder of changed copies.

    lipread refilm --data-dir data --dest /tmp/refilmed --variant padded
    lipread evaluate --data-dir /tmp/refilmed/padded --names /tmp/refilmed/padded/splits/test.txt

Each variant re-encodes the clips of --names (default: the folder's splits/test.txt)
through FFmpeg's filters (PyAV's, lipread/encode.py), as H.264, into DEST/<variant>/ laid
out like the data folder (s1/, alignments/s1/, splits/test.txt), so that lipread evaluate
and the app read it as they read GRID. The tests re-film one clip with the same filters.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from lipread import grid
from lipread.cli import common

# --- defaults (each one a flag) ---------------------------------------------
VARIANT = "all"

PROG = "lipread refilm"
VARIANTS = {  # FFmpeg filter chains: the same clip as another camera might have filmed it
    "padded": "pad=640:480:230:160:color=0x303030",  # bigger frame, face off-centre
    "zoomed": "scale=720:576,crop=480:384:100:170",  # twice as close, cropped around the face
    "rotated": "pad=480:384:60:48:color=0x303030,rotate=7*PI/180:fillcolor=0x303030",
    "fps30": "fps=30",  # same framing, 30 frames a second
    "fps50": "fps=50",  # ... and 50
}


def refilm(src, dst, variant: str) -> Path:
    """One clip re-encoded through VARIANTS[variant], as near-lossless H.264 (crf 18)."""
    from lipread import encode

    try:
        return encode.refilm(src, dst, VARIANTS[variant])
    except Exception as err:  # noqa: BLE001 -- PyAV raises FFmpeg's error types
        raise RuntimeError(f"could not re-film {src}: {err}") from None


def refilm_folder(data_dir: Path, names: list[str], dest: Path, variant: str) -> Path:
    """DEST/<variant>/ in the data folder's layout, written under a temp name first."""
    final = dest / variant
    work = Path(tempfile.mkdtemp(prefix=f".{variant}.", suffix=".partial", dir=dest))
    (work / grid.SPEAKER).mkdir(parents=True)
    (work / "alignments" / grid.SPEAKER).mkdir(parents=True)
    (work / "splits").mkdir()
    try:
        for name in names:
            refilm(grid.video_path(data_dir, name), work / grid.SPEAKER / f"{name}.mp4",
                   variant)
            shutil.copyfile(grid.alignment_path(data_dir, name),
                            work / "alignments" / grid.SPEAKER / f"{name}.align")
        (work / "splits" / "test.txt").write_text("".join(f"{n}\n" for n in names))
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    common.add_data_dir(p)
    p.add_argument("--names", default=None,
                   help="file of clip names; default: <data-dir>/splits/test.txt")
    p.add_argument("--dest", required=True, help="folder for DEST/<variant>/")
    p.add_argument("--variant", choices=(*VARIANTS, "all"), default=VARIANT)
    common.add_json(p, "the folders made")
    return p.parse_args(argv)


def cli(argv=None) -> int:
    args = parse_args(argv)

    try:
        data_dir = grid.resolve_data_dir(args.data_dir)
        names = grid.read_names(args.names or data_dir / "splits" / "test.txt")
        for name in names:
            grid.video_path(data_dir, name)
            if not grid.alignment_path(data_dir, name).is_file():
                raise FileNotFoundError(f"{grid.alignment_path(data_dir, name)}: no such "
                                        "alignment file")
        dest = Path(args.dest)
        dest.mkdir(parents=True, exist_ok=True)
        common.check_writable(dest / "probe")
        common.check_writable(args.json)
    except (OSError, ValueError) as err:
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    made = {}
    report = sys.stderr if args.json == "-" else sys.stdout
    try:
        for variant in (VARIANTS if args.variant == "all" else [args.variant]):
            made[variant] = str(refilm_folder(data_dir, names, dest, variant))
            print(f"{variant}: {len(names)} clips in {made[variant]}", file=report, flush=True)
    except (OSError, RuntimeError) as err:
        common.error(PROG, err)
        return common.EXIT_FAILED
    if args.json:
        common.write_json(args.json, {"clips": len(names), "folders": made})
    return common.EXIT_OK
