"""The temp folder's cache (lipread-<uid>, used when ~/.cache cannot be written) is shared
ground: another local user may make it first and put a network of theirs in it. It is used
only when it is this user's own folder, mode 0700, and only what this user owns is read
from it; a first use makes it 0700. And a cached ONNX export is read only when it is the
very file written (its own sha256), not only one stamped with its weights'.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lipread import cache

ROOT = Path(__file__).resolve().parents[1]
OTHER_UID = 54321  # another local user (chown needs root)
as_root = pytest.mark.skipif(getattr(os, "getuid", lambda: 1)() != 0,
                             reason="another user's files need root to make")


@pytest.fixture
def no_home_cache(tmp_path, monkeypatch):
    """The temp folder a tmp_path, ~/.cache one that cannot be written, no
    LIPREAD_CACHE_DIR: the temp root is the only choice left."""
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.delenv("LIPREAD_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "tmp" / f"lipread-{os.getuid()}"


def plant(root: Path, mode: int = 0o777, owner: int | None = None) -> Path:
    """root/onnx/thing as someone who made root first would leave it."""
    (root / "onnx").mkdir(parents=True)
    (root / "onnx" / "thing").write_text("their network")
    os.chmod(root, mode)
    if owner is not None:
        for path in (root, root / "onnx", root / "onnx" / "thing"):
            os.chown(path, owner, owner)
    return root / "onnx" / "thing"


def test_the_temp_cache_is_made_for_this_user_alone(no_home_cache):
    made = cache.folder("onnx")
    assert made == no_home_cache / "onnx"
    assert no_home_cache.stat().st_mode & 0o777 == 0o700
    (made / "thing").write_text("ours")
    assert cache.find("onnx", "thing") == made / "thing"


def test_a_temp_cache_others_may_write_in_is_not_used(no_home_cache):
    plant(no_home_cache, 0o777)
    assert cache.find("onnx", "thing") is None
    with pytest.raises(OSError) as caught:
        cache.folder("onnx")
    assert f"{no_home_cache} is writable by others" in str(caught.value)
    assert "LIPREAD_CACHE_DIR" in str(caught.value)


def test_a_temp_cache_that_is_a_link_is_not_used(no_home_cache, tmp_path):
    theirs = tmp_path / "theirs"
    plant(theirs, 0o700)
    no_home_cache.symlink_to(theirs, target_is_directory=True)
    assert cache.find("onnx", "thing") is None
    with pytest.raises(OSError, match="is not this user's own folder"):
        cache.folder("onnx")


def test_a_temp_cache_of_ours_open_to_reading_is_closed(no_home_cache):
    """A folder this user made 0755 (no one else could write in it): made 0700, used."""
    plant(no_home_cache, 0o755)
    assert cache.find("onnx", "thing") == no_home_cache / "onnx" / "thing"
    assert no_home_cache.stat().st_mode & 0o777 == 0o700


@as_root
def test_a_temp_cache_made_by_another_user_is_not_used(no_home_cache):
    plant(no_home_cache, 0o700, OTHER_UID)
    assert cache.find("onnx", "thing") is None
    with pytest.raises(OSError, match="is not this user's own folder"):
        cache.folder("onnx")


@as_root
def test_a_file_of_another_user_in_our_temp_cache_is_not_read(no_home_cache):
    thing = plant(no_home_cache, 0o700)
    os.chown(thing, OTHER_UID, OTHER_UID)
    assert cache.find("onnx", "thing") is None
    os.chown(thing, os.getuid(), os.getgid())
    assert cache.find("onnx", "thing") == thing


def test_reading_with_a_planted_temp_cache_says_so_and_reads_nothing(tmp_path, grid_dir,
                                                                     test_names):
    """`lipread predict` where the temp cache is open to others and holds an export under
    the name reading looks for: no sentence, one line saying why and what to set."""
    from lipread import grid
    from lipread.model import loader, onnx_export, onnx_reader

    weights = loader.DEFAULT_WEIGHTS["lipnet"]
    name = f"lipnet-{onnx_reader.weights_sha256(weights)[:32]}-g{onnx_export.GRAPH_VERSION}"
    root = tmp_path / "tmp" / f"lipread-{os.getuid()}"
    (root / "onnx").mkdir(parents=True)
    (root / "onnx" / f"{name}.onnx").write_bytes(b"their network")
    os.chmod(root, 0o777)
    (tmp_path / "not-a-folder").write_text("")
    env = {**{k: v for k, v in os.environ.items() if k != "LIPREAD_CACHE_DIR"},
           "TMPDIR": str(tmp_path / "tmp"), "XDG_CACHE_HOME": str(tmp_path / "not-a-folder")}
    proc = subprocess.run([sys.executable, "-m", "lipread", "predict",
                           str(grid.video_path(grid_dir, test_names[0]))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if "onnxruntime" not in line]
    assert len(lines) == 1 and f"{root} is writable by others" in lines[0], proc.stderr


def test_a_cached_export_with_other_weights_under_its_stamp_is_built_again(tmp_path,
                                                                          monkeypatch):
    """An export in the cache whose weights were changed after it was written, its stamp
    (the weights' sha256 in the graph) kept: never read, built again from the weights."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from lipread import pipeline
    from lipread.model import loader, onnx_reader

    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))  # out of sight
    weights = loader.DEFAULT_WEIGHTS["lipnet"]
    rng = np.random.default_rng(0)
    frames = rng.random((1, *onnx_reader.onnx_export.INPUT_SHAPE), np.float32)
    first = onnx_reader.load(weights)
    honest = pipeline.predict_probs(first, frames)
    model = onnx.load(first.path)
    for init in model.graph.initializer:
        if init.name == "dense_b":  # the blank: every frame reads nothing
            bias = numpy_helper.to_array(init).copy()
            bias[-1] += 50
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    first.path.write_bytes(model.SerializeToString())
    stamp = {p.key: p.value for p in onnx.load(first.path).metadata_props}
    assert stamp[onnx_reader.SHA_KEY] == onnx_reader.weights_sha256(weights)  # kept
    again = onnx_reader.load(weights)
    assert again.path == first.path
    assert np.abs(pipeline.predict_probs(again, frames) - honest).max() < 1e-6
    digest = first.path.with_name(first.path.name + onnx_reader.DIGEST)  # as written again
    assert digest.read_text().strip() == onnx_reader.weights_sha256(first.path)


def test_the_cache_roots_are_the_chosen_one_the_users_then_the_temp_one(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    temp = tmp_path / "tmp" / f"lipread-{os.getuid()}"
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "chosen"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.roots() == [tmp_path / "chosen", tmp_path / "xdg" / "lipread", temp]
    monkeypatch.delenv("LIPREAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty: as if unset
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.roots() == [tmp_path / "home" / ".cache" / "lipread", temp]


def test_a_cache_folder_is_the_first_that_can_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "chosen"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.folder("onnx") == tmp_path / "chosen" / "onnx"  # made, parents too
    assert (tmp_path / "chosen" / "onnx").is_dir() and not (tmp_path / "xdg").exists()
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    assert cache.folder("onnx") == tmp_path / "xdg" / "lipread" / "onnx"
    (tmp_path / "xdg" / "lipread" / "onnx").rmdir()
    (tmp_path / "xdg" / "lipread" / "onnx").write_text("")  # a file where the folder goes
    assert cache.folder("onnx") == tmp_path / "tmp" / f"lipread-{os.getuid()}" / "onnx"


def test_no_cache_folder_at_all_says_what_to_set_and_why_the_temp_one_was_passed_over(
        no_home_cache, tmp_path):
    (tmp_path / "tmp").rmdir()
    (tmp_path / "tmp").write_text("")  # the temp root's parent is a file
    with pytest.raises(OSError) as caught:
        cache.folder("onnx")
    assert str(caught.value) == (f"no writable cache folder for onnx (set LIPREAD_CACHE_DIR)"
                                 f"; {no_home_cache}: Not a directory: not used")


def test_a_built_thing_is_found_in_any_cache_folder_first_choice_first(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "chosen"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    temp = tmp_path / "tmp" / f"lipread-{os.getuid()}"
    assert cache.find("onnx", "net") is None
    assert not temp.exists()  # a look makes no temp folder
    (tmp_path / "xdg" / "lipread" / "onnx").mkdir(parents=True)
    (tmp_path / "xdg" / "lipread" / "onnx" / "net").write_text("the user's")
    assert cache.find("onnx", "net") == tmp_path / "xdg" / "lipread" / "onnx" / "net"
    (tmp_path / "chosen" / "onnx" / "net").mkdir(parents=True)  # a folder is no build
    assert cache.find("onnx", "net") == tmp_path / "xdg" / "lipread" / "onnx" / "net"
    (tmp_path / "chosen" / "onnx" / "net").rmdir()
    (tmp_path / "chosen" / "onnx" / "net").write_text("chosen")
    assert cache.find("onnx", "net") == tmp_path / "chosen" / "onnx" / "net"
    assert cache.find("dlib", "net") is None  # another kind's


def test_a_build_in_our_own_temp_cache_is_found(no_home_cache):
    (no_home_cache / "onnx").mkdir(parents=True, mode=0o700)
    os.chmod(no_home_cache, 0o700)
    (no_home_cache / "onnx" / "net").write_text("ours")
    assert cache.find("onnx", "net") == no_home_cache / "onnx" / "net"
    os.chmod(no_home_cache / "onnx", 0o700)
    (no_home_cache / "onnx").rename(no_home_cache / "elsewhere")
    (no_home_cache / "onnx").symlink_to(no_home_cache / "elsewhere")  # a link: not read
    assert cache.find("onnx", "net") is None


def test_what_cannot_be_looked_at_is_no_ones_own(tmp_path):
    import stat

    assert cache._own(tmp_path, stat.S_IFDIR) and not cache._own(tmp_path, stat.S_IFREG)
    assert not cache._own(tmp_path / "gone", stat.S_IFDIR)  # removed since it was listed
    assert not cache._own(tmp_path / "gone", stat.S_IFREG)


def _said(capsys, build):
    build()
    out = capsys.readouterr()
    assert out.out == ""
    return out.err


def test_builds_on_first_use_are_said_on_one_line_with_where_they_are_kept(capsys, tmp_path):
    def two_builds():
        with cache.preparing():
            with cache.preparing("exporting the network", tmp_path / "onnx"):
                with cache.preparing("a part of it", tmp_path / "elsewhere"):  # not said
                    pass
            with cache.preparing("converting the model", tmp_path / "dlib"):
                pass

    assert _said(capsys, two_builds) == (
        "preparing the reader once: exporting the network (0.0 s), converting the model "
        f"(0.0 s); kept in {tmp_path}\n")
    assert _said(capsys, lambda: cache.preparing().__enter__()) == ""  # no build: nothing

    def nothing_built():
        with cache.preparing():
            with cache.preparing():
                pass

    assert _said(capsys, nothing_built) == ""


def test_a_build_alone_is_its_own_line_and_one_that_fails_says_so(capsys, tmp_path):
    def fails():
        with pytest.raises(RuntimeError):
            with cache.preparing("exporting", tmp_path / "onnx"):
                raise RuntimeError("no")

    assert _said(capsys, fails) == f"preparing the reader once: exporting (failed); kept in {tmp_path / 'onnx'}\n"

    def unkept():
        with cache.preparing("checking"):
            pass

    assert _said(capsys, unkept) == "preparing the reader once: checking (0.0 s)\n"

    def apart():  # two places with nothing in common but the root: both named
        with cache.preparing():
            with cache.preparing("one", Path("/one")):
                pass
            with cache.preparing("two", Path("/two")):
                pass
            with cache.preparing("again", Path("/one")):
                pass

    assert _said(capsys, apart) == ("preparing the reader once: one (0.0 s), two (0.0 s), "
                                    "again (0.0 s); kept in /one, /two\n")


def test_without_owners_to_check_the_temp_cache_is_one_for_all_and_used_as_it_is(
        tmp_path, monkeypatch):
    monkeypatch.delattr(os, "getuid")  # Windows: no uids
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp" / "lipread-user" / "onnx").mkdir(parents=True)
    os.chmod(tmp_path / "tmp" / "lipread-user", 0o777)
    (tmp_path / "tmp" / "lipread-user" / "onnx" / "net").write_text("")
    assert cache.temp_root() == tmp_path / "tmp" / "lipread-user"
    assert cache.private(cache.temp_root()) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.delenv("LIPREAD_CACHE_DIR", raising=False)
    assert cache.find("onnx", "net") == tmp_path / "tmp" / "lipread-user" / "onnx" / "net"


def test_a_cache_folder_that_cannot_be_written_is_passed_over(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "chosen"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, how: False if "chosen" in str(path)
                        else access(path, how))  # as a read-only folder is to a user
    assert cache.folder("onnx") == tmp_path / "xdg" / "lipread" / "onnx"


@as_root
def test_a_folder_of_another_user_in_our_temp_cache_is_not_used(no_home_cache):
    thing = plant(no_home_cache, 0o700)
    os.chown(thing.parent, OTHER_UID, OTHER_UID)  # lipread-<uid>/onnx is someone else's
    with pytest.raises(OSError, match="^no writable cache folder for onnx"):
        cache.folder("onnx")


@as_root
def test_in_a_cache_folder_the_user_chose_everyone_s_builds_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "team"))
    (tmp_path / "team" / "onnx").mkdir(parents=True)
    (tmp_path / "team" / "onnx" / "net").write_text("")
    os.chown(tmp_path / "team" / "onnx" / "net", OTHER_UID, OTHER_UID)  # a colleague's
    assert cache.find("onnx", "net") == tmp_path / "team" / "onnx" / "net"


def test_a_build_in_another_thread_is_said_on_a_line_of_its_own(capfd, tmp_path):
    import threading

    def build():
        with cache.preparing("exporting the network", tmp_path / "onnx"):
            pass
    worker = threading.Thread(target=build)  # a page session's thread: its own line state
    worker.start()
    worker.join()
    assert capfd.readouterr().err == (f"preparing the reader once: exporting the network "
                                      f"(0.0 s); kept in {tmp_path / 'onnx'}\n")
