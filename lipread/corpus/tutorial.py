"""The LipNet tutorial's two archives from Google Drive (`lipread download data`, `lipread download
checkpoint`; GRID's own archive: corpus.py): data.zip, GRID's s1 videos and alignments
with the splits added, and checkpoints.zip, its TensorFlow weights. Each is fetched (or
taken from a --zip at hand) into a folder beside the destination, checked, extracted
there and moved into place only when whole.
"""
from __future__ import annotations

import contextlib
import os
import urllib.parse
from pathlib import Path

from lipread import grid
from lipread.corpus.archives import (
    BadInput,
    DownloadError,
    check_zip,
    extract,
    folders,
    workspace,
)
from lipread.corpus.transfer import TIMEOUT_S, Limits, fetch, http_fetch
from lipread.corpus.zenodo import split_counts, write_splits
from lipread.progress import megabytes

DATA_DRIVE_ID = "1YlvpDLix3S-U8fd-gqRwPcWXAXm8JwjL"  # the tutorial's data.zip
CHECKPOINT_DRIVE_ID = "1vWscXs4Vt0a_1IH1-ct2TCgXAZT-N3_Y"  # the tutorial's checkpoints.zip
EXPECT_VIDEOS = 1000  # data.zip holds data/s1/*.mpg ...
EXPECT_ALIGNMENTS = 1000  # ... and data/alignments/s1/*.align
# The archives' sizes with margin (data.zip ~0.4 GB of MPEG clips, checkpoints.zip ~0.1 GB):
# a download that would grow past these is not the file it should be, nor one whose
# members would unpack to more (video and weights hardly compress).
DRIVE_HOSTS = ("drive.google.com", "drive.usercontent.google.com")  # gdown's, not plain HTTP
DATA_ZIP_MAX_BYTES = 1_000_000_000
CHECKPOINTS_ZIP_MAX_BYTES = 500_000_000
SSTABLE_MAGIC = bytes.fromhex("57fb808b247547db")  # the last 8 bytes of a TF .index file


def count_data(root: Path) -> tuple[int, int]:
    """(videos in root/s1, alignments in root/alignments/s1)."""
    videos = len(grid.list_clips(root))
    align_dir = grid.alignment_path(root, "x").parent
    alignments = len(list(align_dir.glob("*.align"))) if align_dir.is_dir() else 0
    return videos, alignments


def find_data_root(tree: Path) -> Path:
    for d in folders(tree):
        if (d / grid.SPEAKER).is_dir():
            return d
    raise DownloadError(f"the archive holds no {grid.SPEAKER}/ folder of videos "
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


def _archive(work: Path, name: str, drive_id: str, url: str | None, local_zip,
             log=print, limits: Limits = Limits()) -> Path:
    """The archive, whole and checked: the --zip, a plain URL (http_fetch: bounded in time,
    rate and size) or Google Drive (gdown; its size checked once it has landed)."""
    if local_zip:
        path = Path(local_zip)
        if not path.is_file():
            raise BadInput(f"{path}: no such file")
        log(f"checking {path}", flush=True)
    else:
        path = work / name
        log(f"downloading {name} from {url or f'Google Drive (id {drive_id})'}", flush=True)
        host = urllib.parse.urlparse(url).hostname or "" if url else ""
        if url and not host.endswith(DRIVE_HOSTS):
            http_fetch(url, work / f"{name}.part", TIMEOUT_S, limits=limits, resumable=False)
            os.replace(work / f"{name}.part", path)
        else:
            fetch(path, drive_id, url, TIMEOUT_S, limits)
    if limits.max_bytes is not None and path.stat().st_size > limits.max_bytes:
        raise BadInput(f"{path.name}: {megabytes(path.stat().st_size)}, more than the "
                       f"{megabytes(limits.max_bytes)} it should be at most: not the file it "
                       "should be")
    check_zip(path, drive_id, url, budget=limits.max_bytes)  # unpacked: as big at most
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


def source_of(url, local_zip, drive_id) -> str:
    """Where an archive comes from, as a summary says it: the --zip, the URL or Drive's."""
    return str(local_zip) if local_zip else url or f"https://drive.google.com/uc?id={drive_id}"


def get_data(dest: Path, url=None, local_zip=None, expect_videos=EXPECT_VIDEOS,
             expect_alignments=EXPECT_ALIGNMENTS, log=print, limits: Limits = Limits()) -> dict:
    """The data in `dest`; returns what was done: {"status", "message", "videos", ...}."""
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    source = source_of(url, local_zip, DATA_DRIVE_ID)
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
    with workspace(dest.absolute().parent, f".{dest.name}.data-download-", dest) as work:
        with _given_zip_is_bad(local_zip):
            archive = _archive(work, "data.zip", DATA_DRIVE_ID, url, local_zip, log,
                               limits.capped(DATA_ZIP_MAX_BYTES))
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
    splits = split_counts(dest)
    said = (f"; splits: {splits['train']} train, {splits['test']} test"
            if wrote_splits and splits else "")
    return {"status": "extracted" if local_zip else "downloaded", "source": source,
            "videos": videos, "alignments": alignments, "splits": splits,
            "splits_written": wrote_splits,
            "message": f"{dest}: {videos} videos, {alignments} alignments{said}"}


def _checkpoint_files(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.glob("checkpoint*"))


def get_checkpoint(dest: Path, url=None, local_zip=None, log=print,
                   limits: Limits = Limits()) -> dict:
    """The tutorial's checkpoint in `dest`; returns what was done, as get_data does."""
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: exists and is not a folder")
    if checkpoint_complete(dest):
        return {"status": "already there", "source": None, "files": _checkpoint_files(dest),
                "message": f"{dest / 'checkpoint'}: already there; nothing to do"}
    source = source_of(url, local_zip, CHECKPOINT_DRIVE_ID)
    with workspace(dest.absolute().parent, f".{dest.name}.checkpoint-download-",
                   dest) as work:
        with _given_zip_is_bad(local_zip):
            archive = _archive(work, "checkpoints.zip", CHECKPOINT_DRIVE_ID, url, local_zip,
                               log, limits.capped(CHECKPOINTS_ZIP_MAX_BYTES))
            extract(archive, work / "x")
            folder = find_checkpoint(work / "x")
        dest.mkdir(exist_ok=True)
        # Values first, the index last: TF (and modelutil) see a checkpoint only once
        # its .index is there, and by then everything it points to is in place.
        files = sorted(folder.glob("checkpoint.data-*")) + [folder / "checkpoint",
                                                            folder / "checkpoint.index"]
        for f in files:
            os.replace(f, dest / f.name)
    return {"status": "extracted" if local_zip else "downloaded", "source": source,
            "files": _checkpoint_files(dest),
            "message": f"{dest / 'checkpoint'}: the tutorial's weights (use --arch tutorial)"}
