"""Fetch the LipNet tutorial's GRID s1 data and its checkpoint, or all of GRID, safely.

    lipread download data                        # data.zip -> data/s1, data/alignments/s1
    lipread download checkpoint                  # checkpoints.zip -> models/checkpoint*
    lipread download grid --speakers s1-s34      # GRID's own archive -> data/sN, ...
    lipread download data --data-dir /mnt/grid   # somewhere else (--dest: the same)
    lipread download data --zip ~/Downloads/data.zip   # a zip fetched in a browser
    lipread download data --url http://host/data.zip   # another server (the tests use one)
    lipread download data --json -               # a JSON summary on stdout

The data goes to --data-dir, else $LIPREAD_DATA_DIR, else data/, as for every script.
Exit status: 0 done (or already there), 1 a failure while running (the network, a bad
download), 2 bad input or usage (a bad --zip, a destination that cannot take the data).

Both archives come from Google Drive through gdown, as in the tutorial, but nothing
lands in place before it has been checked: the download goes to a temporary folder
beside the destination; it must be a whole zip archive (not Drive's HTML quota page)
holding the expected files; it is extracted there and renamed into place in one step.
When the data is already there, nothing is downloaded. The data gets splits/train.txt
and splits/test.txt, with the same 100 test clips as the shipped figures (models/README.md).
`grid` fetches GRID's own archive (Zenodo record 3625687; corpus.py says what it holds),
several files at once, resuming a broken transfer (DIR/.downloads/<file>.part); a speaker
lands whole (sN/.complete) or not at all, and one already there is skipped.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from lipread import grid
from lipread.cli import common
from lipread.corpus import transfer, tutorial, zenodo
from lipread.corpus.archives import BadInput, DownloadError
from lipread.corpus.tutorial import get_checkpoint, get_data, source_of
from lipread.model import loader

URL_ENV = {"data": "LIPREAD_DATA_URL", "checkpoint": "LIPREAD_CHECKPOINT_URL",  # not Drive
           "grid": zenodo.URL_ENV}  # not Zenodo
PROG = "lipread download"


def parse_args(argv=None):
    p = common.parser(PROG, __doc__)
    p.epilog = ("exit status: 0 done (or already there), 1 a failure while running (the "
                "network, a bad download), 2 bad input or usage")
    p.add_argument("what", choices=("data", "checkpoint", "grid"),
                   help="data: the tutorial's GRID s1 videos and alignments; checkpoint: its "
                        "weights; grid: GRID's videos and alignments by speaker (Zenodo)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the data goes (data and grid; default: $LIPREAD_DATA_DIR, else "
                        f"{grid.DEFAULT_DATA_DIR}/)")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="for data and grid: the same as --data-dir; for checkpoint: where it "
                        f"goes (default: {loader.MODELS_DIR}/, beside the shipped weights)")
    p.add_argument("--url", default=None,
                   help="download from this URL instead of Google Drive; for grid, the folder "
                        "URL holding s1.zip ... alignments.zip (default: "
                        f"${URL_ENV['data']} / ${URL_ENV['checkpoint']} / ${zenodo.URL_ENV} "
                        f"when set, else Drive; for grid {zenodo.ZENODO})")
    common.add_speakers(p, f"grid: which speakers (default: {zenodo.SPEAKERS_ALL}; s21, which "
                           "has no video, is skipped)", metavar="LIST")
    p.add_argument("--jobs", type=common.positive_int, default=None, metavar="N",
                   help=f"grid: files downloaded at once (default: {zenodo.JOBS})")
    p.add_argument("--deadline", type=common.positive, default=transfer.DEADLINE_S,
                   metavar="SECONDS", help="the longest one file's download may take")
    p.add_argument("--min-rate", type=common.non_negative, default=transfer.MIN_RATE_KBPS,
                   metavar="KB_PER_S", help="a download slower than this over "
                   f"{transfer.RATE_WINDOW_S} s is stopped (its .part kept to resume; "
                   "0: any rate)")
    p.add_argument("--zip", dest="local_zip", default=None, metavar="PATH",
                   help="use this already downloaded zip instead of downloading "
                        "(default: download)")
    p.add_argument("--expect-videos", type=common.positive_int, default=tutorial.EXPECT_VIDEOS,
                   metavar="N", help="videos the data archive must hold")
    p.add_argument("--expect-alignments", type=common.positive_int,
                   default=tutorial.EXPECT_ALIGNMENTS,
                   metavar="N", help="alignments the data archive must hold")
    common.add_json(p, "a summary of what was done")
    args = p.parse_args(argv)
    if args.what == "checkpoint" and args.data_dir:
        p.error("--data-dir is where GRID data goes; for the checkpoint use --dest "
                f"(default: {loader.MODELS_DIR}/)")
    if args.data_dir and args.dest and Path(args.data_dir) != Path(args.dest):
        p.error(f"--data-dir {args.data_dir} and --dest {args.dest} disagree: give one")
    if args.what != "grid" and (args.speakers or args.jobs):
        p.error(f"--speakers and --jobs are for grid, not {args.what}")
    if args.what == "grid":
        if args.local_zip:
            p.error("--zip is for data and checkpoint: grid takes many zips (give --url)")
        try:
            args.speakers = grid.parse_speakers(args.speakers or zenodo.SPEAKERS_ALL)
        except ValueError as err:
            p.error(f"--speakers: {err}")
    return args


def destination(args) -> Path:
    """checkpoint: --dest, else models/; data, grid: --data-dir (or --dest), then
    $LIPREAD_DATA_DIR, then data/ (grid.resolve_data_dir, as every script)."""
    if args.what == "checkpoint":
        return Path(args.dest or loader.MODELS_DIR)
    return grid.resolve_data_dir(args.data_dir or args.dest)


def cli(argv=None) -> int:
    args = parse_args(argv)
    url = args.url or os.environ.get(URL_ENV[args.what]) or None
    # With the JSON on stdout, the messages for people go to stderr.
    out = sys.stderr if args.json == "-" else sys.stdout
    log = functools.partial(print, file=out)
    dest = destination(args)
    drive_id = (tutorial.DATA_DRIVE_ID if args.what == "data"
                else tutorial.CHECKPOINT_DRIVE_ID)
    source = url or zenodo.ZENODO if args.what == "grid" else source_of(url, args.local_zip,
                                                                         drive_id)
    summary = {"what": args.what, "dest": str(dest), "status": "failed", "source": source}
    try:
        common.check_writable(args.json)
    except OSError as err:
        common.error(PROG, err)
        return common.EXIT_BAD_INPUT
    status = common.EXIT_OK
    limits = transfer.Limits(args.deadline, args.min_rate)
    try:
        if args.what == "data":
            done = get_data(dest, url, args.local_zip, args.expect_videos,
                            args.expect_alignments, log, limits)
        elif args.what == "grid":
            done = zenodo.get_grid(dest, args.speakers, source, args.jobs or zenodo.JOBS, log,
                                   limits=limits)
        else:
            done = get_checkpoint(dest, url, args.local_zip, log, limits)
        summary.update(done)
        if done.get("error"):  # grid: some speakers failed (the others landed)
            failure = BadInput if done.get("error_status") == common.EXIT_BAD_INPUT else \
                DownloadError
            raise failure(done["error"])
        log(done["message"], flush=True)
    except DownloadError as err:
        status, summary["error"] = err.exit_status, str(err)
    except OSError as err:  # a full disk, a folder we may not write in
        where = f"{err.filename}: " if err.filename else ""
        status, summary["error"] = common.EXIT_FAILED, f"{where}{err.strerror or err}"
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was left half-written"
              + ("; a cut download resumes on the next run" if args.what == "grid" else ""),
              file=sys.stderr)
        return 130
    if status != common.EXIT_OK:
        common.error(PROG, summary["error"])
    else:
        summary["error"] = None
    summary["exit_status"] = status
    summary.pop("message", None)
    if args.json:
        common.write_json(args.json, summary)
    return status
