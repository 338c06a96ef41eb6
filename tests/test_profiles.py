"""Profiles on disk, directly: which names are taken, whose a profile is and who sees it, a
profile written whole or not at all, work folders of killed enrollments swept, one lock per
name, and a card or weights file that is wrong named in one line without a path.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil

import numpy as np
import pytest

from lipread.enroll import cards, profiles
from lipread.model import loader

WEIGHTS = loader.DEFAULT_WEIGHTS["lipnet"]
ME, YOU = "a" * 32, "b" * 32  # two page visitors' hashes


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.delenv("LIPREAD_SHARE_PROFILES", raising=False)
    return tmp_path / "profiles"


def make(root, name, card=None, weights=True):
    (root / name).mkdir(parents=True)
    (root / name / "profile.json").write_text(json.dumps(card or {"method": "full"}))
    if weights:
        shutil.copyfile(WEIGHTS, root / name / "reader.weights.h5")
    return root / name


def test_the_profiles_dir_is_profiles_unless_chosen(monkeypatch, tmp_path):
    monkeypatch.delenv("LIPREAD_PROFILES_DIR", raising=False)
    assert str(profiles.root()) == "profiles"
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", "")
    assert str(profiles.root()) == "profiles"
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path))
    assert profiles.path("bob-2") == tmp_path / "bob-2"


@pytest.mark.parametrize("name", ["a", "bob-2", "9_x", "a" * 32])
def test_a_name_of_letters_digits_dashes_and_underscores_is_taken(name):
    assert profiles.check_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", "_a", "Bob", "a b", "a/b", "..", "a" * 33,
                                  "bob\n", 7, None])
def test_a_name_that_is_no_profile_name_is_refused_with_the_rule(name):
    with pytest.raises(profiles.ProfileError) as err:
        profiles.check_name(name)
    assert str(err.value) == (f"profile name {name!r}: use 1-32 of a-z, 0-9, _ and -, "
                              "starting with a letter or digit (e.g. alice or bob-2)")


def test_the_general_readers_name_is_no_profiles():
    with pytest.raises(profiles.ProfileError, match="^profile name 'general' is the general "
                       "reader's; choose another$"):
        profiles.check_name("general")


def test_the_profiles_are_the_complete_ones_sorted(root):
    assert profiles.names() == []  # no folder yet
    make(root, "zed")
    make(root, "amy")
    (root / "half").mkdir()  # no card: a profile not written whole
    make(root, "Upper")  # no profile's name
    (root / ".amy-abcdefgh").mkdir()  # a work folder
    (root / "notes.txt").write_text("")
    assert profiles.names() == ["amy", "zed"]


def test_whose_a_profile_is_its_cards_owner_or_the_operators(root):
    make(root, "mine", {"method": "full", "owner": ME})
    make(root, "ops")
    make(root, "odd", {"method": "full", "owner": "A" * 32})  # no visitor's hash
    make(root, "short", {"method": "full", "owner": ME[:31]})
    make(root, "listed", {"method": "full", "owner": [ME]})
    make(root, "broken", {"method": "nope", "owner": ME})  # a card that can't be read
    assert profiles.owner_of("mine") == ME
    for name in ("ops", "odd", "short", "listed", "broken", "missing", "Bad name"):
        assert profiles.owner_of(name) is None
    assert profiles.owned_by("mine", ME) and not profiles.owned_by("mine", YOU)
    assert not profiles.owned_by("ops", "")  # no visitor owns the operator's
    assert not profiles.owned_by("ops", None)


def test_a_visitor_sees_the_operators_profiles_and_their_own_unless_all_are_shared(
        root, monkeypatch):
    make(root, "mine", {"method": "full", "owner": ME})
    make(root, "yours", {"method": "full", "owner": YOU})
    make(root, "ops")
    assert profiles.visible(ME) == ["mine", "ops"]
    assert profiles.visible(YOU) == ["ops", "yours"]
    for on in ("1", "true", " YES ", "on"):
        monkeypatch.setenv("LIPREAD_SHARE_PROFILES", on)
        assert profiles.shared() and profiles.visible(ME) == ["mine", "ops", "yours"]
    for off in ("0", "", "no", "2"):
        monkeypatch.setenv("LIPREAD_SHARE_PROFILES", off)
        assert not profiles.shared() and profiles.visible(ME) == ["mine", "ops"]


def test_a_profile_is_written_whole_into_place_and_replaced_only_with_force(root):
    with profiles.writing("bob") as folder:
        assert folder.parent == root and folder.name.startswith(".bob-")
        (folder / "profile.json").write_text('{"method": "full"}')
        assert profiles.names() == []  # not yet in place
    assert profiles.names() == ["bob"] and not folder.exists()
    assert (root / ".bob.lock").is_file()  # the lock file stays, empty
    with pytest.raises(profiles.ProfileError) as err:
        with profiles.writing("bob"):
            pytest.fail("a second profile of the name was begun")
    assert str(err.value) == (f"profile 'bob' exists ({root / 'bob'}); pass --force to "
                              "replace it, or choose another name")
    with profiles.writing("bob", force=True) as folder:
        (folder / "profile.json").write_text('{"method": "body"}')
    assert json.loads((root / "bob" / "profile.json").read_text()) == {"method": "body"}
    assert sorted(p.name for p in root.iterdir()) == [".bob.lock", "bob"]


def test_a_writing_that_fails_leaves_the_old_profile_and_no_work_folder(root):
    make(root, "bob")
    with pytest.raises(RuntimeError):
        with profiles.writing("bob", force=True) as folder:
            (folder / "profile.json").write_text('{"method": "body"}')
            raise RuntimeError("stopped")
    assert json.loads((root / "bob" / "profile.json").read_text()) == {"method": "full"}
    assert sorted(p.name for p in root.iterdir()) == [".bob.lock", "bob"]


def _hold(root, name):
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_one_enrollment_of_a_name_at_a_time_and_no_delete_while_it_runs(root, monkeypatch):
    monkeypatch.setattr(profiles, "LOCK_WAIT_S", 0.1)
    make(root, "bob")
    fd = _hold(root, "bob")
    try:
        with pytest.raises(profiles.ProfileError, match="^profile 'bob': another enrollment "
                           "of it is running; wait for it to end$"):
            with profiles.writing("bob", force=True):
                pass
        with pytest.raises(profiles.ProfileError, match="^profile 'bob': an enrollment of "
                           "it is running; wait for it to end$"):
            profiles.delete("bob")
        with profiles.writing("amy") as folder:  # another name is free
            (folder / "profile.json").write_text('{"method": "full"}')
    finally:
        os.close(fd)
    profiles.delete("bob")
    assert profiles.names() == ["amy"]
    assert sorted(p.name for p in root.iterdir()) == [".amy.lock", ".bob.lock", "amy"]
    profiles.delete("bob")  # gone already: nothing to do


def test_a_profile_put_there_by_hand_is_deleted_and_its_lock_is_the_users_alone(root):
    make(root, "bob")  # copied in: no enrollment ever made its lock
    profiles.delete("bob")
    assert profiles.names() == [] and not (root / "bob").exists()
    assert (root / ".bob.lock").stat().st_mode & 0o777 == 0o600


def test_a_delete_whose_files_cannot_all_be_removed_hides_them_for_the_sweep(root, monkeypatch):
    make(root, "bob")
    unlink = os.unlink

    def stuck(path, *args, **kwargs):  # the weights cannot be removed (a busy disk, say)
        if str(path).endswith(".weights.h5"):
            raise PermissionError(13, "Permission denied", str(path))
        return unlink(path, *args, **kwargs)
    monkeypatch.setattr(os, "unlink", stuck)
    profiles.delete("bob")  # no error: the profile is gone at once
    assert profiles.names() == []
    (left,) = [p for p in root.iterdir() if p.is_dir()]
    assert left.name.startswith(".bob-old-") and (left / "bob" / "reader.weights.h5").exists()
    monkeypatch.setattr(os, "unlink", unlink)
    assert profiles.sweep() == [left] and not left.exists()


def test_a_lock_taken_within_the_wait_is_had(root):
    fd = _hold(root, "bob")
    other = os.open(root / ".bob.lock", os.O_RDWR)
    try:
        assert not profiles._lock_within(other, 0.0)  # one try
        os.close(fd)
        assert profiles._lock_within(other, 0.0)
    finally:
        os.close(other)


def test_killed_enrollments_work_folders_are_swept_unless_theirs_still_runs(root):
    assert profiles.sweep() == []  # no profiles dir
    for name in (".bob-abcd1234", ".bob-old-abcd1234", ".amy-x_y_z_12", ".amy-old-12345678",
                 ".cy-12345678", ".cy-1234567", ".Bob-12345678", "bob-12345678"):
        (root / name).mkdir(parents=True)
    (root / ".dee-12345678").write_text("")  # a file: not a work folder
    (root / ".eve-12345678").symlink_to(root / "bob-12345678")
    fd = _hold(root, "amy")
    try:
        removed = profiles.sweep()
    finally:
        os.close(fd)
    assert sorted(p.name for p in removed) == [".bob-abcd1234", ".bob-old-abcd1234",
                                               ".cy-12345678"]
    assert sorted(p.name for p in root.iterdir()) == [
        ".Bob-12345678", ".amy-old-12345678", ".amy-x_y_z_12", ".amy.lock", ".cy-1234567",
        ".dee-12345678", ".eve-12345678", "bob-12345678"]
    assert profiles.sweep() == [root / ".amy-old-12345678", root / ".amy-x_y_z_12"]


def test_an_old_profiles_work_folder_waits_for_either_names_enrollment(root):
    (root / ".bob-old-abcd1234").mkdir(parents=True)  # bob's old profile, or bob-old's work
    fd = _hold(root, "bob-old")
    try:
        assert profiles.sweep() == []
    finally:
        os.close(fd)
    fd = _hold(root, "bob")
    try:
        assert profiles.sweep() == []
    finally:
        os.close(fd)
    assert profiles.sweep() == [root / ".bob-old-abcd1234"]


def test_a_lock_file_that_cannot_be_opened_is_taken_as_held(root):
    (root / ".bob-abcd1234").mkdir(parents=True)
    (root / ".bob.lock").mkdir()  # opening it for writing fails: not known to be free
    assert profiles.sweep() == []


def test_a_missing_or_damaged_card_is_one_line_naming_the_profile(root):
    with pytest.raises(profiles.ProfileError) as err:
        profiles.card("bob")
    assert str(err.value) == (f"profile 'bob': no such profile in {root} (profiles: none); "
                              "make one with lipread enroll")
    assert err.value.page == "it is not there any more"
    make(root, "amy")
    make(root, "bob", {"method": "full", "tempo": 3})
    with pytest.raises(profiles.ProfileError) as err:
        profiles.card("cy")
    assert "(profiles: amy, bob);" in str(err.value)
    with pytest.raises(profiles.ProfileError) as err:
        profiles.card("bob")
    assert str(err.value) == ("profile 'bob': not a profile card (tempo '3' is not a number "
                              "from 0.5 to 2); enroll 'bob' again with --force")
    assert err.value.page is None
    assert profiles.page_reason(err.value) == ("profile 'bob': not a profile card (tempo '3' "
                                               "is not a number from 0.5 to 2)")
    assert profiles.card("amy") == {"method": "full"}


def test_the_page_is_told_no_path_and_the_log_gets_the_rest(capsys):
    gone = profiles.ProfileError("profile 'x': no such profile in /srv/p", page="it is gone")
    assert profiles.page_reason(gone) == "it is gone"
    assert capsys.readouterr().err == ""
    said = profiles.page_reason(PermissionError(13, "Permission denied", "/srv/cache"))
    assert said == "the server could not load it (its log says why)"
    assert capsys.readouterr().err == ("lipread: a profile could not be loaded: "
                                       "PermissionError: [Errno 13] Permission denied: "
                                       "'/srv/cache'\n")


@pytest.mark.parametrize("card, why", [
    ("[1]", "no method"),
    ('{"tempo": 1}', "no method"),
    ('{"method": 3}', "method '3' is not one of full, body, frontend"),
    ('{"method": "x' + "y" * 60 + '"}', "method 'x" + "y" * 39 + "' is not one of"),
    ('{"method": "full", "tempo": true}', "tempo 'True' is not a number from 0.5 to 2"),
    ('{"method": "full", "tempo": "1"}', "tempo '1' is not a number"),
    ('{"method": "full", "tempo": NaN}', "tempo 'nan' is not a number"),
    ('{"method": "full", "tempo": 0.49}', "tempo '0.49' is not a number from 0.5 to 2"),
    ('{"method": "full", "tempo": 2.01}', "tempo '2.01' is not a number"),
    ('{"method": "full", "tempo": 1', "Expecting ',' delimiter: line 1 column 30 (char 29)"),
    ("", "Expecting value: line 1 column 1 (char 0)"),
    (b"\xff", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ("[" * 100_000 + "]" * 100_000, "nested too deep"),
    ("{" + " " * cards.MAX_CARD_BYTES + "}", "too big"),
])
def test_a_card_that_is_wrong_says_why_in_a_few_words(tmp_path, card, why):
    file = tmp_path / "profile.json"
    file.write_bytes(card if isinstance(card, bytes) else card.encode())
    with pytest.raises(cards.Damaged) as err:
        cards.read(file)
    assert str(err.value).startswith(why)


def test_a_card_is_read_no_further_than_its_limit_in_bytes(tmp_path):
    with pytest.raises(cards.Damaged, match="^too big$"):
        cards.read("/dev/zero")  # endless: read up to the limit, not to the end
    file = tmp_path / "profile.json"
    note = "\u00e9" * (cards.MAX_CARD_BYTES // 2)  # fewer characters than bytes
    file.write_text(json.dumps({"method": "full", "note": note}, ensure_ascii=False))
    assert len(file.read_text()) < cards.MAX_CARD_BYTES < len(file.read_bytes())
    with pytest.raises(cards.Damaged, match="^too big$"):
        cards.read(file)


def test_a_card_that_cannot_be_read_for_no_given_reason_says_unreadable(tmp_path, monkeypatch):
    import builtins

    def fails(*args, **kwargs):
        raise OSError("no reason given")
    monkeypatch.setattr(builtins, "open", fails)
    with pytest.raises(cards.Damaged, match="^unreadable$"):
        cards.read(tmp_path / "profile.json")


def test_a_long_wrong_tempo_is_quoted_to_40_characters(tmp_path):
    file = tmp_path / "profile.json"
    file.write_text(json.dumps({"method": "full", "tempo": "9" * 100}))
    with pytest.raises(cards.Damaged) as err:
        cards.read(file)
    assert str(err.value) == f"tempo '{'9' * 40}' is not a number from 0.5 to 2"


@pytest.mark.parametrize("tempo", [0.5, 2, 2.0, 1])
def test_a_card_at_the_tempos_edges_is_read(tmp_path, tempo):
    file = tmp_path / "profile.json"
    file.write_text(json.dumps({"method": "tempo", "tempo": tempo}) + " " * 100)
    assert cards.read(file) == {"method": "tempo", "tempo": tempo}
    file.write_text("{" + " " * (cards.MAX_CARD_BYTES - 18) + '"method": "full"}')
    assert len(file.read_bytes()) == cards.MAX_CARD_BYTES
    assert cards.read(file) == {"method": "full"}
    with pytest.raises(cards.Damaged, match="^No such file or directory$"):
        cards.read(tmp_path / "gone.json")


def test_weights_that_are_no_plain_file_of_bounded_size_name_the_profile(root, monkeypatch):
    make(root, "bob")
    assert profiles.weights_file("bob") == root / "bob" / "reader.weights.h5"
    size = (root / "bob" / "reader.weights.h5").stat().st_size
    monkeypatch.setattr(cards, "MAX_WEIGHTS_BYTES", size)
    assert profiles.weights_file("bob") == root / "bob" / "reader.weights.h5"
    monkeypatch.setattr(cards, "MAX_WEIGHTS_BYTES", size - 1)
    with pytest.raises(profiles.ProfileError) as err:
        profiles.weights_file("bob")
    assert str(err.value) == (f"profile 'bob': its weights are over {(size - 1) // 1_000_000} "
                              "MB; enroll 'bob' again with --force")
    monkeypatch.setattr(cards, "MAX_WEIGHTS_BYTES", 200_000_000)
    with open(root / "bob" / "reader.weights.h5", "r+b") as f:  # sparse: no disk used
        f.truncate(200_000_001)
    with pytest.raises(profiles.ProfileError, match="^profile 'bob': its weights are over "
                       "200 MB; enroll 'bob' again with --force$"):
        profiles.weights_file("bob")
    (root / "bob" / "reader.weights.h5").unlink()
    with pytest.raises(profiles.ProfileError, match="^profile 'bob': its weights cannot be "
                       r"read \(No such file or directory\); enroll 'bob' again"):
        profiles.weights_file("bob")
    (root / "bob" / "reader.weights.h5").symlink_to(WEIGHTS)
    with pytest.raises(profiles.ProfileError, match="^profile 'bob': its weights are not a "
                       "plain file; enroll 'bob' again with --force$"):
        profiles.weights_file("bob")


def test_a_profile_of_the_general_weights_reads_as_the_general_reader(root, tmp_path,
                                                                     monkeypatch):
    from lipread.model import onnx_export, onnx_reader

    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    make(root, "same")
    frames = np.random.default_rng(0).random((1, *onnx_export.INPUT_SHAPE), np.float32)
    general = onnx_reader.load(WEIGHTS)(frames)
    assert np.allclose(profiles.load_network("same")(frames), general, atol=1e-5)
    keras = profiles.load_network("same", runtime="keras")
    assert np.allclose(np.asarray(keras(frames)), general, atol=1e-4)


def test_weights_that_do_not_fit_the_card_are_one_line_naming_the_profile(
        root, tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    make(root, "bob", {"method": "adapters"})  # the general weights: no adapters in them
    with pytest.raises(profiles.ProfileError) as err:
        profiles.load_network("bob")
    assert str(err.value) == ("profile 'bob': its weights cannot be read (they do not fit "
                              "its card's network); enroll 'bob' again with --force")
    with pytest.raises(profiles.ProfileError) as err:
        profiles.load("bob")
    assert str(err.value) == ("profile 'bob': its weights do not fit its card's network; "
                              "enroll 'bob' again with --force")
    folder = make(root, "cy", weights=False)
    (folder / "reader.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(profiles.ProfileError) as err:
        profiles.load_network("cy")
    assert "its weights cannot be read (they do not fit its card's network)" in str(err.value)
    with pytest.raises(profiles.ProfileError) as err:
        profiles.load("cy")
    assert str(err.value) == ("profile 'cy': its weights do not fit its card's network; "
                              "enroll 'cy' again with --force")


@pytest.mark.parametrize("raised, reason", [
    ("onnx", "they could not be made a reader"),
    (PermissionError(13, "Permission denied"), "Permission denied"),
])
def test_weights_a_reader_cannot_be_made_of_say_why_naming_the_profile(root, monkeypatch,
                                                                     raised, reason):
    from lipread.model import onnx_reader

    def load(*args, **kwargs):
        raise onnx_reader.OnnxError("broken graph") if raised == "onnx" else raised
    monkeypatch.setattr(onnx_reader, "load", load)
    make(root, "bob")
    with pytest.raises(profiles.ProfileError) as err:
        profiles.load_network("bob")
    assert str(err.value) == (f"profile 'bob': its weights cannot be read ({reason}); "
                              "enroll 'bob' again with --force")


def test_a_cache_that_cannot_be_written_is_said_as_it_is_not_blamed_on_the_profile(
        root, monkeypatch):
    from lipread.model import onnx_reader

    def load(*args, **kwargs):
        raise OSError("no writable cache folder for onnx (set LIPREAD_CACHE_DIR)")
    monkeypatch.setattr(onnx_reader, "load", load)
    make(root, "bob")
    with pytest.raises(OSError, match="^no writable cache folder for onnx"):
        profiles.load_network("bob")


@pytest.mark.parametrize("method, tempo", [("adapters", 1.2), ("prompt", 1.1)])
def test_a_saved_profile_reads_as_the_network_that_was_taught(root, tmp_path, monkeypatch,
                                                               method, tempo):
    import keras

    from lipread.enroll import methods
    from lipread.model import onnx_export

    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "cache"))
    taught = methods.build(methods.get(method), loader.load_model("lipnet"), tempo)
    rng = np.random.default_rng(0)
    for layer in taught.layers:  # what teaching would have moved: not an identity any more
        if layer.name.startswith(("adapter", "prompt")):
            layer.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype)
                               for w in layer.get_weights()])
    info = {"method": method, "tempo": tempo, "clips": 3}
    with profiles.writing("bob") as folder:
        profiles.save(folder, taught, methods.get(method), info)
    frames = rng.random((1, *onnx_export.INPUT_SHAPE), np.float32)
    want = np.asarray(taught(frames))
    assert profiles.card("bob") == info
    again = profiles.load_network("bob", runtime="keras")
    assert isinstance(again, keras.Model)
    assert np.allclose(np.asarray(again(frames)), want, atol=1e-5)
    assert np.allclose(np.asarray(profiles.load(name="bob")(frames)), want, atol=1e-5)
    assert np.allclose(profiles.load_network("bob")(frames), want, atol=1e-4)
    general = np.asarray(loader.load_model("lipnet")(frames))
    assert not np.allclose(want, general, atol=1e-3)  # the profile is not the general reader
