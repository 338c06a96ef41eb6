"""Fetch the LipNet tutorial's GRID s1 data and its checkpoint, or all of GRID, safely.

    python download.py data                        # data.zip -> data/s1, data/alignments/s1
    python download.py checkpoint                  # checkpoints.zip -> models/checkpoint*
    python download.py grid --speakers s1-s34      # GRID's own archive -> data/sN, ...
    python download.py data --data-dir /mnt/grid   # somewhere else (--dest: the same)
    python download.py data --zip ~/Downloads/data.zip   # a zip fetched in a browser
    python download.py data --url http://host/data.zip   # another server (the tests use one)
    python download.py data --json -               # a JSON summary on stdout

The data goes to --data-dir, else $LIPREAD_DATA_DIR, else data/, as for every script.
Exit status: 0 done (or already there), 1 a failure while running (the network, a bad
download), 2 bad input or usage (a bad --zip, a destination that cannot take the data).

Both archives come from Google Drive through gdown, as in the tutorial, but nothing
lands in place before it has been checked: the download goes to a temporary folder
beside the destination; it must be a whole zip archive (not Drive's HTML quota page)
holding the expected files; it is extracted there and renamed into place in one step.
When the data is already there, nothing is downloaded. The data gets splits/train.txt
and splits/test.txt, with the same 100 test clips as ../shared/grid.
`grid` fetches GRID's own archive (Zenodo record 3625687; corpus.py says what it holds),
several files at once, resuming a broken transfer (DIR/.downloads/<file>.part); a speaker
lands whole (sN/.complete) or not at all, and one already there is skipped.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
from pathlib import Path

import corpus
from archives import BadInput, DownloadError, check_zip, extract, fetch, folders, workspace
from corpus import split_counts, write_splits

# --- defaults (each one a flag) ---------------------------------------------
DATA_DRIVE_ID = "1YlvpDLix3S-U8fd-gqRwPcWXAXm8JwjL"  # the tutorial's data.zip
CHECKPOINT_DRIVE_ID = "1vWscXs4Vt0a_1IH1-ct2TCgXAZT-N3_Y"  # the tutorial's checkpoints.zip
DATA_DEST = "data"
CHECKPOINT_DEST = "models"
EXPECT_VIDEOS = 1000  # data.zip holds data/s1/*.mpg ...
EXPECT_ALIGNMENTS = 1000  # ... and data/alignments/s1/*.align
URL_ENV = {"data": "LIPREAD_DATA_URL", "checkpoint": "LIPREAD_CHECKPOINT_URL",  # not Drive
           "grid": corpus.URL_ENV}  # not Zenodo
TIMEOUT_S = 60  # to connect, and between two reads

PROG = "download.py"
SSTABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # the last 8 bytes of a TF .index file


def count_data(root: Path) -> tuple[int, int]:
    """(videos in root/s1, alignments in root/alignments/s1)."""
    import utils

    videos = len(utils.list_clips(root))
    align_dir = utils.alignment_path(root, "x").parent
    alignments = len(list(align_dir.glob("*.align"))) if align_dir.is_dir() else 0
    return videos, alignments


def find_data_root(tree: Path) -> Path:
    import utils

    for d in folders(tree):
        if (d / utils.SPEAKER).is_dir():
            return d
    raise DownloadError(f"the archive holds no {utils.SPEAKER}/ folder of videos "
                        "(expected data/s1/*.mpg and data/alignments/s1/*.align)")


def find_checkpoint(tree: Path) -> Path:
    """The folder holding checkpoint.index, its data shards and state file, all checked."""
    folder = next((d for d in folders(tree) if (d / "checkpoint.index").is_file()), None)
    if folder is None:
        raise DownloadError("the archive holds no checkpoint.index (expected the tutorial's "
                            "checkpoint, checkpoint.index, checkpoint.data-00000-of-00001)")
    index = folder / "checkpoint.index"
    with open(index, "rb") as f:
        f.seek(max(0, index.stat().st_size - 8))
        if f.read(8) != SSTABLE_MAGIC:
            raise DownloadError("checkpoint.index in the archive is not a TensorFlow "
                                "checkpoint index (truncated or corrupt)")
    shards = sorted(folder.glob("checkpoint.data-*-of-*"))
    if not shards:
        raise DownloadError("the archive has checkpoint.index but no checkpoint.data-* file")
    total = int(shards[0].name.rsplit("-of-", 1)[1])
    missing = [f"checkpoint.data-{i:05d}-of-{total:05d}" for i in range(total)
               if not (folder / f"checkpoint.data-{i:05d}-of-{total:05d}").is_file()]
    if missing or any(s.stat().st_size == 0 for s in shards):
        raise DownloadError(f"the archive's checkpoint is incomplete ({len(missing)} of "
                            f"{total} data files missing or empty)")
    state = folder / "checkpoint"
    if not state.is_file():  # the state file the tutorial's load_weights reads
        state.write_text('model_checkpoint_path: "checkpoint"\n'
                         'all_model_checkpoint_paths: "checkpoint"\n')
    return folder


def checkpoint_complete(dest: Path) -> bool:
    return ((dest / "checkpoint.index").is_file() and (dest / "checkpoint").is_file()
            and any(dest.glob("checkpoint.data-*")))


# --- the tutorial's two archives (grid: corpus.get_grid) --------------------

def _archive(work: Path, name: str, drive_id: str, url: str | None, local_zip,
             log=print) -> Path:
    if local_zip:
        path = Path(local_zip)
        if not path.is_file():
            raise BadInput(f"{path}: no such file")
        log(f"checking {path}", flush=True)
    else:
        path = work / name
        log(f"downloading {name} from {url or f'Google Drive (id {drive_id})'}", flush=True)
        fetch(path, drive_id, url, TIMEOUT_S)
    check_zip(path, drive_id, url)
    return path


@contextlib.contextmanager
def _given_zip_is_bad(local_zip):
    """A bad archive is bad input when the user handed it over, a failure when fetched."""
    try:
        yield
    except BadInput:
        raise
    except DownloadError as err:
        if local_zip:
            raise BadInput(str(err)) from None
        raise


def _source(url, local_zip, drive_id) -> str:
    return str(local_zip) if local_zip else url or f"https://drive.google.com/uc?id={drive_id}"


def get_data(dest: Path, url=None, local_zip=None, expect_videos=EXPECT_VIDEOS,
             expect_alignments=EXPECT_ALIGNMENTS, log=print) -> dict:
    """The data in `dest`; returns what was done: {"status", "message", "videos", ...}."""
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    source = _source(url, local_zip, DATA_DRIVE_ID)
    if dest.is_dir() and any(dest.iterdir()):
        videos, alignments = count_data(dest)
        if videos >= expect_videos and alignments >= expect_alignments:
            return {"status": "already there", "source": None, "videos": videos,
                    "alignments": alignments, "splits": split_counts(dest),
                    "message": (f"{dest}: already there ({videos} videos, {alignments} "
                                "alignments); nothing to do")}
        raise BadInput(f"{dest}: exists but holds {videos} videos and {alignments} "
                       f"alignments, not {expect_videos} and {expect_alignments}: move "
                       "it away and run again, or pass another --data-dir")
    work = workspace(dest, "data")
    try:
        with _given_zip_is_bad(local_zip):
            archive = _archive(work, "data.zip", DATA_DRIVE_ID, url, local_zip, log)
            extract(archive, work / "x")
            root = find_data_root(work / "x")
            videos, alignments = count_data(root)
            if (videos, alignments) != (expect_videos, expect_alignments):
                raise DownloadError(f"{archive.name}: holds {videos} videos and {alignments} "
                                    f"alignments, expected {expect_videos} and "
                                    f"{expect_alignments} (not the tutorial's data.zip?)")
        wrote_splits = not (root / "splits").is_dir()
        if wrote_splits:
            write_splits(root)
        if dest.is_dir():
            dest.rmdir()  # empty, checked above
        os.rename(root, dest)  # the one step that makes it appear
    finally:
        shutil.rmtree(work, ignore_errors=True)
    splits = split_counts(dest)
    said = (f"; splits: {splits['train']} train, {splits['test']} test"
            if wrote_splits and splits else "")
    return {"status": "extracted" if local_zip else "downloaded", "source": source,
            "videos": videos, "alignments": alignments, "splits": splits,
            "splits_written": wrote_splits,
            "message": f"{dest}: {videos} videos, {alignments} alignments{said}"}


def _checkpoint_files(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.glob("checkpoint*"))


def get_checkpoint(dest: Path, url=None, local_zip=None, log=print) -> dict:
    """The tutorial's checkpoint in `dest`; returns what was done, as get_data does."""
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    if checkpoint_complete(dest):
        return {"status": "already there", "source": None, "files": _checkpoint_files(dest),
                "message": f"{dest / 'checkpoint'}: already there; nothing to do"}
    source = _source(url, local_zip, CHECKPOINT_DRIVE_ID)
    work = workspace(dest, "checkpoint")
    try:
        with _given_zip_is_bad(local_zip):
            archive = _archive(work, "checkpoints.zip", CHECKPOINT_DRIVE_ID, url, local_zip,
                               log)
            extract(archive, work / "x")
            folder = find_checkpoint(work / "x")
        dest.mkdir(exist_ok=True)
        # Values first, the index last: TF (and modelutil) see a checkpoint only once
        # its .index is there, and by then everything it points to is in place.
        files = sorted(folder.glob("checkpoint.data-*")) + [folder / "checkpoint",
                                                            folder / "checkpoint.index"]
        for f in files:
            os.replace(f, dest / f.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"status": "extracted" if local_zip else "downloaded", "source": source,
            "files": _checkpoint_files(dest),
            "message": f"{dest / 'checkpoint'}: the tutorial's weights (use --arch tutorial)"}


def parse_args(argv=None):
    import cliutil

    p = cliutil.parser(PROG, __doc__)
    p.epilog = ("exit status: 0 done (or already there), 1 a failure while running (the "
                "network, a bad download), 2 bad input or usage")
    p.add_argument("what", choices=("data", "checkpoint", "grid"),
                   help="data: the tutorial's GRID s1 videos and alignments; checkpoint: its "
                        "weights; grid: GRID's videos and alignments by speaker (Zenodo)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the data goes (data and grid; default: $LIPREAD_DATA_DIR, else "
                        f"{DATA_DEST}/)")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="for data and grid: the same as --data-dir; for checkpoint: where it "
                        f"goes (default: {CHECKPOINT_DEST}/)")
    p.add_argument("--url", default=None,
                   help="download from this URL instead of Google Drive; for grid, the folder "
                        "URL holding s1.zip ... alignments.zip (default: "
                        f"${URL_ENV['data']} / ${URL_ENV['checkpoint']} / ${corpus.URL_ENV} "
                        f"when set, else Drive; for grid {corpus.ZENODO})")
    p.add_argument("--speakers", default=None, metavar="LIST",
                   help="grid: which speakers, as s1-s34, s1,s3,s5-s7 or 1-4 (default: "
                        f"{corpus.SPEAKERS_ALL}; s21, which has no video, is skipped)")
    p.add_argument("--jobs", type=cliutil.positive_int, default=None, metavar="N",
                   help=f"grid: files downloaded at once (default: {corpus.JOBS})")
    p.add_argument("--zip", dest="local_zip", default=None, metavar="PATH",
                   help="use this already downloaded zip instead of downloading "
                        "(default: download)")
    p.add_argument("--expect-videos", type=cliutil.positive_int, default=EXPECT_VIDEOS,
                   metavar="N", help="videos the data archive must hold")
    p.add_argument("--expect-alignments", type=cliutil.positive_int, default=EXPECT_ALIGNMENTS,
                   metavar="N", help="alignments the data archive must hold")
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write a JSON summary of what was done here ('-': stdout, and the "
                        "messages go to stderr) (default: none)")
    args = p.parse_args(argv)
    if args.what == "checkpoint" and args.data_dir:
        p.error("--data-dir is where GRID data goes; for the checkpoint use --dest "
                f"(default: {CHECKPOINT_DEST}/)")
    if args.data_dir and args.dest and Path(args.data_dir) != Path(args.dest):
        p.error(f"--data-dir {args.data_dir} and --dest {args.dest} disagree: give one")
    if args.what != "grid" and (args.speakers or args.jobs):
        p.error(f"--speakers and --jobs are for grid, not {args.what}")
    if args.what == "grid":
        if args.local_zip:
            p.error("--zip is for data and checkpoint: grid takes many zips (give --url)")
        try:
            args.speakers = corpus.parse_speakers(args.speakers or corpus.SPEAKERS_ALL)
        except ValueError as err:
            p.error(f"--speakers: {err}")
    return args


def destination(args) -> Path:
    """checkpoint: --dest, else models/; data, grid: --data-dir (or --dest), then
    $LIPREAD_DATA_DIR, then data/ (utils.resolve_data_dir, as every script)."""
    if args.what == "checkpoint":
        return Path(args.dest or CHECKPOINT_DEST)
    import utils

    return utils.resolve_data_dir(args.data_dir or args.dest)


def cli(argv=None) -> int:
    import cliutil

    args = parse_args(argv)
    url = args.url or os.environ.get(URL_ENV[args.what]) or None
    # With the JSON on stdout, the messages for people go to stderr.
    out = sys.stderr if args.json == "-" else sys.stdout
    log = functools.partial(print, file=out)
    dest = destination(args)
    drive_id = DATA_DRIVE_ID if args.what == "data" else CHECKPOINT_DRIVE_ID
    source = url or corpus.ZENODO if args.what == "grid" else _source(url, args.local_zip,
                                                                       drive_id)
    summary = {"what": args.what, "dest": str(dest), "status": "failed", "source": source}
    try:
        cliutil.check_writable(args.json)
    except OSError as err:
        cliutil.error(PROG, err)
        return cliutil.EXIT_BAD_INPUT
    status = cliutil.EXIT_OK
    try:
        if args.what == "data":
            done = get_data(dest, url, args.local_zip, args.expect_videos,
                            args.expect_alignments, log)
        elif args.what == "grid":
            done = corpus.get_grid(dest, args.speakers, source, args.jobs or corpus.JOBS, log)
        else:
            done = get_checkpoint(dest, url, args.local_zip, log)
        summary.update(done)
        if done.get("error"):  # grid: some speakers failed (the others landed)
            raise DownloadError(done["error"])
        log(done["message"], flush=True)
    except DownloadError as err:
        status, summary["error"] = err.exit_status, str(err)
    except OSError as err:  # a full disk, a folder we may not write in
        where = f"{err.filename}: " if err.filename else ""
        status, summary["error"] = cliutil.EXIT_FAILED, f"{where}{err.strerror or err}"
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was left half-written"
              + ("; a cut download resumes on the next run" if args.what == "grid" else ""),
              file=sys.stderr)
        return 130
    if status != cliutil.EXIT_OK:
        cliutil.error(PROG, summary["error"])
    else:
        summary["error"] = None
    summary["exit_status"] = status
    summary.pop("message", None)
    if args.json:
        cliutil.write_json(args.json, summary)
    return status


if __name__ == "__main__":
    sys.exit(cli())
