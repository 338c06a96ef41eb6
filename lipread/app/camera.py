"""The camera in a page: streamlit-webrtc's component fed to a LiveSession
(lipread/live/session.py), and its status polled. The Live page reads with it; the teach
page records takes with it."""
from __future__ import annotations

import streamlit as st

from lipread.live import ice
from lipread.live import webrtc as live_webrtc
from lipread.live.session import LiveSession

POLL_S = 0.25  # the page looks at the session this often
TRANSLATIONS = {  # streamlit-webrtc's messages, said so that a person knows what to do
    "device_access_denied": "Camera permission refused: allow the camera for this page "
                            "(the camera icon in the address bar), then press START again.",
    "device_not_available": "No camera found: connect one (and close other programs that "
                            "use it), then press START again.",
    "media_api_not_available": "This browser gives no camera to this page: open it over "
                               "https or on localhost, in a current browser.",
}
CONSTRAINTS = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480},
                         "frameRate": {"ideal": 25, "max": 30}}, "audio": False}


def session(key: str, read: bool = True) -> LiveSession:
    """This browser session's LiveSession under `key` (made on first use)."""
    if key not in st.session_state:
        st.session_state[key] = LiveSession(read=read)
    return st.session_state[key]


def secrets_present() -> bool:
    try:
        return len(st.secrets) > 0
    except Exception:  # noqa: BLE001: no secrets.toml (or a broken one): none
        return False


def camera(sess: LiveSession, key: str):
    """The component (its context: `.state.playing`), frames going to `sess`."""
    webrtc = live_webrtc.streamlit_webrtc()
    try:
        config = ice.rtc_configuration(st.secrets if secrets_present() else None)
    except ice.IceError as err:
        st.error(f"The WebRTC servers are misconfigured: {err}. Fix it (README: Live), "
                 "then reload; meanwhile no server outside this machine is used.")
        config = {"iceServers": []}
    return webrtc.webrtc_streamer(
        key=key, mode=webrtc.WebRtcMode.SENDRECV, rtc_configuration=config,
        media_stream_constraints=CONSTRAINTS, queued_video_frames_callback=sess.on_frames,
        async_processing=True, translations=TRANSLATIONS,
        video_html_attrs={"autoPlay": True, "muted": True, "style": {"width": "100%"}})


def show_status(sess: LiveSession, playing: bool, key: str) -> None:
    """What the camera sees, in words, and the preview's rates."""
    level, text = sess.status()
    if not playing and sess.newest is not None:
        level, text = "info", "The camera is off: press START to go on."
    with st.container(key=key):
        getattr(st, level)(text)
    if playing and sess.newest is not None:
        stats = sess.stats()
        st.caption(f"Camera {sess.size[0]}x{sess.size[1]}; preview {stats['preview_fps']:.0f} "
                   f"fps, face tracked {stats['tracked_fps']:.0f} times a second; "
                   f"{stats['frames']} frames so far.", help="Measured over the last frames")


def follow(sess: LiveSession, playing: bool, place, key: str, seen: int) -> None:
    """The status into `place` once, and while the camera plays, every POLL_S until the
    session's readings move on from version `seen` (the one this run drew): then, at once,
    the page reruns. Call it last in a script run: it keeps the run going (a widget's
    rerun interrupts it at the next status update)."""
    tick = 0
    while True:
        with place.container():  # keys are once a run: the status is `key`, then `key_1`...
            show_status(sess, playing, f"{key}_{tick}" if tick else key)
        tick += 1
        if not playing:
            return
        if sess.wait_change(seen, POLL_S):
            st.rerun()


def rerun_on_change(sess: LiveSession, seen_key: str) -> None:
    """Rerun the page when the session's readings changed since it was last drawn."""
    if st.session_state.get(seen_key) != sess.version:
        st.session_state[seen_key] = sess.version
        st.rerun()
