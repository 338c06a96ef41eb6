"""The Teach page's enrollments as the visitor sees them: each running one's progress and
time left, each finished one's result (the held-out takes read before and after, and
whether the profile was kept), the read page's reader switched to a new profile."""
from __future__ import annotations

import streamlit as st

from lipread.enroll import jobs, judge, profiles


@st.fragment(run_every=1.0)
def show_jobs(owner: str) -> None:
    """The visitor's enrollments on record, polled each second; a finished one the session
    started switches the read page's reader to it."""
    for job in jobs.jobs(owner):
        with st.container(border=True, key=f"job_{job.name}"):
            if job.state == "running":
                eta = f", about {job.eta_s:.0f} s left" if job.eta_s is not None else ""
                st.progress(job.fraction, text=f"Teaching {job.name}: {job.stage}{eta}")
            elif job.state == "failed":
                st.error(f"Teaching {job.name} failed: {job.error}")
            else:
                show_result(job)


def show_takes(card: dict) -> None:
    """The held-out takes, each read by the general reader and by the taught one."""
    judged = card.get("verdict") or {}
    if judged.get("takes"):
        st.markdown(f"The last {judged['takes']} take(s), held out of teaching, read by the "
                    f"general reader: {judged['general_errors']} of {judged['words']} words "
                    f"wrong; by the taught one: {judged['taught_errors']}."
                    + (" Having passed, the profile then learned them too."
                       if card.get("trained_again_on_every_take") else ""))
    for held in card.get("held_out_takes") or []:
        st.markdown(f"**{held['sentence']}**  \n"
                    f"before: `{held['before']['said']}` ({held['before']['word_errors']} of "
                    f"{held['before']['words']} words wrong)  \n"
                    f"after: `{held['after']['said']}` ({held['after']['word_errors']} of "
                    f"{held['after']['words']} words wrong)")


def show_result(job: jobs.Job) -> None:
    card, name = job.card, job.name
    judged = card.get("verdict") or {}
    if not (judged.get("kept", True) or judged.get("kept_anyway")):
        stays = (f"{name}'s earlier profile stays" if name in profiles.names()
                 else "the general reader stays")
        st.warning(f"Teaching **{name}** did not help: the taught reader read your held-out "
                   f"takes no better than the general reader, so no profile was made and "
                   f"{stays}. Teach it more sentences: 20 or more help most.")
        show_takes(card)
        return
    tried = sorted(card.get("chosen_from") or {})
    how = f"{card['method']}, chosen from {' and '.join(tried)}" if tried else card["method"]
    st.success(f"Profile **{name}** is ready ({card['seconds']:.0f} s, method {how}, "
               f"{len(card['trained_on'])} takes).")
    if judged.get("taught"):  # the teaching failed its check; its statistics passed
        said = judge.instead(judged)
        st.info(said[:1].upper() + said[1:] + ".")
    show_takes(card)
    if st.session_state.get("teach_watch") == name:
        st.session_state["reader_choice"] = name  # the read page now reads with it
        st.session_state.pop("teach_watch")
    if st.session_state.get("reader_choice") == name:
        st.caption(f"The read page now reads with {name}'s profile.")
    elif st.button(f"Read with {name}", key=f"use_{name}"):
        st.session_state["reader_choice"] = name
