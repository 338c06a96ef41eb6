"""The tutorial's checkpoint (corpus/tutorial.py's get_checkpoint), fetched in this process
from an HTTP server of our own on 127.0.0.1 or taken from a zip at hand: archives built
around the tutorial checkpoint's real index, good and broken. test_download.py runs the
same verb as a user does, through `lipread download checkpoint`.
"""
from __future__ import annotations

import functools
import http.server
import os
import threading
import zipfile
from pathlib import Path

import pytest
from conftest import LEGACY_DIR, in_ci

from lipread.corpus import tutorial
from lipread.corpus.archives import BadInput, DownloadError

STATE = 'model_checkpoint_path: "checkpoint"\nall_model_checkpoint_paths: "checkpoint"\n'
LANDED = ["checkpoint", "checkpoint.data-00000-of-00001", "checkpoint.index"]


@pytest.fixture(scope="module")
def index() -> bytes:
    path = LEGACY_DIR / "checkpoint.index"
    if not path.is_file():
        message = f"the tutorial checkpoint's index is not at {path}"
        if in_ci():  # under CI a missing fixture fails, naming it; never a skip
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return path.read_bytes()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def served(index, tmp_path_factory):
    """(base URL, request log, folder) of a server handing out checkpoint archives."""
    root = tmp_path_factory.mktemp("checkpoints")
    values = os.urandom(8192)
    _zip(root / "checkpoints.zip", {"checkpoint": STATE.encode(), "checkpoint.index": index,
                                    "checkpoint.data-00000-of-00001": values})
    _zip(root / "nested.zip", {"models/checkpoint.index": index,  # no state file
                               "models/checkpoint.data-00000-of-00001": values})
    _zip(root / "no_values.zip", {"checkpoint.index": index})
    _zip(root / "bad_index.zip", {"checkpoint.index": index[:-100],
                                  "checkpoint.data-00000-of-00001": values})
    _zip(root / "one_of_two.zip", {"checkpoint.index": index,
                                   "checkpoint.data-00000-of-00002": values})
    _zip(root / "empty_values.zip", {"checkpoint.index": index,
                                     "checkpoint.data-00000-of-00001": b""})
    _zip(root / "no_index.zip", {"data/s1/bbaf2n.mpg": values})
    (root / "page.zip").write_bytes(b"<!DOCTYPE html><html><body>Quota exceeded</body></html>")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.server.requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    httpd.requests = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests, root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def models(tmp_path) -> Path:
    """A models folder holding the shipped weights, which a checkpoint never touches."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "lipnet.weights.h5").write_bytes(b"shipped")
    return folder


def untouched(models: Path) -> bool:
    """Only the shipped weights in models/, and nothing beside it (no work folder left)."""
    return ([p.name for p in models.iterdir()] == ["lipnet.weights.h5"]
            and [p.name for p in models.parent.iterdir()] == ["models"])


def test_a_fetched_checkpoint_lands_whole_and_is_then_left_alone(served, models, index):
    base, requests, _ = served
    said = []
    got = tutorial.get_checkpoint(models, url=f"{base}/checkpoints.zip",
                                  log=lambda *a, **k: said.append(" ".join(map(str, a))))
    assert got["status"] == "downloaded" and got["source"] == f"{base}/checkpoints.zip"
    assert got["files"] == LANDED
    assert got["message"] == (f"{models / 'checkpoint'}: the tutorial's weights (use --arch "
                              "tutorial)")
    assert said == [f"downloading checkpoints.zip from {base}/checkpoints.zip"]
    assert sorted(p.name for p in models.iterdir()) == LANDED + ["lipnet.weights.h5"]
    assert (models / "checkpoint.index").read_bytes() == index
    assert (models / "checkpoint").read_text() == STATE
    assert (models / "lipnet.weights.h5").read_bytes() == b"shipped"
    assert [p.name for p in models.parent.iterdir()] == ["models"]
    asked = len(requests)
    again = tutorial.get_checkpoint(models, url=f"{base}/checkpoints.zip", log=print)
    assert again["status"] == "already there" and again["source"] is None
    assert again["files"] == LANDED
    assert again["message"] == f"{models / 'checkpoint'}: already there; nothing to do"
    assert len(requests) == asked  # nothing fetched


def test_a_checkpoint_without_its_state_file_gets_one(served, models):
    tutorial.get_checkpoint(models, url=f"{served[0]}/nested.zip", log=print)
    assert sorted(p.name for p in models.glob("checkpoint*")) == LANDED
    assert (models / "checkpoint").read_text() == STATE  # what the tutorial's loader reads


def test_a_zip_at_hand_is_extracted_without_fetching(served, models):
    base, requests, root = served
    asked = len(requests)
    got = tutorial.get_checkpoint(models, local_zip=root / "checkpoints.zip", log=print)
    assert got["status"] == "extracted" and got["source"] == str(root / "checkpoints.zip")
    assert got["files"] == LANDED and len(requests) == asked


def test_a_half_there_checkpoint_is_fetched_again(served, models, index):
    (models / "checkpoint.index").write_bytes(index)  # no values, no state file
    got = tutorial.get_checkpoint(models, url=f"{served[0]}/checkpoints.zip", log=print)
    assert got["status"] == "downloaded" and got["files"] == LANDED


NO_INDEX = ("the archive holds no checkpoint.index (expected the tutorial's checkpoint, "
            "checkpoint.index, checkpoint.data-00000-of-00001)")


@pytest.mark.parametrize("archive, said", [
    ("no_values.zip", "the archive has checkpoint.index but no checkpoint.data-* file"),
    ("bad_index.zip", "checkpoint.index in the archive is not a TensorFlow checkpoint index "
                      "(truncated or corrupt)"),
    ("one_of_two.zip", "the archive's checkpoint is incomplete (1 of 2 data files missing or "
                       "empty)"),
    ("empty_values.zip", "the archive's checkpoint is incomplete (0 of 1 data files missing "
                         "or empty)"),
    ("no_index.zip", NO_INDEX),
    ("page.zip", None),  # transfer's check: an HTML page, not a zip
])
def test_a_bad_archive_is_a_failure_fetched_and_bad_input_handed_over(
        served, models, archive, said):
    base, _, root = served
    with pytest.raises(DownloadError) as fetched:
        tutorial.get_checkpoint(models, url=f"{base}/{archive}", log=print)
    message = str(fetched.value)
    assert not isinstance(fetched.value, BadInput) and untouched(models)
    assert message == said if said else "HTML page" in message
    with pytest.raises(BadInput) as handed:  # the user's own file: exit status 2
        tutorial.get_checkpoint(models, local_zip=root / archive, log=print)
    assert untouched(models)
    if said:
        assert str(handed.value) == said
    else:  # the file handed over named
        assert str(handed.value).startswith("page.zip: got an HTML page, not the zip")


def test_values_without_their_index_are_not_a_checkpoint_there(served, models):
    (models / "checkpoint.data-00000-of-00001").write_bytes(b"values")
    (models / "checkpoint").write_text(STATE)
    got = tutorial.get_checkpoint(models, url=f"{served[0]}/checkpoints.zip", log=print)
    assert got["status"] == "downloaded" and got["files"] == LANDED


def test_a_data_archive_without_its_speaker_folder_names_the_layout(tmp_path):
    (tmp_path / "data" / "videos").mkdir(parents=True)
    with pytest.raises(DownloadError) as err:
        tutorial.find_data_root(tmp_path)
    assert str(err.value) == ("the archive holds no s1/ folder of videos (expected "
                              "data/s1/*.mpg and data/alignments/s1/*.align)")
    (tmp_path / "data" / "s1").mkdir()
    assert tutorial.find_data_root(tmp_path) == tmp_path / "data"


def test_a_missing_zip_or_a_file_in_the_way_is_bad_input(models, tmp_path):
    with pytest.raises(BadInput, match="nope.zip: no such file"):
        tutorial.get_checkpoint(models, local_zip=tmp_path / "nope.zip", log=print)
    assert untouched(models)
    in_the_way = models / "lipnet.weights.h5"
    with pytest.raises(BadInput, match="exists and is not a folder"):
        tutorial.get_checkpoint(in_the_way, local_zip=tmp_path / "nope.zip", log=print)
    assert in_the_way.read_bytes() == b"shipped"


def test_an_archive_past_its_cap_is_not_the_file_it_should_be(served, models, monkeypatch):
    root = served[2]
    size = (root / "checkpoints.zip").stat().st_size
    monkeypatch.setattr(tutorial, "CHECKPOINTS_ZIP_MAX_BYTES", size)  # at the cap: taken
    assert tutorial.get_checkpoint(models, local_zip=root / "checkpoints.zip",
                                   log=print)["status"] == "extracted"
    for name in tutorial._checkpoint_files(models):
        (models / name).unlink()
    monkeypatch.setattr(tutorial, "CHECKPOINTS_ZIP_MAX_BYTES", size - 1)
    with pytest.raises(BadInput) as err:
        tutorial.get_checkpoint(models, local_zip=root / "checkpoints.zip", log=print)
    assert str(err.value) == (f"checkpoints.zip: {tutorial.megabytes(size)}, more than the "
                              f"{tutorial.megabytes(size - 1)} it should be at most: not the "
                              "file it should be")
    assert untouched(models)


@pytest.mark.parametrize("url", [None, "https://drive.google.com/uc?id=x",
                                 "https://drive.usercontent.google.com/download?id=x"])
def test_google_drive_is_fetched_by_gdown_and_any_other_url_plainly(
        served, models, monkeypatch, url):
    """Drive (its id, or a URL on its hosts) goes through transfer.fetch (gdown), held to
    the checkpoint's cap; a plain URL is fetched over HTTP (the tests above)."""
    asked = []

    def drive(target, drive_id, drive_url, timeout, limits):
        asked.append((drive_id, drive_url, timeout, limits.max_bytes))
        target.write_bytes((served[2] / "checkpoints.zip").read_bytes())

    monkeypatch.setattr(tutorial, "fetch", drive)
    said = []
    got = tutorial.get_checkpoint(models, url=url, log=lambda *a, **k: said.append(a[0]))
    assert asked == [(tutorial.CHECKPOINT_DRIVE_ID, url, tutorial.TIMEOUT_S,
                      tutorial.CHECKPOINTS_ZIP_MAX_BYTES)]
    assert got["status"] == "downloaded" and got["files"] == LANDED
    where = url or f"Google Drive (id {tutorial.CHECKPOINT_DRIVE_ID})"
    assert said == [f"downloading checkpoints.zip from {where}"]
    drive_page = f"https://drive.google.com/uc?id={tutorial.CHECKPOINT_DRIVE_ID}"
    assert got["source"] == (url or drive_page)


def test_a_destination_in_a_missing_folder_is_named_with_it(tmp_path):
    dest = tmp_path / "nope" / "models"
    with pytest.raises(BadInput) as err:
        tutorial.get_checkpoint(dest, url="http://127.0.0.1:9/checkpoints.zip", log=print)
    assert str(err.value) == f"{dest}: {tmp_path / 'nope'} does not exist"
