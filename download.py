"""Fetch the LipNet tutorial's GRID s1 data and its pretrained checkpoint, safely.

    python download.py data                        # data.zip -> data/s1, data/alignments/s1
    python download.py checkpoint                  # checkpoints.zip -> models/checkpoint*
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
"""
from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

from archives import BadInput, DownloadError, check_zip, extract, fetch

# --- defaults (each one a flag) ---------------------------------------------
DATA_DRIVE_ID = "1YlvpDLix3S-U8fd-gqRwPcWXAXm8JwjL"  # the tutorial's data.zip
CHECKPOINT_DRIVE_ID = "1vWscXs4Vt0a_1IH1-ct2TCgXAZT-N3_Y"  # the tutorial's checkpoints.zip
DATA_DEST = "data"
CHECKPOINT_DEST = "models"
EXPECT_VIDEOS = 1000  # data.zip holds data/s1/*.mpg ...
EXPECT_ALIGNMENTS = 1000  # ... and data/alignments/s1/*.align
URL_ENV = {"data": "LIPREAD_DATA_URL", "checkpoint": "LIPREAD_CHECKPOINT_URL"}  # not Drive
TIMEOUT_S = 60  # to connect, and between two reads
SEED = 0  # of the test split drawn when the data lacks the 100 clips below

# The test split of ../shared/grid (and of the README's figures): evaluating on the same
# 100 clips keeps a downloaded copy's numbers comparable. Every other clip trains.
TEST_NAMES = """
bbaf2n bbal6n bbal8p bbas1s bbbf9a bbil2n bbws8n bgau1a bgbn8n bgbu5a bgig7s bgig8p
bgwb5s bgwh8n bram5a bras6n bras9a brbg2n brbm6n brbt3a bris4p bwag5s bwbg8n bwim7a
bwis9s bwwh2n lbaq7a lbbezn lbid3s lbix5s lbwe5s lbwk9s lbwr3s lbwr4p lbwy9a lgir9s
lgwa1a lgwazp lgwg4p lgwm6n lgwtzn lray7a lrbe7s lrby9s lrie1a lriq9a lriy3a lrwl6p
lwaz2p lwbf5a lwir5a pbac2p pbbc4n pbii2p pgad9s pgaezp pgbe3s pgbe4p pgbk6n pgid6p
pgij8n pgiq2n pgwlzn prac7s prap6p prbd1s prbj6p pripzn prwk1a pwad5a pwbk2p pwbx8n
pwbx9s pwby1a pwix3a pwwq9s sbaa7a sbig6p sbwo1s sbwu7a sgac4p sgap2p sgbjzn sgbv8n
sgii5a sgwj6p srab3a srbu6n srih3a srin4n srit8n swai1s swao4n swbi6p swbv5a swih7s
swiu5s swwc7a swwi8n swwv7s
""".split()

PROG = "download.py"
SSTABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # the last 8 bytes of a TF .index file


def _folders(tree: Path, depth: int = 3):
    """tree and the folders below it, shallowest first, skipping macOS litter."""
    level = [tree]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            yield d
            nxt += sorted(p for p in d.iterdir() if p.is_dir() and p.name != "__MACOSX")
        level = nxt


def count_data(root: Path) -> tuple[int, int]:
    """(videos in root/s1, alignments in root/alignments/s1)."""
    import utils

    videos = len(utils.list_clips(root))
    align_dir = utils.alignment_path(root, "x").parent
    alignments = len(list(align_dir.glob("*.align"))) if align_dir.is_dir() else 0
    return videos, alignments


def find_data_root(tree: Path) -> Path:
    import utils

    for d in _folders(tree):
        if (d / utils.SPEAKER).is_dir():
            return d
    raise DownloadError(f"the archive holds no {utils.SPEAKER}/ folder of videos "
                        "(expected data/s1/*.mpg and data/alignments/s1/*.align)")


def write_splits(root: Path) -> tuple[int, int]:
    """splits/train.txt and splits/test.txt for the clips that have an alignment."""
    import utils

    names = [n for n in utils.list_clips(root) if utils.alignment_path(root, n).is_file()]
    test = [n for n in TEST_NAMES if n in set(names)]
    if len(test) < len(TEST_NAMES):  # another archive: a seeded 10% instead
        shuffled = list(names)
        random.Random(SEED).shuffle(shuffled)
        test = sorted(shuffled[:max(1, round(len(names) / 10))]) if len(names) > 1 else []
    train = [n for n in names if n not in set(test)]
    (root / "splits").mkdir(exist_ok=True)
    (root / "splits" / "train.txt").write_text("".join(f"{n}\n" for n in train))
    (root / "splits" / "test.txt").write_text("".join(f"{n}\n" for n in test))
    return len(train), len(test)


def find_checkpoint(tree: Path) -> Path:
    """The folder holding checkpoint.index, its data shards and state file, all checked."""
    folder = next((d for d in _folders(tree) if (d / "checkpoint.index").is_file()), None)
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


# --- the two commands -------------------------------------------------------

def _workspace(dest: Path, what: str) -> Path:
    """A fresh folder beside dest (same file system, so renames out of it are atomic)."""
    parent = dest.absolute().parent
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise BadInput(f"{dest}: {parent} {problem}")
    try:
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.{what}-download-", dir=parent))
    except OSError as err:
        raise BadInput(f"{dest}: cannot write in {parent} ({err.strerror})") from None


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


def _split_counts(root: Path) -> dict | None:
    files = {k: root / "splits" / f"{k}.txt" for k in ("train", "test")}
    if not all(f.is_file() for f in files.values()):
        return None
    return {k: sum(1 for line in f.read_text().splitlines() if line.split("#")[0].strip())
            for k, f in files.items()}


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
                    "alignments": alignments, "splits": _split_counts(dest),
                    "message": (f"{dest}: already there ({videos} videos, {alignments} "
                                "alignments); nothing to do")}
        raise BadInput(f"{dest}: exists but holds {videos} videos and {alignments} "
                       f"alignments, not {expect_videos} and {expect_alignments}: move "
                       "it away and run again, or pass another --data-dir")
    work = _workspace(dest, "data")
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
    splits = _split_counts(dest)
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
    work = _workspace(dest, "checkpoint")
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
    p.add_argument("what", choices=("data", "checkpoint"),
                   help="data: GRID s1 videos and alignments; checkpoint: the tutorial's weights")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="where the data goes (data only; default: $LIPREAD_DATA_DIR, else "
                        f"{DATA_DEST}/)")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="for data: the same as --data-dir; for checkpoint: where it goes "
                        f"(default: {CHECKPOINT_DEST}/)")
    p.add_argument("--url", default=None,
                   help="download from this URL instead of Google Drive (default: "
                        f"${URL_ENV['data']} / ${URL_ENV['checkpoint']} when set, else Drive)")
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
    return args


def destination(args) -> Path:
    """checkpoint: --dest, else models/; data: --data-dir (or --dest), then
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
    summary = {"what": args.what, "dest": str(dest), "status": "failed",
               "source": _source(url, args.local_zip, drive_id)}
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
        else:
            done = get_checkpoint(dest, url, args.local_zip, log)
        summary.update(done)
        log(done["message"], flush=True)
    except DownloadError as err:
        status, summary["error"] = err.exit_status, str(err)
    except OSError as err:  # a full disk, a folder we may not write in
        where = f"{err.filename}: " if err.filename else ""
        status, summary["error"] = cliutil.EXIT_FAILED, f"{where}{err.strerror or err}"
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was left half-written", file=sys.stderr)
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
