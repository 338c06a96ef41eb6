"""Teach it your face: say a few GRID sentences, and the reader adapts to you.

A page of app.py's navigation (url path `teach`). Each prompt's take is recorded with the
webcam (the Live page's component, lipread/app/camera.py: 3 s after a countdown) or
uploaded, checked at once (a face, moving lips, its length) and shown as the network will
see it; "Teach" runs
`lipread enroll` in a background process (lipread/enroll/jobs.py) whose progress this page
polls, so that a reload finds it; when it is done, the read page reads with the new profile.

A profile made here is the visitor's (lipread/app/visitors.py; profiles.py: whose a profile
is): listed to them alone, its job and held-out sentences shown to them alone, replaced or
deleted by them alone. Their takes are kept private (0700/0600) and briefly (jobs.py).
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import streamlit as st

from lipread import grid
from lipread.app import camera, files, pictures, teaching, visitors, widgets
from lipread.enroll import checks, expect, jobs, profiles, prompts
from lipread.live import segment

MIN_PROMPTS, MAX_PROMPTS = 3, prompts.MAX_PROMPTS
SWEEP_S = 300  # how often the server looks for takes left behind
TAKES_STALE_S = 3600 - SWEEP_S  # gone within an hour of their visitor's last take


@st.cache_resource(show_spinner=False)
def sweeper() -> threading.Thread:
    """One thread per server: the takes of visitors who left go within TAKES_STALE_S
    (every SWEEP_S), whether or not anyone opens this page again."""
    def sweep():
        while True:
            time.sleep(SWEEP_S)
            try:
                jobs.sweep_stale_takes(TAKES_STALE_S)
            except OSError as err:  # a folder that went meanwhile: the next round
                print(f"lipread: sweeping takes: {err}", file=sys.stderr)

    thread = threading.Thread(target=sweep, name="lipread-takes-sweeper", daemon=True)
    thread.start()
    return thread


@st.cache_data(max_entries=64, show_spinner=False)
def checked(digest: str, _path: str) -> checks.Take:
    return checks.check_take(_path)


@st.cache_data(max_entries=64, show_spinner=False)
def crop_gif(digest: str, _frames) -> bytes:
    return pictures.gif_bytes(_frames)


def takes_folder() -> Path:
    """This session's takes folder: made when its first take arrives (jobs.write_take),
    kept fresh while the session uses it, swept an hour after it stops."""
    token = st.session_state.get("takes_token")
    folder = jobs.takes_dir(token)
    st.session_state["takes_token"] = folder.name
    if folder.is_dir():
        try:
            folder.touch()  # the sweep spares a session still here
        except OSError:
            pass
    return folder


def forget_takes(folder: Path) -> None:
    """The takes gone from the page as from the server: uploads and recordings cleared."""
    jobs.remove_takes(folder)
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(("written_", "recorded_")):
            del st.session_state[key]
    for i in range(MAX_PROMPTS):  # a fresh uploader each (their keys count up)
        st.session_state[f"uploader_{i}"] = st.session_state.get(f"uploader_{i}", 0) + 1


def choose_name() -> str | None:
    name = st.text_input("Your name: the profile's", key="teach_name", max_chars=32,
                         placeholder="e.g. alice", help="1-32 of a-z, 0-9, _ and -")
    if not name:
        return None
    try:
        return profiles.check_name(name)
    except profiles.ProfileError as err:
        st.error(str(err))
        return None


def choose_prompts() -> list[str]:
    n = int(st.number_input("Sentences to say", MIN_PROMPTS, MAX_PROMPTS, prompts.N_PROMPTS,
                            key="teach_n", help="Each takes about 3 s to say; the last few "
                            "are held out to check that teaching helped"))
    with st.container(key="teach_expect"):
        st.info(expect.what_to_expect(n))
    return prompts.prompts(n)


def recorder():
    """The camera panel: (its session, whether the camera runs)."""
    sess = camera.session("teach_session", read=False)
    sess.configure(None, "grammar", auto=False)
    with st.container(border=True, key="teach_camera"):
        st.markdown("**Record with your camera**: press START, then \"Record\" under a "
                    f"prompt: after a {segment.COUNTDOWN_S:g} s countdown on the picture, "
                    f"say the sentence within {segment.MAX_S:g} s. Or upload a video.")
        left, right = st.columns([3, 2])
        with left:
            ctx = camera.camera(sess, "teach_cam")
        with right:
            watch(sess, ctx.state.playing)
    collect(sess)
    return sess, ctx.state.playing


@st.fragment(run_every=camera.POLL_S)
def watch(sess, playing: bool) -> None:
    camera.show_status(sess, playing, "teach_status")
    camera.rerun_on_change(sess, "teach_seen")


def collect(sess) -> None:
    """Recordings finished since the last run become their prompts' takes (and reset the
    prompt's uploader: the newest take wins)."""
    for reading in list(sess.readings):  # a copy: the reader thread inserts
        done = st.session_state.setdefault("teach_collected", set())
        if reading.label is None or reading.mp4 is None or reading.number in done:
            continue
        done.add(reading.number)
        i = reading.label
        st.session_state[f"recorded_{i}"] = reading.mp4
        st.session_state[f"uploader_{i}"] = st.session_state.get(f"uploader_{i}", 0) + 1


def record(i: int, sentence: str, folder, sess=None, playing: bool = False) -> bool:
    """One prompt: its sentence, its take (recorded or uploaded), the take's check.
    True: fit."""
    with st.container(border=True, key=f"prompt_{i}"):
        st.markdown(f"**{i + 1}.** Say: **{sentence}**")
        if sess is not None and st.button("Record", key=f"record_{i}",
                                          disabled=not playing,
                                          help="3 s of the camera after a countdown (start "
                                               "the camera above first)"):
            sess.read_next(label=i)
            st.toast(f"Recording prompt {i + 1} in {segment.COUNTDOWN_S:g} s: "
                     f"\"{sentence}\"")
        upload = st.file_uploader("A video of you saying it", type=widgets.UPLOAD_TYPES,
                                  key=f"take_{i}_{st.session_state.get(f'uploader_{i}', 0)}",
                                  max_upload_size=widgets.MAX_UPLOAD_MB)
        recorded = st.session_state.get(f"recorded_{i}")
        if upload is None and recorded is None:
            return False
        if upload is not None:  # an upload says what it says: the prompt, unless told
            sentence = take_sentence(i, sentence, upload.file_id)
            if sentence is None:
                return False
        data = upload.getvalue() if upload is not None else recorded
        suffix = files.safe_suffix(upload.name) if upload is not None else ".mp4"
        digest = files.sha256_bytes(data)
        stem = f"take-{i + 1:02d}"
        path = folder / f"{stem}{suffix}"
        if st.session_state.get(f"written_{stem}") != (digest, sentence, str(path)) \
                or not path.is_file():
            for old in folder.glob(f"{stem}.*"):  # a new take replaces the last one
                old.unlink()
            jobs.write_take(path, data)
            jobs.write_take(folder / f"{stem}.txt", (sentence + "\n").encode())
            st.session_state[f"written_{stem}"] = (digest, sentence, str(path))
        take = checked(f"{digest}:{path.name}", str(path))  # its message names the take
        if take.crops is not None:
            st.image(crop_gif(digest, take.crops), width=280,
                     caption="What the network will see")
        if take.ok:
            st.success(f"Good take ({take.seconds:.1f} s), saying \"{sentence}\": teaching "
                       "and its check use that sentence.")
        for problem in take.problems:
            st.warning(f"Take {i + 1}: {problem}. Record or upload another take.")
        return take.ok


def take_sentence(i: int, prompt: str, upload_id: str) -> str | None:
    """What an uploaded take says: the prompt, filled in and editable (None, with a message,
    when what is typed is no GRID sentence)."""
    key = f"said_{i}"
    if st.session_state.get(f"{key}_for") != upload_id:  # a new upload starts from the prompt
        st.session_state[f"{key}_for"] = upload_id
        st.session_state[key] = prompt
    typed = st.text_input("What this video says", key=key,
                          help="The sentence said in the upload, if not the prompt: "
                               "teaching and its check use it")
    said = " ".join(typed.lower().split())
    problem = grid.grammar_error(said)
    if problem:
        st.error(f"Take {i + 1}: \"{typed}\" is no GRID sentence ({problem}). Type what the "
                 "video says.")
        return None
    return said


def taken(name: str, owner: str) -> bool:
    """Whether `name` is someone else's: the operator's profile, or another visitor's
    profile or running enrollment."""
    exists = (profiles.path(name) / profiles.CARD_FILE).is_file()
    if exists and not profiles.owned_by(name, owner):
        return True
    return jobs.job_dir(name).is_dir() and jobs.owner_of(name) != owner \
        and jobs.status(name).state == "running"


def teach_button(name: str | None, ready: int, total: int, folder, owner: str) -> None:
    if name is not None and taken(name, owner):
        st.error(f"The name {name} is taken; choose another.")
        name = None
    exists = name is not None and (profiles.path(name) / profiles.CARD_FILE).is_file()
    force = exists and st.checkbox(f"Replace the profile {name}", key="teach_force")
    missing = [] if name else ["a name"]
    if ready < total:
        missing.append(f"{total - ready} more good take(s)")
    if exists and not force:
        missing.append("a new name, or replacing the old profile")
    if not jobs.can_train():  # a reading-only install
        missing.append("TensorFlow and Keras (pip install -r requirements-train.txt)")
    if st.button("Teach", type="primary", disabled=bool(missing), key="teach_go"):
        try:
            jobs.start(name, folder, force, owner)
            st.session_state["teach_watch"] = name
            forget_takes(folder)  # moved into the job: gone when it ends
        except (OSError, ValueError) as err:  # in words without a server path
            if not isinstance(err, ValueError):
                print(f"lipread: teaching {name} could not start: {err}", file=sys.stderr)
            st.error("Can't start: " + (str(err) if isinstance(err, ValueError)
                                        else "the server could not (its log says why)"))
    if missing:
        st.caption("Teach needs " + ", ".join(missing) + ".")


def your_profiles(folder: Path, owner: str) -> None:
    """The visitor's own profiles, each to delete, and their takes to remove."""
    mine = [n for n in profiles.names() if profiles.owned_by(n, owner)]
    has_takes = folder.is_dir() and any(folder.iterdir())
    if not (mine or has_takes):
        return
    with st.container(border=True, key="teach_yours"):
        st.markdown("**Yours**: profiles made here are listed to you alone (this browser); "
                    "your takes are removed when a profile is made from them, or an hour "
                    "after you leave.")
        for name in mine:
            if st.button(f"Delete my profile {name}", key=f"delete_{name}",
                         help="Its reader, its card and the recordings it keeps"):
                try:
                    profiles.delete(name)
                    jobs.forget(name)
                    if st.session_state.get("reader_choice") == name:
                        st.session_state.pop("reader_choice")
                    st.toast(f"Deleted the profile {name}.")
                    st.rerun()
                except profiles.ProfileError as err:
                    st.error(f"Can't delete it: {profiles.page_reason(err)}")
        if has_takes and st.button("Remove my takes", key="remove_takes"):
            forget_takes(folder)
            st.rerun()


def main() -> None:
    st.title("Teach it your face")
    st.markdown("The reader learned one face (GRID's speaker s1) and reads others badly. "
                "Say a few GRID sentences, one video each, and it adapts to yours in a "
                "few minutes. The general reader is kept; choose yours on the read page.")
    st.caption("Face the camera, well lit, and say each sentence at an even pace. A take "
               "can also be filmed with a phone and uploaded under its prompt.")
    jobs.sweep_takes(TAKES_STALE_S)
    sweeper()
    owner = visitors.owner()
    folder = takes_folder()
    name = choose_name()
    sentences = choose_prompts()
    sess, playing = recorder()
    ready = sum(record(i, s, folder, sess, playing) for i, s in enumerate(sentences))
    for extra in sorted(folder.glob("take-*")):  # takes of prompts no longer asked
        if int(extra.stem.split("-")[1]) > len(sentences):
            extra.unlink()
    teach_button(name, ready, len(sentences), folder, owner)
    your_profiles(folder, owner)
    teaching.show_jobs(owner)


main()
