"""The tutorial's data archive (corpus/tutorial.py's get_data), fetched in this process from
an HTTP server of our own on 127.0.0.1 or taken from a zip at hand: small archives in
data.zip's layout (data/s1/*.mpg, data/alignments/s1/*.align), good and broken.
test_download.py runs the same verb as a user does, through `lipread download data`.
"""
from __future__ import annotations

import functools
import http.server
import io
import threading
import zipfile
from pathlib import Path

import pytest

from lipread.corpus import tutorial
from lipread.corpus.archives import BadInput, DownloadError
from lipread.corpus.transfer import Limits

NAMES = ["bbaf2n", "bbaf3s", "bgaa1a", "lgbs5a", "pbai7a"]  # 5 clips: a seeded 1 of 5 tested


def _zip(path: Path, names=NAMES, alignments=None, splits=False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for n in names:
            zf.writestr(f"data/s1/{n}.mpg", b"\0" * 64)
        for n in names if alignments is None else alignments:
            zf.writestr(f"data/alignments/s1/{n}.align", "0 23750 sil\n")
        if splits:
            zf.writestr("data/splits/train.txt", "".join(f"{n}\n" for n in names[:4]))
            zf.writestr("data/splits/test.txt", f"{names[4]}\n")
    return path


class _Flushed(io.StringIO):
    """A log's stream, whose lines count as out only once flushed (as on a pipe)."""

    def __init__(self):
        super().__init__()
        self.out = ""

    def flush(self):
        self.out = self.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, the requests, each with what the log had flushed when it came, folder)."""
    root = tmp_path_factory.mktemp("archives")
    _zip(root / "data.zip")
    _zip(root / "split.zip", splits=True)
    _zip(root / "short.zip", alignments=NAMES[:3])
    with zipfile.ZipFile(root / "no_speaker.zip", "w") as zf:
        zf.writestr("data/s2/bbaf2n.mpg", b"\0")
    with zipfile.ZipFile(root / "packed.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for n in NAMES:  # 5 x 2,000 bytes that pack into a few hundred
            zf.writestr(f"data/s1/{n}.mpg", b"\0" * 2000)
            zf.writestr(f"data/alignments/s1/{n}.align", "0 23750 sil\n")
    (root / "page.zip").write_bytes(b"<!DOCTYPE html><html><body>Quota exceeded</body></html>")
    stream = _Flushed()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.server.requests.append((self.path, stream.out))
            if self.path == "/broken.zip":  # says 10,000 bytes, sends 3,000, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "10000")
                self.end_headers()
                self.wfile.write(b"PK" + b"\0" * 2998)
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    httpd.requests = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests, root, stream
    httpd.shutdown()
    httpd.server_close()


def _get(dest, **kw):
    return tutorial.get_data(dest, expect_videos=5, expect_alignments=5, **kw)


def only(folder: Path, names) -> bool:
    """`folder` holds exactly `names`: nothing half-written beside them."""
    return sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_a_fetched_archive_lands_whole_with_its_splits_and_is_then_left_alone(
        served, tmp_path):
    base, requests, _, stream = served
    dest = tmp_path / "data"
    said = _get(dest, url=f"{base}/data.zip", log=functools.partial(print, file=stream))
    assert said == {"status": "downloaded", "source": f"{base}/data.zip", "videos": 5,
                    "alignments": 5, "splits": {"train": 4, "test": 1},
                    "splits_written": True,
                    "message": f"{dest}: 5 videos, 5 alignments; splits: 4 train, 1 test"}
    assert only(tmp_path, ["data"])
    assert only(dest, ["s1", "alignments", "splits"])
    assert sorted(p.stem for p in (dest / "s1").iterdir()) == NAMES
    # the line saying where it comes from is out before the first byte is asked for
    assert requests[-1] == ("/data.zip", f"downloading data.zip from {base}/data.zip\n")
    asked = len(requests)
    again = _get(dest, url=f"{base}/data.zip", log=print)
    assert again == {"status": "already there", "source": None, "videos": 5,
                     "alignments": 5, "splits": {"train": 4, "test": 1},
                     "message": f"{dest}: already there (5 videos, 5 alignments); nothing "
                                "to do"}
    assert len(requests) == asked


def test_a_zip_at_hand_is_checked_and_extracted_without_fetching(served, tmp_path):
    _, requests, root, _ = served
    stream, asked = _Flushed(), len(requests)
    said = _get(tmp_path / "data", local_zip=root / "split.zip",
                log=functools.partial(print, file=stream))
    assert said["status"] == "extracted" and said["source"] == str(root / "split.zip")
    assert said["splits_written"] is False  # the archive's own splits kept
    assert said["message"] == f"{tmp_path / 'data'}: 5 videos, 5 alignments"
    assert stream.out == f"checking {root / 'split.zip'}\n"
    assert len(requests) == asked


def test_an_empty_folder_is_filled_and_a_partial_one_refused(served, tmp_path):
    root = served[2]
    dest = tmp_path / "data"
    dest.mkdir()
    assert _get(dest, local_zip=root / "data.zip", log=print)["videos"] == 5
    (dest / "alignments" / "s1" / "bbaf2n.align").unlink()
    with pytest.raises(BadInput) as err:
        _get(dest, local_zip=root / "data.zip", log=print)
    assert str(err.value) == (f"{dest}: exists but holds 5 videos and 4 alignments, not 5 "
                              "and 5: move it away and run again, or pass another --data-dir")
    with pytest.raises(BadInput, match="^.*data.zip: exists and is not a folder$"):
        _get(root / "data.zip", local_zip=root / "data.zip", log=print)


def test_an_archive_short_of_alignments_is_not_the_tutorials(served, tmp_path):
    base, _, root, _ = served
    with pytest.raises(DownloadError) as err:
        _get(tmp_path / "data", url=f"{base}/short.zip", log=print)
    assert not isinstance(err.value, BadInput)  # fetched: a failure, not the user's input
    assert str(err.value) == ("data.zip: holds 5 videos and 3 alignments, expected 5 and 5 "
                              "(not the tutorial's data.zip?)")
    with pytest.raises(BadInput) as err:  # handed over: the user's input is wrong
        _get(tmp_path / "data", local_zip=root / "short.zip", log=print)
    assert str(err.value) == ("short.zip: holds 5 videos and 3 alignments, expected 5 and 5 "
                              "(not the tutorial's data.zip?)")
    assert only(tmp_path, [])


def test_an_archive_without_the_speaker_folder_names_the_layout(served, tmp_path):
    with pytest.raises(BadInput) as err:
        _get(tmp_path / "data", local_zip=served[2] / "no_speaker.zip", log=print)
    assert str(err.value) == ("the archive holds no s1/ folder of videos (expected "
                              "data/s1/*.mpg and data/alignments/s1/*.align)")
    assert only(tmp_path, [])


def test_a_folder_without_alignments_counts_none(tmp_path):
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / "bbaf2n.mpg").write_bytes(b"\0")
    assert tutorial.count_data(tmp_path) == (1, 0)
    (tmp_path / "alignments" / "s1").mkdir(parents=True)
    (tmp_path / "alignments" / "s1" / "bbaf2n.align").write_text("0 1 sil\n")
    (tmp_path / "alignments" / "s1" / "notes.txt").write_text("")
    assert tutorial.count_data(tmp_path) == (1, 1)


def test_a_data_archive_at_its_cap_is_taken_and_past_it_refused(served, tmp_path,
                                                                 monkeypatch):
    root = served[2]
    size = (root / "data.zip").stat().st_size
    monkeypatch.setattr(tutorial, "DATA_ZIP_MAX_BYTES", size)
    assert _get(tmp_path / "a", local_zip=root / "data.zip", log=print)["videos"] == 5
    monkeypatch.setattr(tutorial, "DATA_ZIP_MAX_BYTES", size - 1)
    with pytest.raises(BadInput) as err:
        _get(tmp_path / "b", local_zip=root / "data.zip", log=print)
    assert str(err.value) == (f"data.zip: {tutorial.megabytes(size)}, more than the "
                              f"{tutorial.megabytes(size - 1)} it should be at most: not the "
                              "file it should be")
    assert only(tmp_path, ["a"])


def test_a_fetched_archive_past_its_cap_is_refused_before_it_comes(served, tmp_path,
                                                                   monkeypatch):
    """The archive's cap holds while it is fetched (the server's size refused up front),
    not only once it has landed."""
    base, _, root, _ = served
    monkeypatch.setattr(tutorial, "DATA_ZIP_MAX_BYTES", 100)
    with pytest.raises(BadInput) as err:
        _get(tmp_path / "data", url=f"{base}/data.zip", log=print,
             limits=Limits(max_bytes=10**9))  # the archive's own cap is the lower
    size = (root / "data.zip").stat().st_size
    assert str(err.value) == (f"data.zip: the server says it is {tutorial.megabytes(size)}; "
                              f"it should be at most {tutorial.megabytes(100)}: not the file "
                              "it should be (check --url); nothing was kept")
    assert only(tmp_path, [])


def test_a_page_fetched_instead_of_the_archive_says_to_check_the_url(served, tmp_path):
    base = served[0]
    with pytest.raises(DownloadError) as err:
        _get(tmp_path / "data", url=f"{base}/page.zip", log=print)
    assert str(err.value) == ("data.zip: got an HTML page, not the zip; a quota, login or "
                              "error page? Check the URL, or download the file in a browser "
                              "and pass it with --zip")
    assert only(tmp_path, [])


def test_an_archive_that_would_unpack_past_its_cap_is_refused_before_unpacking(
        served, tmp_path, monkeypatch):
    root = served[2]
    assert (root / "packed.zip").stat().st_size < 4000  # the file is under the cap ...
    monkeypatch.setattr(tutorial, "DATA_ZIP_MAX_BYTES", 4000)  # ... its 10,000 bytes not
    with pytest.raises(BadInput) as err:
        _get(tmp_path / "data", local_zip=root / "packed.zip", log=print)
    assert str(err.value) == ("packed.zip: refused, nothing extracted: its members would "
                              f"unpack to more than {tutorial.megabytes(4000)}, more than it "
                              "should hold; this is not the archive it should be (check --url "
                              "or --zip)")
    assert only(tmp_path, [])


def test_a_transfer_that_breaks_off_says_nothing_was_kept(served, tmp_path):
    """The data's workspace goes with a failure: no part file is left to resume from, and
    the message says so."""
    base = served[0]
    with pytest.raises(DownloadError) as err:
        _get(tmp_path / "data", url=f"{base}/broken.zip", log=print)
    assert "none of it kept: run again to start over" in str(err.value)
    assert "resume" not in str(err.value)
    assert only(tmp_path, [])


def test_a_destination_in_a_missing_folder_is_named_with_it(tmp_path):
    dest = tmp_path / "nope" / "data"
    with pytest.raises(BadInput) as err:
        _get(dest, url="http://127.0.0.1:9/data.zip", log=print)
    assert str(err.value) == f"{dest}: {tmp_path / 'nope'} does not exist"


def test_drive_is_asked_for_the_tutorials_data_and_its_page_says_so(served, tmp_path,
                                                                    monkeypatch):
    """Without --url the data comes from Drive by the tutorial's id (gdown, stood in for
    here); a page from Drive instead of the zip gets Drive's own advice."""
    from lipread.corpus.archives import DRIVE_HINT

    asked, archive = [], [served[2] / "page.zip"]

    def drive(target, drive_id, drive_url, timeout, limits):
        asked.append((drive_id, drive_url, limits.max_bytes))
        target.write_bytes(archive[0].read_bytes())

    monkeypatch.setattr(tutorial, "fetch", drive)
    with pytest.raises(DownloadError) as err:
        _get(tmp_path / "data", log=print)
    assert str(err.value) == ("data.zip: got an HTML page, not the zip; "
                              + DRIVE_HINT.format(id=tutorial.DATA_DRIVE_ID))
    archive[0] = served[2] / "data.zip"
    said = _get(tmp_path / "data", log=print)
    assert said["source"] == f"https://drive.google.com/uc?id={tutorial.DATA_DRIVE_ID}"
    assert asked == [(tutorial.DATA_DRIVE_ID, None, tutorial.DATA_ZIP_MAX_BYTES)] * 2
