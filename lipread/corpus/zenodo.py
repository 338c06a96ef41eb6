"""The GRID corpus on disk, and all of it from its official archive (`lipread download grid`).

    DIR/sN/<name>.mpg, DIR/alignments/sN/<name>.align   speaker N (1-34; s21 has no video)
    DIR/splits/train.txt, test.txt   s1's clips, for the scripts that read one speaker

The tutorial's data.zip is the s1 part of it (`lipread download data`). The archive: Zenodo
record 3625687 (GRID, Cooke et al. 2006, CC BY 4.0), https://zenodo.org/records/3625687/
files/<file>?download=1: sN.zip for each speaker but s21, and alignments.zip. What they
hold, and which alignments a speaker gets (its own folder's, or another's that names its
videos, or none, with a note): grid_archive.py.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from lipread.constants import VIDEO_EXTS
from lipread.corpus.archives import (
    BadInput,
    DownloadError,
    Refused,
    Stopped,
    Unreachable,
    check_zip,
    workspace,
)
from lipread.corpus.grid_archive import (
    ALIGNMENTS_ZIP,
    alignment_index,
    pick_alignments,
    speaker_videos,
)
from lipread.corpus.transfer import TIMEOUT_S, Limits, http_fetch
from lipread.grid import MAX_ALIGNMENT_BYTES
from lipread.progress import Progress

ZENODO = "https://zenodo.org/records/3625687/files"  # the record's files
URL_ENV = "LIPREAD_GRID_URL"  # another base URL (a mirror; the tests' server)
NO_VIDEO = frozenset({21})  # GRID has no video of speaker 21
SPEAKERS_ALL = "s1-s34"
JOBS = 4  # files downloaded at once
DOWNLOADS = ".downloads"  # DIR/.downloads/<file>.part: transfers to resume
# The record's files with margin (a speaker's zip < 1 GB, alignments.zip a few MB): a
# download that would grow past these is not the file it should be.
SPEAKER_ZIP_MAX_BYTES = 2_000_000_000
ALIGNMENTS_ZIP_MAX_BYTES = 100_000_000
MARKER = ".complete"  # DIR/sN/.complete: the speaker landed whole (JSON: what and whence)
SEED = 0  # of the test split drawn when the data lacks the 100 clips below

# The test split of the s1 data the shipped figures are measured on (models/README.md): evaluating on the same
# 100 clips keeps a downloaded copy's numbers comparable. Every other clip trains.
TEST_NAMES = """
bbaf2n bbal6n bbal8p bbas1s bbbf9a bbil2n bbws8n bgau1a bgbn8n bgbu5a bgig7s bgig8p bgwb5s
bgwh8n bram5a bras6n bras9a brbg2n brbm6n brbt3a bris4p bwag5s bwbg8n bwim7a bwis9s bwwh2n
lbaq7a lbbezn lbid3s lbix5s lbwe5s lbwk9s lbwr3s lbwr4p lbwy9a lgir9s lgwa1a lgwazp lgwg4p
lgwm6n lgwtzn lray7a lrbe7s lrby9s lrie1a lriq9a lriy3a lrwl6p lwaz2p lwbf5a lwir5a pbac2p
pbbc4n pbii2p pgad9s pgaezp pgbe3s pgbe4p pgbk6n pgid6p pgij8n pgiq2n pgwlzn prac7s prap6p
prbd1s prbj6p pripzn prwk1a pwad5a pwbk2p pwbx8n pwbx9s pwby1a pwix3a pwwq9s sbaa7a sbig6p
sbwo1s sbwu7a sgac4p sgap2p sgbjzn sgbv8n sgii5a sgwj6p srab3a srbu6n srih3a srin4n srit8n
swai1s swao4n swbi6p swbv5a swih7s swiu5s swwc7a swwi8n swwv7s
""".split()


def write_splits(root: Path) -> tuple[int, int]:
    """splits/train.txt and splits/test.txt for the s1 clips that have an alignment (bare
    names, bbaf2n, as in the tutorial's layout), whatever other speakers lie beside s1."""
    names = sorted(_stems(root / "s1") & _stems(root / "alignments" / "s1", (".align",)))
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


def split_counts(root: Path) -> dict | None:
    files = {k: root / "splits" / f"{k}.txt" for k in ("train", "test")}
    if not all(f.is_file() for f in files.values()):
        return None
    return {k: sum(1 for line in f.read_text().splitlines() if line.split("#")[0].strip())
            for k, f in files.items()}


# --- speakers, files, what is there -----------------------------------------



def file_url(base: str, name: str) -> str:
    base = base.rstrip("/")
    return f"{base}/{name}" + ("?download=1" if base == ZENODO else "")


def _stems(folder: Path, suffixes=None) -> set[str]:
    suffixes = suffixes or VIDEO_EXTS
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file()}


def speaker_state(root: Path, spk: str) -> dict | str | None:
    """Its counts when there (landed whole here, or videos that all have alignments, as
    data.zip's s1), None when absent, else what stands in the way, for the user to move."""
    videos_dir, align_dir = root / spk, root / "alignments" / spk
    videos, aligned = _stems(videos_dir), _stems(align_dir, (".align",))
    if (videos_dir / MARKER).is_file() or videos and videos <= aligned:
        return {"status": "already there", "videos": len(videos), "alignments": len(aligned)}
    if videos_dir.exists():
        aligned &= videos
        return (f"{videos_dir} exists but holds {len(videos)} videos, {len(aligned)} with an "
                "alignment: not a whole speaker; move it away and run again")
    if align_dir.exists():
        return f"{align_dir} exists without {videos_dir}: move it away and run again"
    return None


# --- the download -----------------------------------------------------------

class _Blocked(DownloadError):  # not tried: another file's failure says it all
    pass


@dataclass
class _Run:
    root: Path
    base: str
    progress: Progress  # its say() logs
    stop: threading.Event = field(default_factory=threading.Event)  # Ctrl-C
    offline: threading.Event = field(default_factory=threading.Event)
    fetched: set = field(default_factory=set)  # the names this run put in DIR/.downloads
    limits: Limits = Limits()

    def fetch(self, name: str, check=None) -> tuple:
        """DIR/.downloads/<name>, whole, checked (and check(path)); a bad one is removed."""
        if self.offline.is_set():  # the next files would only wait for the same answer
            raise _Blocked(f"{name}: not tried (no answer from {self.base})")
        if self.stop.is_set():
            raise Stopped(f"{name}: not tried (interrupted)")
        url, path = file_url(self.base, name), self.root / DOWNLOADS / name
        self.fetched.add(name)
        cap = ALIGNMENTS_ZIP_MAX_BYTES if name == ALIGNMENTS_ZIP else SPEAKER_ZIP_MAX_BYTES
        if not path.is_file():
            try:
                http_fetch(url, path.with_name(f"{name}.part"), TIMEOUT_S, self.progress,
                           self.stop, self.limits.capped(cap))
            except Unreachable:
                self.offline.set()
                raise
            os.replace(path.with_name(f"{name}.part"), path)
        try:
            check_zip(path, None, url, hint=f"an error page? Check --url (now {self.base})",
                      budget=cap)  # unpacked: video hardly compresses
            return path, check(path) if check else None
        except DownloadError as err:
            path.unlink(missing_ok=True)
            if isinstance(err, Refused):  # running again would fetch the same harm
                raise Refused(f"{err}; it was removed") from None
            raise DownloadError(f"{err}; it was removed: run again to download it afresh") \
                from None

    def speaker(self, spk: str, alignments) -> dict:
        try:
            align_zip, index = alignments.result()  # first: a small file all speakers need
        except DownloadError:
            raise _Blocked(f"{spk}: not tried ({ALIGNMENTS_ZIP} failed)") from None
        path, videos = self.fetch(f"{spk}.zip", lambda p: speaker_videos(p, spk))
        folder, note = pick_alignments(spk, videos, index)  # (None, note): none match
        if note:
            self.progress.say(note, flush=True)
        try:
            landed = self.land(spk, path, videos, align_zip, index.get(folder) or {})
        except OSError as err:  # a full disk, a folder in the way
            raise DownloadError(f"{spk}: cannot write {err.filename or self.root}: "
                                f"{err.strerror or err}") from None
        path.unlink()
        self.progress.say(f"{spk}: {landed['videos']} videos, {landed['alignments']} "
                          "alignments", flush=True)
        return {**landed, "alignments_from": folder and f"alignments/{folder}", "note": note}

    def land(self, spk: str, path: Path, videos: dict, align_zip: Path, aligns: dict) -> dict:
        """Extract into a folder inside DIR, then rename into place: alignments first, the
        videos (with the completion marker in them) last."""
        with workspace(self.root, f".{spk}-extract-") as work:
            (work / spk).mkdir()
            (work / "align").mkdir()
            with zipfile.ZipFile(path) as zf:
                for stem, member in videos.items():
                    with zf.open(member) as src, open(work / spk / f"{stem}.mpg", "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
            with zipfile.ZipFile(align_zip) as zf:
                for stem, member in aligns.items():
                    if zf.getinfo(member).file_size > MAX_ALIGNMENT_BYTES:
                        raise Refused(f"{ALIGNMENTS_ZIP}: refused, nothing extracted: {member} "
                                      f"is over {MAX_ALIGNMENT_BYTES // 1024} KB, not a GRID "
                                      "alignment (check --url)")
                    with zf.open(member) as src, open(work / "align" / f"{stem}.align",
                                                      "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 16)
            done = {"status": "downloaded", "videos": len(videos), "alignments": len(aligns)}
            (work / spk / MARKER).write_text(json.dumps(
                {"speaker": spk, **done, "source": file_url(self.base, f"{spk}.zip")}) + "\n")
            if aligns:
                (self.root / "alignments").mkdir(exist_ok=True)
                os.rename(work / "align", self.root / "alignments" / spk)
            os.rename(work / spk, self.root / spk)  # the step that makes it complete
        return done


def get_grid(root: Path, speakers, base: str = ZENODO, jobs: int = JOBS, log=print,
             bars: bool | None = None, limits: Limits = Limits()) -> dict:
    """The speakers' videos and alignments in `root`; returns what was done, with an
    "error" when some failed (the others land all the same)."""
    if root.exists() and not root.is_dir():
        raise BadInput(f"{root}: exists and is not a folder")
    summary = {"speakers": {}, "skipped": [f"s{n}" for n in speakers if n in NO_VIDEO]}
    wanted = [f"s{n}" for n in speakers if n not in NO_VIDEO]
    if not wanted:
        raise BadInput("--speakers: GRID has no video of speaker 21; nothing to download")
    for spk in summary["skipped"]:
        log(f"{spk}: GRID has no video of this speaker; skipped", flush=True)
    for spk in wanted:
        state = speaker_state(root, spk)
        if isinstance(state, str):
            raise BadInput(state)
        if state:
            summary["speakers"][spk] = state
    todo = [spk for spk in wanted if spk not in summary["speakers"]]
    if not todo:
        return {**summary, "status": "already there", "notes": [],
                "message": f"{root}: {len(wanted)} speakers already there; nothing to do"}
    made = not root.exists()
    try:
        root.mkdir(exist_ok=True)
    except OSError as err:
        raise BadInput(f"{root}: cannot create it ({err.strerror})") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise BadInput(f"{root}: cannot write in it")
    run, errors = _Run(root, base, Progress(len(todo) + 1, log, bars), limits=limits), {}
    try:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            alignments = pool.submit(run.fetch, ALIGNMENTS_ZIP, alignment_index)
            futures = {alignments: ALIGNMENTS_ZIP,
                       **{pool.submit(run.speaker, spk, alignments): spk for spk in todo}}
            try:
                for future in as_completed(futures):
                    if isinstance(future.exception(), DownloadError):
                        errors[futures[future]] = future.exception()
                    elif future is not alignments:
                        summary["speakers"][futures[future]] = future.result()
            except KeyboardInterrupt:  # transfers stop at their next chunk, .part kept
                run.stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    finally:
        run.progress.close()
        _tidy(root, made, run.fetched)
    landed = [spk for spk in todo if spk in summary["speakers"]]
    summary["notes"] = [n for r in summary["speakers"].values() if (n := r.pop("note", None))]
    if "s1" in landed and not (root / "splits").exists():
        log("s1 splits: {} train, {} test".format(*write_splits(root)), flush=True)
    summary.update(status="downloaded" if landed else "failed", message=(
        f"{root}: {len(landed)} speakers downloaded, {len(wanted) - len(todo)} already there"))
    failed = [k for k in (ALIGNMENTS_ZIP, *todo) if k in errors
              and not isinstance(errors[k], _Blocked)]
    for spk in set(todo) - set(landed):
        summary["speakers"][spk] = {"status": "failed", "error": str(errors.get(spk, ""))}
    summary["speakers"] = {spk: summary["speakers"][spk] for spk in wanted}
    if failed:
        rest = [spk for spk in todo if spk not in landed and spk != failed[0]]
        summary["error"] = str(errors[failed[0]]) + (
            f" ({', '.join(rest)} not downloaded either)" if rest else "")
        summary["error_status"] = errors[failed[0]].exit_status  # 2: a refused archive
    return summary


def _tidy(root: Path, made: bool, fetched) -> None:
    """This run's whole zips go (landed, or to fetch afresh); .part files stay, to resume."""
    downloads = root / DOWNLOADS
    for name in fetched:
        (downloads / name).unlink(missing_ok=True)
    if downloads.is_dir() and not any(downloads.iterdir()):
        downloads.rmdir()
    if made and root.is_dir() and not any(root.iterdir()):
        root.rmdir()
