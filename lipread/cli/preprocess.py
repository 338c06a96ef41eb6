"""Crop every clip of a GRID corpus once, in parallel, into the crop cache training reads.

    lipread preprocess --data-dir data                       # every speaker there
    lipread preprocess --data-dir data --speakers s1-s34 --workers 16
    lipread preprocess --data-dir data --names names.txt --json -

Each clip with an alignment becomes a uint8 (75, 54, 148) .npy file of its mouth crops under
<cache-dir>/clips-<crop>-<key>/<speaker>/ (cropstore.py), which lipread train then reads
instead of decoding the videos. Clips cached already are not computed again, so a run
stopped half-way goes on where it stopped. A video that can't be read is skipped and
listed with the reason in the report file (`name<TAB>reason`); the run still ends with
exit 0. Exit 2: bad input (no such data folder, no clips with alignments).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from lipread import grid
from lipread.cli import common
from lipread.training import cropcache, cropstore

PROG = "lipread preprocess"


def parse_args(argv=None):
    c = common
    p = c.parser(PROG, __doc__)
    c.add_data_dir(p)
    which = p.add_mutually_exclusive_group()
    c.add_speakers(which, "these speakers' clips (default: every speaker folder present)")
    which.add_argument("--names", default=None, metavar="FILE",
                       help="the clips named in this file (one a line) instead")
    c.add_crop(p)
    p.add_argument("--workers", type=c.positive_int, default=None, metavar="N",
                   help=f"processes cropping at once; default: the CPU count ({os.cpu_count()})")
    p.add_argument("--cache-dir", default=None,
                   help="where the crops go; default: $LIPREAD_CACHE_DIR, then .cache")
    p.add_argument("--report", default=None, metavar="PATH",
                   help="the report of skipped clips; default: report.tsv in the cache folder")
    p.add_argument("--retry-failed", action="store_true",
                   help="decode again the videos earlier runs found unreadable (they are "
                        "skipped while the file is unchanged)")
    c.add_json(p, "the run's summary")
    return p.parse_args(argv)


def clips_to_crop(data_dir: Path, names_file=None, speakers=None) -> tuple[list[str], int]:
    """The clips to cache (those with an alignment) and how many videos were left out for
    having none. speakers: numbers, as grid.parse_speakers returns them."""
    if not data_dir.is_dir():
        what = "is not a folder" if data_dir.exists() else "no such data folder"
        raise FileNotFoundError(f"{data_dir}: {what}")
    if names_file:
        names = grid.read_names(names_file)
        where = str(names_file)
    else:
        present = grid.list_speakers(data_dir)
        chosen = present if speakers is None else \
            [s for s in present if int(s[1:]) in set(speakers)]
        if not chosen:
            wanted = "" if speakers is None else \
                " of " + ",".join(f"s{n}" for n in speakers)
            raise ValueError(f"{data_dir}: no speaker folders with videos{wanted} (expected "
                             "sN/<name>.mpg and alignments/sN/<name>.align)")
        names = grid.list_clips(data_dir, chosen)
        where = f"{data_dir} ({', '.join(chosen)})"
    aligned = [n for n in names if grid.alignment_path(data_dir, n).is_file()]
    if not aligned:
        raise ValueError(f"{where}: no clips with alignments (expected sN/<name>.mpg and "
                         f"alignments/sN/<name>.align under {data_dir})")
    return aligned, len(names) - len(aligned)


def main(args) -> dict:
    data_dir = grid.resolve_data_dir(args.data_dir)
    speakers = None
    if args.speakers:
        speakers = grid.parse_speakers(args.speakers)
    names, unaligned = clips_to_crop(data_dir, args.names, speakers)
    cache_dir = Path(args.cache_dir) if args.cache_dir else cropstore.DEFAULT_CACHE_DIR
    workers = args.workers or os.cpu_count() or 1
    say = sys.stderr if args.json == "-" else sys.stdout

    def log(*parts):
        print(*parts, file=say, flush=True)

    if unaligned:
        log(f"{unaligned} videos have no alignment file: left out")
    done = cropcache.preprocess(data_dir, names, cache_dir, args.crop, workers, log=log,
                                progress=True, report=args.report,
                                retry_failed=args.retry_failed)
    new, seconds = done.computed, done.seconds
    tried = new + len(done.failures) - done.remembered
    rate = tried / seconds if tried and seconds > 0 else None
    per_worker = rate / done.workers if rate else None
    log(f"{len(done.names)} of {len(names)} clips cached in {done.root} ({new} new, "
        f"{len(done.names) - new} there already); {len(done.failures)} skipped"
        + (f" ({done.remembered} known unreadable from earlier runs)" if done.remembered
           else "") + f": see {done.report}")
    log(f"{seconds:.1f} s" + (f", {rate:.2f} clips/s with {done.workers} worker process(es), "
                              f"{per_worker:.2f} clips/s per worker" if rate else
                              ", nothing new to crop"))
    return {"data_dir": str(data_dir), "cache": str(done.root), "crop": args.crop,
            "clips": len(names), "cached": len(done.names), "new": new,
            "skipped": len(done.failures), "remembered": done.remembered,
            "no_alignment": unaligned, "report": str(done.report), "workers": done.workers,
            "seconds": round(seconds, 3), "clips_per_s": rate,
            "clips_per_s_per_worker": per_worker, "failures": done.failures}


def cli(argv=None) -> int:
    args = parse_args(argv)
    try:
        common.check_writable(args.json)
        if args.report:
            common.check_writable(args.report)
        summary = main(args)
    except (OSError, ValueError) as err:  # no data folder, no clips, a bad names file
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    except KeyboardInterrupt:
        common.error(PROG, "interrupted; the clips cached so far are kept (run again to "
                            "go on)")
        return 130
    if args.json:
        common.write_json(args.json, summary)
    return common.EXIT_OK
