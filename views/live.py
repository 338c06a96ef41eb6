"""Live: read lips from the webcam, in the page (url path `live`).

The camera's frames come over WebRTC (streamlit-webrtc, aiortc): each is drawn back with
the face box, the lip points and the crop the network reads; a capture starts when the
lips move (or on the button) and is read as a file is read (lipread/live/). The work runs
in threads of lipread/live/session.py, never in this script run. While the camera runs,
the script run ends by waiting on them (camera.follow): the server, not a browser timer,
notices a reading, the moment it is done, and reruns the page. (A browser timer was
sometimes lost when the page reran on a busy machine, and the page stopped following the
camera.)
"""
from __future__ import annotations


import streamlit as st

from lipread import decoding, video
from lipread.app import camera, pictures, readers, visitors, widgets
from lipread.enroll import profiles
from lipread.live import capture, segment

SHOWN = 5  # readings shown in full; older ones as a line each


@st.cache_data(max_entries=64, show_spinner=False)
def crop_gif(key: str, _crops) -> bytes:
    return pictures.gif_bytes(_crops)


def choose_reader():
    """(the reader chosen in the sidebar or None with a message, the profile's name or None
    for the general reader)."""
    profile = widgets.pick_reader(profiles.visible(visitors.owner()))
    try:
        weights, stamp = readers.weights(profile)
        if profile is None and stamp is None:
            st.error(f"No network weights at `{weights}`: put the released weights there "
                     "(or train them with `lipread train`), then reload.")
            return None, profile
        return readers.get_reader(profile), profile
    except Exception as err:  # noqa: BLE001: a broken file says so, the camera still shows
        why = profiles.page_reason(err) if profile is not None else err
        st.error(f"The reader can't be loaded: {why}. Choose another reader, or reload.")
        return None, profile


def choose_mode() -> tuple[bool, str]:
    """(automatic?, decoder) from the sidebar."""
    auto = st.radio("Read", ("when the lips move", "on the button"), key="live_mode",
                    help="When the lips move: a capture starts as they start moving and "
                         "ends when they have been still for half a second (or at 3 s). "
                         "On the button: the 3 s after a countdown.") == "when the lips move"
    decoder = st.radio("Decoder", decoding.DECODERS, key="live_decoder", horizontal=True,
                       index=decoding.DECODERS.index("grammar"),
                       help="; ".join(f"{k}: {decoding.describe(k)}" for k in decoding.DECODERS))
    return auto, decoder


def show_reading(reading: capture.Capture, full: bool, profile: str | None = None) -> None:
    head = (f"**{reading.number}.** {'automatic' if reading.how == 'auto' else 'button'}, "
            f"{reading.seconds:.1f} s at {reading.camera_fps:.0f} fps")
    with st.container(border=True, key=f"reading_{reading.number}"):
        if reading.read_at is None:
            st.markdown(head + ": reading…")
            return
        if reading.error:
            st.markdown(head)
            st.error(f"Not read: {reading.error}.")
            return
        result = reading.reading
        st.markdown(head + f", read {reading.latency:.2f} s after it ended "
                    f"({reading.decoder} decoder):")
        with st.container(key=f"sentence_{reading.number}"):
            widgets.code_line(result.sentence or "(nothing read)")
        widgets.show_confidence(result, key=f"confidence_{reading.number}", profile=profile)
        if not full:
            return
        for notice in reading.notices:
            st.caption(f"Note: {notice}.")
        left, right = st.columns(2)
        with left:
            st.image(crop_gif(f"{id(reading)}", result.view.crops), width="stretch",
                     caption="The 75 mouth crops the network read, at 25 fps")
            if reading.mp4 is not None:
                st.video(reading.mp4, format="video/mp4")
                st.download_button("Download the clip (mp4)", reading.mp4,
                                   file_name=f"lipread-live-{reading.number}.mp4",
                                   mime="video/mp4", key=f"download_{reading.number}")
        with right:
            st.markdown("**Raw CTC tokens** (`_` blank, `·` space)")
            widgets.code_line(pictures.token_chars(result.tokens))
            data, spec = pictures.probability_chart(result.probs)
            st.vega_lite_chart(data, spec, width="stretch")


def main() -> None:
    st.title("Live")
    st.caption("Say a GRID sentence to the camera (e.g. \"bin blue at f two now\"): the "
               f"network reads {video.N_FRAMES / video.FPS:g} s of lips. Green: the face "
               "found; red: the lip points; top right: the crop the network reads.")
    sess = camera.session("live_session")
    with st.sidebar:
        auto, decoder = choose_mode()
    model, profile = choose_reader()
    sess.configure(model, decoder, auto)
    left, right = st.columns([3, 2], gap="large")
    with left:
        ctx = camera.camera(sess, "live")
    with right:
        if not auto and st.button("Read the next 3 s", key="live_button", type="primary",
                                  disabled=not ctx.state.playing):
            sess.read_next()
            st.toast(f"Reading in {segment.COUNTDOWN_S:g} s…")
        status = st.empty()
    st.subheader("Readings, newest first")
    seen = sess.version  # what this run draws (a reading done meanwhile: drawn next run)
    readings = list(sess.readings)  # a copy: the reader thread inserts as this draws
    if not readings:
        st.caption("None yet.")
    for i, reading in enumerate(readings):
        show_reading(reading, full=i < SHOWN, profile=profile)
    camera.follow(sess, ctx.state.playing, status, "live_status", seen)  # last: it waits on


main()
