"""Visitors of one server keep to themselves (views/teach.py, lipread/app/visitors.py,
profiles.visible): a profile made on the Teach page is its visitor's, kept across a reload
of their browser (a token in the address); another visitor sees neither it in the Reader
list, nor its job and held-out sentences, and can't replace it; the operator's profiles
(`lipread enroll`) are listed to all and replaced by none from the page;
LIPREAD_SHARE_PROFILES=1 lists the page's profiles to all. Takes are private and brief.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import types

import pytest
from conftest import open_page

from lipread.app import visitors
from lipread.enroll import jobs, profiles

TIMEOUT = 300
ALICE, BOB = "a" * 32, "b" * 32  # two browsers' tokens
HELD = "lay green with q seven please"  # alice's held-out sentence


@pytest.fixture
def page_env(grid_dir, tmp_path, monkeypatch, webrtc_in_apptest):
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.delenv("LIPREAD_SHARE_PROFILES", raising=False)
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    return tmp_path / "profiles"


def make_profile(name: str, owner_token: str | None) -> None:
    """A profile's card (all the lists and checks read), the page's visitor's or, with no
    owner, the operator's."""
    folder = profiles.path(name)
    folder.mkdir(parents=True)
    card = {"method": "full", "name": name}
    if owner_token is not None:
        card["owner"] = visitors.owner(owner_token)
    (folder / profiles.CARD_FILE).write_text(json.dumps(card))
    (folder / profiles.RECORDINGS).mkdir()
    (folder / profiles.RECORDINGS / "take-01.txt").write_text(HELD + "\n")


def make_job(name: str, owner_token: str) -> None:
    """A finished page enrollment of `name` by that visitor, its held-out take shown."""
    folder = jobs.job_dir(name)
    folder.mkdir(parents=True)
    (folder / "owner").write_text(visitors.owner(owner_token))
    take = {"name": "take-03", "sentence": HELD,
            "before": {"said": HELD, "word_errors": 0, "words": 6},
            "after": {"said": HELD, "word_errors": 0, "words": 6}}
    (folder / "card.json").write_text(json.dumps({
        "name": name, "method": "full", "seconds": 9.0, "trained_on": ["take-01", "take-02"],
        "held_out_takes": [take], "held_out": take,
        "verdict": {"takes": 1, "words": 6, "general_errors": 0, "taught_errors": 0,
                    "kept": True}}))


def teach(visitor: str):
    return open_page("views/teach.py", TIMEOUT, visitor)


def readers(visitor: str) -> list:
    """The Reader list of the read page, as that browser sees it."""
    at = open_page("views/read.py", TIMEOUT, visitor)
    assert not at.exception, [e.value for e in at.exception]
    if not any(s.key == "reader" for s in at.sidebar.selectbox):
        return []  # no profile to list: no Reader list
    return [o.removesuffix("'s profile") for o in at.selectbox(key="reader").options[1:]]


def shows(at, text: str) -> bool:
    return any(text in e.value for kind in ("markdown", "success", "warning", "error",
                                            "caption")
               for e in getattr(at, kind))


def name_it(at, name: str):
    at.text_input(key="teach_name").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_another_visitor_does_not_see_my_profile(page_env):
    make_profile("alice", ALICE)
    make_job("alice", ALICE)
    bob = teach(BOB)
    assert not any(c.key == "job_alice" for c in bob.get("flex_container")) \
        and not shows(bob, "alice") and not shows(bob, HELD)
    name_it(bob, "alice")  # not his to replace
    assert not any(c.key == "teach_force" for c in bob.checkbox)
    assert any("The name alice is taken; choose another" in e.value for e in bob.error)
    assert not any(b.key == "delete_alice" for b in bob.button)
    assert "alice" not in readers(BOB)


def test_my_profile_is_mine_after_a_reload(page_env):
    make_profile("alice", ALICE)
    make_job("alice", ALICE)
    alice = teach(ALICE)  # a new session of the same browser: the token in the address
    assert shows(alice, "Profile **alice** is ready") and shows(alice, HELD)
    name_it(alice, "alice")
    assert [c.label for c in alice.checkbox if c.key == "teach_force"] == \
        ["Replace the profile alice"]
    assert not alice.error
    assert "alice" in readers(ALICE)


def test_a_new_browser_is_a_new_visitor_kept_across_pages(page_env):
    at = open_page("views/teach.py", TIMEOUT)
    token = at.query_params["visitor"]
    assert visitors.TOKEN.fullmatch(token)
    at.switch_page("views/read.py").run()
    assert at.query_params["visitor"] == token
    assert at.session_state["visitor"] == token
    assert visitors.owner(token) != token and token not in visitors.owner(token)


def test_shared_profiles_are_listed_to_every_visitor_and_replaced_by_their_own(page_env,
                                                                               monkeypatch):
    make_profile("alice", ALICE)
    monkeypatch.setenv("LIPREAD_SHARE_PROFILES", "1")
    assert profiles.visible(visitors.owner(BOB)) == ["alice"]
    bob = name_it(teach(BOB), "alice")
    assert not any(c.key == "teach_force" for c in bob.checkbox)
    assert not any(b.key == "delete_alice" for b in bob.button)
    assert "alice" in readers(BOB)


def test_an_operators_profile_is_listed_to_all_and_replaced_by_none(page_env):
    make_profile("opal", None)  # made with `lipread enroll`: no owner
    for visitor in (ALICE, BOB):
        assert profiles.visible(visitors.owner(visitor)) == ["opal"]
        at = name_it(teach(visitor), "opal")
        assert not any(c.key == "teach_force" for c in at.checkbox)
        assert any("The name opal is taken" in e.value for e in at.error)
        assert not any(b.key == "delete_opal" for b in at.button)
        assert at.button(key="teach_go").disabled
    assert "opal" in readers(BOB)


def test_a_visitor_deletes_their_own_profile(page_env):
    make_profile("alice", ALICE)
    make_profile("bob", BOB)
    at = teach(ALICE)
    assert not any(b.key == "delete_bob" for b in at.button)
    at.button(key="delete_alice").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not profiles.path("alice").exists()  # its card, weights and recordings
    assert profiles.names() == ["bob"]
    assert not any(b.key == "delete_alice" for b in at.button)


def test_takes_are_private_made_when_one_arrives_and_removable(page_env, others_dir):
    at = teach(ALICE)
    assert not (page_env / jobs.TAKES).exists()  # a plain visit makes no folder
    at.number_input(key="teach_n").set_value(3).run()
    clip = others_dir / "s26" / "bgbsza.mpg"
    key = next(u.key for u in at.get("file_uploader") if u.key.startswith("take_0_"))
    at.file_uploader(key=key).set_value((clip.name, clip.read_bytes(), "video/mpeg")).run()
    assert not at.exception, [e.value for e in at.exception]
    (folder,) = (page_env / jobs.TAKES).iterdir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((page_env / jobs.TAKES).stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["take-01.mpg", "take-01.txt"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    at.button(key="remove_takes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not folder.exists()
    assert not any("Good take" in s.value for s in at.success)  # gone from the page too


def test_takes_left_behind_are_swept_after_an_hour(page_env):
    left = jobs.takes_dir("0badc0ffee")
    jobs.write_take(left / "take-01.txt", b"bin blue at f two now\n")
    recent = jobs.takes_dir("0fresh0")
    jobs.write_take(recent / "take-01.txt", b"bin blue at f two now\n")
    hour_ago = time.time() - 3700

    os.utime(left, (hour_ago, hour_ago))
    teach(BOB)
    assert not left.exists() and recent.exists()


def test_a_refused_take_names_the_take_never_a_path(page_env):
    at = teach(ALICE)
    key = next(u.key for u in at.get("file_uploader") if u.key.startswith("take_1_"))
    at.file_uploader(key=key).set_value(("mine.mp4", b"\x00" * 4000, "video/mp4")).run()
    assert not at.exception, [e.value for e in at.exception]
    (said,) = [w.value for w in at.warning if "Take 2" in w.value]
    assert "can't be read" in said and "take-02" in said
    assert "/" not in said.replace("MP4/MOV", "").replace("WebM/Matroska", ""), said
    assert str(page_env) not in said


def test_the_job_takes_the_takes_and_removes_them_when_it_ends(page_env, tmp_path,
                                                                monkeypatch):
    """Teach moves the session's takes into the job, the enrollment gets its visitor as
    owner, and the takes go when the job has ended (the profile keeps its own copies)."""
    fake = tmp_path / "fake-python"  # `python -m lipread enroll ...`: a card, at once
    hold = tmp_path / "hold"  # it runs while this is there
    hold.touch()
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys, time\n"
                    f"while os.path.exists({str(hold)!r}):\n    time.sleep(0.05)\n"
                    "card = sys.argv[sys.argv.index('--json') + 1]\n"
                    "owner = sys.argv[sys.argv.index('--owner') + 1]\n"
                    "open(card, 'w').write(json.dumps({'method': 'full', 'owner': owner}))\n")
    fake.chmod(0o755)
    monkeypatch.setattr(jobs, "sys", types.SimpleNamespace(executable=str(fake)))
    monkeypatch.setattr(jobs, "can_train", lambda: True)
    takes = jobs.takes_dir()
    jobs.write_take(takes / "take-01.txt", b"bin blue at f two now\n")
    owner = visitors.owner(ALICE)
    jobs.start("alice", takes, owner=owner)
    assert not takes.exists()
    folder = jobs.job_dir("alice")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "takes" / "take-01.txt").is_file()  # while it runs
    with pytest.raises(profiles.ProfileError, match="the takes are gone"):
        jobs.start("carol", takes, owner=owner)
    with pytest.raises(profiles.ProfileError, match="someone else is teaching"):
        jobs.start("alice", takes, owner=visitors.owner(BOB))
    hold.unlink()
    for _ in range(200):
        if jobs.status("alice").state != "running":
            break
        time.sleep(0.05)
    job = jobs.status("alice")
    assert job.state == "done" and job.card["owner"] == owner
    assert not (folder / "takes").exists()
    assert [j.name for j in jobs.jobs(owner)] == ["alice"]
    assert jobs.jobs(visitors.owner(BOB)) == []


def test_enroll_records_the_owner_it_is_given():
    from lipread.cli import enroll

    assert enroll.parse_args(["--name", "x", "--owner", "c" * 32]).owner == "c" * 32
    with pytest.raises(SystemExit):
        enroll.parse_args(["--name", "x", "--owner", "../etc"])
    proc = subprocess.run([sys.executable, "-m", "lipread", "enroll", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert "--owner" in proc.stdout
