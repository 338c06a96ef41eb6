"""The download folders of lipread/corpus/archives.py, in-process on tmp_path: `folders`
walks an unpacked tree shallowest first, `workspace` is a locked temp folder that is gone
afterwards, `sweep` removes only what a finished run left. Locks are real flock(2) locks:
two opens of one file in one process conflict as two processes do."""
from __future__ import annotations

import os

import pytest

from lipread.corpus import archives


def test_folders_are_walked_shallowest_first_to_their_depth(tmp_path):
    for d in ("b/x/deep/deeper/deepest", "a/y", "a/__MACOSX/z", "__MACOSX", "c"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "a" / "file.txt").write_text("not a folder")
    names = [p.relative_to(tmp_path).as_posix() for p in archives.folders(tmp_path)]
    assert names == [".", "a", "b", "c", "a/y", "b/x", "b/x/deep"]
    names = [p.relative_to(tmp_path).as_posix() for p in archives.folders(tmp_path, depth=1)]
    assert names == [".", "a", "b", "c"]


def test_a_lock_is_held_until_its_file_is_closed(tmp_path):
    path = tmp_path / "lock"
    with open(path, "w") as first:
        assert archives._flock(first) is True
        with open(path, "a") as second:
            assert archives._flock(second) is False
    with open(path, "a") as third:
        assert archives._flock(third) is True


def test_a_workspace_is_fresh_locked_and_gone_afterwards(tmp_path):
    with archives.workspace(tmp_path, ".lipread-data.") as work:
        assert work.parent == tmp_path and work.name.startswith(".lipread-data.")
        assert work.name != ".lipread-data." and (work / archives.LOCK).is_file()
        (work / "half.zip").write_bytes(b"PK")
        assert archives.sweep(tmp_path, ".lipread-data.") == []  # in use: kept
        assert work.is_dir()
    assert not work.exists()
    with pytest.raises(RuntimeError):
        with archives.workspace(tmp_path, ".w.") as work:
            raise RuntimeError("stopped")
    assert not work.exists() and list(tmp_path.iterdir()) == []


def test_a_workspace_needs_its_parent_folder(tmp_path):
    missing, a_file = tmp_path / "nowhere", tmp_path / "file"
    a_file.write_text("x")
    for parent, dest, said in ((missing, None, f"{missing}: {missing} does not exist"),
                               (a_file, None, f"{a_file}: {a_file} is not a folder"),
                               (missing, tmp_path / "data", f"{tmp_path / 'data'}: {missing} "
                                                            "does not exist")):
        with pytest.raises(archives.BadInput) as err:
            with archives.workspace(parent, ".w.", dest):
                pass
        assert str(err.value) == said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_sweep_removes_only_folders_whose_run_is_gone(tmp_path):
    left = tmp_path / ".w.left"  # a killed run's: its lock free
    (left / "sub").mkdir(parents=True)
    (left / archives.LOCK).write_text("")
    bare = tmp_path / ".w.bare"  # killed before it wrote its lock
    bare.mkdir()
    busy = tmp_path / ".w.busy"  # another run's, in use
    busy.mkdir()
    other = tmp_path / ".x.left"  # another prefix
    other.mkdir()
    a_file = tmp_path / ".w.file"
    a_file.write_text("x")
    target = tmp_path / "keep"
    target.mkdir()
    (target / "precious").write_text("x")
    os.symlink(target, tmp_path / ".w.link")
    with open(busy / archives.LOCK, "w") as held:
        assert archives._flock(held)
        removed = archives.sweep(tmp_path, ".w.")
    assert sorted(p.name for p in removed) == [".w.bare", ".w.left"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".w.busy", ".w.file", ".w.link", ".x.left", "keep"]
    assert [p.name for p in target.iterdir()] == ["precious"]  # not even a lock written there


def test_sweep_takes_the_prefix_literally(tmp_path):
    for name in ("[ab]x", "ax", "*y", "zy", "?q"):
        (tmp_path / name).mkdir()
    assert [p.name for p in archives.sweep(tmp_path, "[ab]")] == ["[ab]x"]
    assert [p.name for p in archives.sweep(tmp_path, "*")] == ["*y"]
    assert [p.name for p in archives.sweep(tmp_path, "?")] == ["?q"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ax", "zy"]


def test_sweep_goes_on_past_folders_it_leaves(tmp_path):
    """In name order: a folder in use and one whose lock cannot be opened are passed over,
    and the stale folders after them are still removed."""
    for name in (".w.a-busy", ".w.b-odd", ".w.c-stale", ".w.d-stale"):
        (tmp_path / name).mkdir()
    (tmp_path / ".w.b-odd" / archives.LOCK).mkdir()  # a folder where the lock file would be
    with open(tmp_path / ".w.a-busy" / archives.LOCK, "w") as held:
        assert archives._flock(held)
        removed = archives.sweep(tmp_path, ".w.")
    assert [p.name for p in removed] == [".w.c-stale", ".w.d-stale"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.a-busy", ".w.b-odd"]
