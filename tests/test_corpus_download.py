"""`lipread download grid`, the real code, against an HTTP server of our own on 127.0.0.1.

The server hands out a small GRID corpus in the Zenodo record's layout (corpus.py says
where that was checked): s1.zip holding s1/<name>.mpg (three real s1 clips of the data
folder), s26.zip and s31.zip (../shared/others, ten clips each) and alignments.zip holding
alignments/sN/<name>.align. It honours Range requests (206), can cut a response half-way
(to test resuming), answers 200 to a Range request when told to, and 404 for what it lacks.
Variants: a record whose alignments.zip files s26's alignments under s27/ (the mix-up
lhotse reports for the real record), one with a damaged s26.zip, one without s26.zip.
A port nobody listens on stands in for being offline.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import OTHERS_DIR, in_ci

from lipread import grid

ROOT = Path(__file__).resolve().parents[1]
OTHERS = OTHERS_DIR  # ../shared/others, or LIPREAD_OTHERS_DIR
SPEAKERS = ("s1", "s26", "s31")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_download import _damage_first_member, refused_port  # noqa: E402


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_GET(self):
        server, name = self.server, self.path.split("?")[0].lstrip("/")
        asked = self.headers.get("Range")
        server.requests.append((name, asked))
        path = server.root / name
        if not path.is_file():
            return self.send_error(404)
        data = path.read_bytes()
        start = int(re.fullmatch(r"bytes=(\d+)-", asked)[1]) if asked else 0
        if asked and name not in server.ignore_range:
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            start = 0
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])  # then the connection closes


def _zip(path: Path, members: dict[str, Path]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for arcname, source in members.items():
            zf.write(source, arcname)
    return path


@pytest.fixture(scope="module")
def corpus_src(grid_dir, test_names, tmp_path_factory) -> Path:
    """A GRID folder of three s1 clips, s26 and s31: what the served corpus holds."""
    if not (OTHERS / "s26").is_dir() or not (OTHERS / "s31").is_dir():
        message = f"{OTHERS} lacks s26/ or s31/ (../shared/others: two more GRID speakers)"
        pytest.fail(f"CI=true: {message}", pytrace=False) if in_ci() else pytest.skip(message)
    src = tmp_path_factory.mktemp("corpus_src")
    clips = [n for n in test_names if grid.video_path(grid_dir, n).suffix == ".mpg"][:3]
    assert len(clips) == 3, "the data folder's test split has no three .mpg clips"
    for name in clips:
        for got, put in ((grid.video_path(grid_dir, name), src / "s1" / f"{name}.mpg"),
                         (grid.alignment_path(grid_dir, name),
                          src / "alignments" / "s1" / f"{name}.align")):
            put.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(got, put)
    for spk in ("s26", "s31"):
        shutil.copytree(OTHERS / spk, src / spk)
        shutil.copytree(OTHERS / "alignments" / spk, src / "alignments" / spk)
    return src


def _record(folder: Path, src: Path, align_folder=None, speakers=SPEAKERS) -> None:
    """The record's files: sN.zip (sN/<name>.mpg), alignments.zip (alignments/sN/*.align);
    align_folder maps a speaker to the folder alignments.zip files it under."""
    for spk in speakers:
        members = {f"{spk}/{p.name}": p for p in sorted((src / spk).glob("*.mpg"))}
        if spk == "s31":  # macOS litter, which the code that reads the record skips
            first = next(iter(members))
            members[f"__MACOSX/{first.replace('/', '/._')}"] = members[first]
        _zip(folder / f"{spk}.zip", members)
    _zip(folder / "alignments.zip",
         {f"alignments/{(align_folder or {}).get(spk, spk)}/{p.name}": p
          for spk in SPEAKERS for p in sorted((src / "alignments" / spk).glob("*.align"))})


@pytest.fixture(scope="module")
def server(corpus_src, tmp_path_factory):
    """(base URL, the server: .requests [(path, Range)], .cut {path: bytes}, .ignore_range)"""
    root = tmp_path_factory.mktemp("served")
    _record(root / "record", corpus_src)
    _record(root / "mixed", corpus_src, align_folder={"s26": "s27"})
    _record(root / "missing", corpus_src, speakers=("s1", "s31"))
    _record(root / "corrupt", corpus_src)
    _damage_first_member(root / "corrupt" / "s26.zip")
    _record(root / "flat", corpus_src)  # s26.zip without its s26/ folder: not the record's
    _zip(root / "flat" / "s26.zip", {p.name: p for p in (corpus_src / "s26").glob("*.mpg")})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.requests, httpd.cut, httpd.ignore_range = root, [], {}, set()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def download_grid(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LIPREAD_GRID_URL", "LIPREAD_DATA_DIR")}
    return subprocess.run([sys.executable, "-m", "lipread", "download", "grid", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


def one_error_line(proc, *fragments, status=1) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lipread download: error: "), proc.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), (fragment, lines[0])
    return lines[0]


def assert_landed(dest: Path, src: Path, speakers) -> None:
    for spk in speakers:
        assert sorted(p.name for p in (dest / spk).glob("*.mpg")) == \
            sorted(p.name for p in (src / spk).glob("*.mpg")), spk
        for video in (src / spk).glob("*.mpg"):
            assert (dest / spk / video.name).read_bytes() == video.read_bytes()
        aligns = sorted((src / "alignments" / spk).glob("*.align"))
        assert sorted(p.name for p in (dest / "alignments" / spk).iterdir()) == \
            [p.name for p in aligns], spk
        for align in aligns:
            assert (dest / "alignments" / spk / align.name).read_bytes() == align.read_bytes()
        assert json.loads((dest / spk / ".complete").read_text())["videos"] == len(aligns)


def no_leftovers(dest: Path) -> None:
    """No temporary extraction folder, no zip, no partial file."""
    hidden = [p.name for p in dest.iterdir() if p.name.startswith(".")] if dest.exists() else []
    assert hidden == [], hidden


def test_speaker_lists_and_ranges():
    from lipread import grid

    assert grid.parse_speakers("s1-s34") == list(range(1, 35))
    assert grid.parse_speakers("s1,s3,s5-s7") == [1, 3, 5, 6, 7]
    assert grid.parse_speakers("1-4") == [1, 2, 3, 4]
    assert grid.parse_speakers("S2, s2,s1") == [1, 2]
    for bad in ("s0", "s35", "s5-s3", "x", "", "s1,", "s1-", "1-40"):
        with pytest.raises(ValueError):
            grid.parse_speakers(bad)


@pytest.mark.parametrize("args, fragment", [
    (("--speakers", "s1-s40"), "--speakers: s1-s40: GRID's speakers are s1 to s34"),
    (("--speakers", "s5-s3"), "low to high"),
    (("--speakers", "s21"), "no video of speaker 21"),
    (("--zip", "x.zip"), "--zip is for data and checkpoint"),
    (("--jobs", "0"), "must be 1 or more"),
    (("--data-dir", "a", "--dest", "b"), "disagree"),
    (("--dest", "no/such/grid"), "no/such/grid: cannot create it"),
])
def test_usage_errors_exit_2(tmp_path, args, fragment):
    one_error_line(download_grid(*args, "--url", "http://127.0.0.1:9", cwd=tmp_path), fragment,
                   status=2)
    assert list(tmp_path.iterdir()) == []


def test_help_shows_grid_and_its_defaults(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lipread", "download", "--help"],
                          capture_output=True, text=True, timeout=60)
    text = " ".join(proc.stdout.split())
    for fragment in ("{data,checkpoint,grid}", "--speakers LIST", "(default: s1-s34;",
                     "--jobs N", "(default: 4)", "$LIPREAD_GRID_URL",
                     "https://zenodo.org/records/3625687/files"):
        assert fragment in text, fragment
    proc = subprocess.run([sys.executable, "-m", "lipread", "download", "data", "--speakers",
                           "s1"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    one_error_line(proc, "--speakers and --jobs are for grid", status=2)


def test_every_speaker_lands_in_the_layout_then_is_left_alone(server, corpus_src, tmp_path):
    base, httpd = server
    dest, out = tmp_path / "grid", tmp_path / "summary.json"
    proc = download_grid("--speakers", "s1,s21,s26,s31", "--dest", dest, "--url", f"{base}/record",
                "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "s21: GRID has no video" in proc.stdout and "s26.zip: downloading" in proc.stdout
    assert "s26.zip: 25% (" in proc.stdout and "| all: 4 of 4 files" in proc.stdout
    assert_landed(dest, corpus_src, SPEAKERS)
    assert sorted(p.name for p in dest.iterdir()) == ["alignments", "s1", "s26", "s31",
                                                      "splits"]
    assert sorted(p.name for p in (dest / "alignments").iterdir()) == list(SPEAKERS)
    # The single-speaker layout of today's scripts: s1/, alignments/s1/, s1's splits.
    s1 = sorted(p.stem for p in (corpus_src / "s1").iterdir())
    for name in s1:
        assert grid.video_path(dest, name) == dest / "s1" / f"{name}.mpg"
        assert grid.alignment_path(dest, name).is_file()
    split = [(dest / "splits" / f"{k}.txt").read_text().split() for k in ("train", "test")]
    assert sorted(split[0] + split[1]) == s1 and split[1]
    summary = json.loads(out.read_text())
    assert summary["status"] == "downloaded" and summary["exit_status"] == 0
    assert summary["skipped"] == ["s21"] and summary["source"] == f"{base}/record"
    assert summary["speakers"]["s26"] == {"status": "downloaded", "videos": 10,
                                          "alignments": 10,
                                          "alignments_from": "alignments/s26"}
    served = len(httpd.requests)
    again = download_grid("--speakers", "s1-s21,s26,s31", "--dest", dest,
                          "--url", f"{base}/record")
    one_error_line(again, "s2.zip", "HTTP 404")  # s2..s20 are not served: tried ...
    assert not any(n.endswith(("s1.zip", "s26.zip", "s31.zip"))  # ... the rest left alone
                   for n, _ in httpd.requests[served:])
    served = len(httpd.requests)
    again = download_grid("--speakers", "s1,s26,s31", "--dest", dest, "--url", f"{base}/record")
    assert again.returncode == 0 and "already there" in again.stdout, again.stderr
    assert len(httpd.requests) == served
    no_leftovers(dest)


def test_the_tutorial_layout_counts_as_s1(server, corpus_src, tmp_path):
    """A folder as `lipread download data` lands it (s1/, alignments/s1/, no marker): s1 is
    there; the other speakers land beside it."""
    base, httpd = server
    dest = tmp_path / "data"
    shutil.copytree(corpus_src / "s1", dest / "s1")
    shutil.copytree(corpus_src / "alignments" / "s1", dest / "alignments" / "s1")
    served = len(httpd.requests)
    proc = download_grid("--speakers", "s1", "--data-dir", dest, "--url", f"{base}/record")
    assert proc.returncode == 0 and "already there" in proc.stdout, proc.stderr
    assert len(httpd.requests) == served
    proc = download_grid("--speakers", "s1,s26", "--data-dir", dest, "--url", f"{base}/record")
    assert proc.returncode == 0, proc.stderr
    assert sorted(n for n, _ in httpd.requests[served:]) == ["record/alignments.zip",
                                                             "record/s26.zip"]
    assert_landed(dest, corpus_src, ["s26"])
    assert not (dest / "s1" / ".complete").exists() and not (dest / "splits").exists()


def test_a_cut_download_resumes(server, corpus_src, tmp_path):
    base, httpd = server
    dest, size = tmp_path / "grid", (httpd.root / "record" / "s26.zip").stat().st_size
    httpd.cut["record/s26.zip"] = size // 2
    proc = download_grid("--speakers", "s26,s31", "--dest", dest, "--url", f"{base}/record",
                "--jobs", 2)
    one_error_line(proc, "s26.zip: the download broke off", "run again to resume")
    part = dest / ".downloads" / "s26.zip.part"
    kept = part.stat().st_size
    assert 0 < kept <= size // 2  # what arrived, less what the last read lost
    assert_landed(dest, corpus_src, ["s31"])
    assert not (dest / "s26").exists() and not (dest / "alignments" / "s26").exists()
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == [".downloads"]
    assert [p.name for p in (dest / ".downloads").iterdir()] == ["s26.zip.part"]

    served = len(httpd.requests)
    proc = download_grid("--speakers", "s26,s31", "--dest", dest, "--url", f"{base}/record")
    assert proc.returncode == 0, proc.stderr
    assert ("record/s26.zip", f"bytes={kept}-") in httpd.requests[served:]
    assert "resuming at" in proc.stdout
    assert_landed(dest, corpus_src, ["s26", "s31"])
    no_leftovers(dest)


def test_a_server_that_ignores_range_sends_it_all_again(server, corpus_src, tmp_path):
    base, httpd = server
    dest = tmp_path / "grid"
    (dest / ".downloads").mkdir(parents=True)
    (dest / ".downloads" / "s31.zip.part").write_bytes(b"x" * 5000)  # not s31.zip's start
    httpd.ignore_range.add("mixed/s31.zip")
    try:
        proc = download_grid("--speakers", "s31", "--dest", dest, "--url", f"{base}/mixed")
    finally:
        httpd.ignore_range.clear()
    assert proc.returncode == 0, proc.stderr
    assert_landed(dest, corpus_src, ["s31"])
    no_leftovers(dest)


def test_a_whole_part_left_by_a_killed_run_is_used(server, corpus_src, tmp_path):
    """Killed between the last byte and the rename: the server answers 416 to the Range
    past its end, and the .part is the file."""
    base, httpd = server
    dest = tmp_path / "grid"
    (dest / ".downloads").mkdir(parents=True)
    shutil.copyfile(httpd.root / "record" / "s31.zip", dest / ".downloads" / "s31.zip.part")
    served = len(httpd.requests)
    proc = download_grid("--speakers", "s31", "--dest", dest, "--url", f"{base}/record")
    assert proc.returncode == 0, proc.stderr
    size = (httpd.root / "record" / "s31.zip").stat().st_size
    assert ("record/s31.zip", f"bytes={size}-") in httpd.requests[served:]
    assert_landed(dest, corpus_src, ["s31"])
    no_leftovers(dest)


def test_alignments_filed_under_another_speaker_are_found(server, corpus_src, tmp_path):
    base, _ = server
    dest = tmp_path / "grid"
    proc = download_grid("--speakers", "s26,s31", "--dest", dest, "--url", f"{base}/mixed",
                "--json", "-")
    assert proc.returncode == 0, proc.stderr
    assert "s26: its alignments are under s27/" in proc.stderr
    assert_landed(dest, corpus_src, ["s26", "s31"])
    assert sorted(p.name for p in (dest / "alignments").iterdir()) == ["s26", "s31"]
    summary = json.loads(proc.stdout)
    assert summary["speakers"]["s26"]["alignments_from"] == "alignments/s27"
    assert len(summary["notes"]) == 1


def test_a_corrupt_archive_is_removed(server, corpus_src, tmp_path):
    base, _ = server
    dest = tmp_path / "grid"
    proc = download_grid("--speakers", "s26", "--dest", dest, "--url", f"{base}/corrupt")
    one_error_line(proc, "s26.zip: corrupt zip", "CRC", "removed", "run again")
    assert not dest.exists()  # nothing at all was left behind
    proc = download_grid("--speakers", "s1,s26", "--dest", dest, "--url", f"{base}/corrupt",
                "--json", tmp_path / "summary.json")
    line = one_error_line(proc, "s26.zip: corrupt zip", "removed")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "downloaded" and summary["exit_status"] == 1
    assert line == f"lipread download: error: {summary['error']}"
    assert summary["speakers"]["s26"]["status"] == "failed"
    assert_landed(dest, corpus_src, ["s1"])
    assert sorted(p.name for p in dest.iterdir()) == ["alignments", "s1", "splits"]


def test_an_archive_without_the_speakers_folder_is_removed(server, tmp_path):
    base, _ = server
    dest = tmp_path / "grid"
    proc = download_grid("--speakers", "s26", "--dest", dest, "--url", f"{base}/flat")
    one_error_line(proc, "s26.zip: holds no s26/<name>.mpg videos", "removed", "run again")
    assert not dest.exists()


def test_a_missing_file_is_named(server, corpus_src, tmp_path):
    base, _ = server
    dest = tmp_path / "grid"
    proc = download_grid("--speakers", "s1,s26", "--dest", dest, "--url", f"{base}/missing")
    one_error_line(proc, "s26.zip: not found at", f"{base}/missing/s26.zip", "HTTP 404")
    assert_landed(dest, corpus_src, ["s1"])
    no_leftovers(dest)


def test_offline_is_one_clear_line(tmp_path):
    dest = tmp_path / "grid"
    proc = download_grid("--speakers", "s1-s4", "--dest", dest,
                "--url", f"http://127.0.0.1:{refused_port()}/record")
    one_error_line(proc, "cannot reach", "connection refused", "check the network",
                   "--url")
    assert list(tmp_path.iterdir()) == []


def test_an_incomplete_speaker_folder_is_left_alone(server, tmp_path):
    base, httpd = server
    dest = tmp_path / "grid"
    (dest / "s26").mkdir(parents=True)
    (dest / "s26" / "mine.mpg").write_bytes(b"keep me")
    served = len(httpd.requests)
    proc = download_grid("--speakers", "s26", "--dest", dest, "--url", f"{base}/record")
    one_error_line(proc, "s26 exists but holds 1 videos", "move it away", status=2)
    assert (dest / "s26" / "mine.mpg").read_bytes() == b"keep me"
    assert len(httpd.requests) == served


def test_progress_on_a_terminal_shows_each_file_and_all(capsys, monkeypatch):
    from lipread.progress import Progress

    monkeypatch.setenv("COLUMNS", "200")
    progress = Progress(2, live=True)
    progress.begin("s1.zip", 0, 1000)
    progress.begin("s2.zip", 500, 1000)
    progress.update("s1.zip", 1000)
    progress._draw()
    line = capsys.readouterr().err.split("\r")[-1]
    assert "s1.zip 100% [##########]" in line and "s2.zip  50% [#####" in line
    assert "all: 0 of 2 files  75%" in line
    progress.end("s1.zip")
    progress.close()
    assert "all: 1 of 2 files" in capsys.readouterr().err
