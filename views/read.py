"""The read page (app.py's first): pick or upload a video, watch it, see what the network
sees, and read its sentence next to the truth, with the general reader or a person's.

    LIPREAD_DATA_DIR=data streamlit run app.py
    streamlit run app.py -- --speakers s1,s26-s31     # only these speakers' clips

UI only: what is read comes from the package `lipread` (the pipeline in
lipread/reading.py, the widgets and media in lipread/app/).
Optional: LIPREAD_WEIGHTS (another weights file), LIPREAD_CACHE_DIR (converted videos),
LIPREAD_SPEAKERS (as --speakers; default: every speaker folder present).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from lipread import formats, grid, reading, video
from lipread.app import (browser, cached, downloads, files, pictures, readers, stopwatch,
                         visitors, widgets)
from lipread.app.sources import Source, typed_truth, upload_label
from lipread.enroll import profiles

APP_NAME = "LipRead"
ARCH = widgets.ARCH
MAX_UPLOAD_MB = widgets.MAX_UPLOAD_MB


# --- sidebar: each piece returns the user's choice -----------------------------------

# --- main area ----------------------------------------------------------------------

def choose_source(data_dir: Path, clip: str | None, uploaded, said: str) -> Source | None:
    if uploaded is not None:
        data = uploaded.getvalue()
        if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
            st.error(f"The upload is {len(data) / 2**20:.0f} MB; the limit is "
                     f"{MAX_UPLOAD_MB} MB. Trim the video to a few seconds and try again.")
            return None
        if not data:
            st.error("The upload is empty. Choose a video file (mp4, mpg, mov, …).")
            return None
        return Source(upload_label(uploaded.name), files.sha256_bytes(data), None, data=data,
                      suffix=files.safe_suffix(uploaded.name), typed_truth=typed_truth(said))
    if clip is None:
        st.warning(f"No clips found in `{grid.video_dir(data_dir)}` (data directory "
                   f"`{data_dir}`). Set `LIPREAD_DATA_DIR` to a GRID folder holding `s1/` "
                   "videos and `alignments/s1/`, then reload; or upload a video.")
        return None
    try:
        path = grid.video_path(data_dir, clip)
        return Source(clip, files.sha256_file(path), clip, path=path)
    except (video.VideoError, OSError) as err:
        st.error(f"Clip {clip} can't be opened ({err}). Pick another one.")
        return None


def load_network(weights: Path, stamp: tuple | None, clock: stopwatch.Stopwatch,
                 profile: str | None = None):
    meanwhile = "Meanwhile the video and the mouth crop still show."
    if profile is not None:
        try:
            with clock.step("model"):
                return readers.get_reader(profile)
        except (OSError, ValueError) as err:
            st.error(f"The profile {profile} can't be loaded: {profiles.page_reason(err)}. "
                     f"Choose the general reader, or teach {profile} again. {meanwhile}")
            return None
    if stamp is None:
        st.error(f"No network weights at `{weights}`. Train them with `lipread train` "
                 "and copy `runs/lipnet/best.weights.h5` there, or put the released "
                 f"`{weights.name}` there; then reload. {meanwhile}")
        return None
    try:
        with clock.step("model"):
            return readers.get_reader(None)
    except Exception as err:  # noqa: BLE001: partial, corrupt or mismatched weights
        st.error(f"The network weights can't be loaded: {err}. Replace `{weights}` with "
                 f"weights trained by `lipread train`; then reload. {meanwhile}")
        return None


def start_key(source: Source) -> str:
    return f"start_{source.digest[:16]}"


def read_view(source: Source, path: Path, crop: str, clock: stopwatch.Stopwatch,
              start: float = 0.0) -> dict | None:
    """The cached crops of the video; each step's time goes on the clock when it ran now."""
    begun = time.perf_counter()
    try:
        view = cached.mouth_view(source.digest, crop, str(path), start)
    except Exception as err:  # noqa: BLE001: any undecodable input gets a message
        reason = formats.without_advice(str(err).replace(str(path), source.label))
        st.error(f"This video can't be read: {reason}. Try another file: a video (mp4, mpg, "
                 f"mov, avi, mkv, webm) of at least 2 s showing one frontal face.")
        return None
    spent = time.perf_counter() - begun
    if spent >= 0.5 * sum(view["seconds"].values()):
        clock.steps.update(view["seconds"])
    else:  # read on an earlier run: say what it cost then
        clock.steps["crops (cached)"] = spent
        clock.note("first read: " + ", ".join(f"{k} {v:.2f} s" for k, v in view["seconds"].items()))
    for notice in view["notices"]:
        st.info(f"Note: {notice}.")
    return view


def show_clip(source: Source, path: Path, weights: Path, stamp, decoder: str, crop: str,
              data_dir: Path, clock: stopwatch.Stopwatch, profile: str | None = None) -> None:
    start = float(st.session_state.get(start_key(source), 0.0))
    view = read_view(source, path, crop, clock, start)
    if view is None:
        return
    frames, key = view["crops"], cached.view_key(source.digest, crop, start)
    model = load_network(weights, stamp, clock, profile)
    left, right = st.columns(2, gap="large")
    said = None
    with right:
        st.subheader(f"What the network read: {source.label}")
        if model is not None:
            with clock.step("network"):
                said = cached.read_crops(key, stamp, decoder, start, model, frames)
            clock.steps["decode"] = said.seconds.get("decode", 0.0)  # within the reading
            typed = source.upload and source.typed_truth is not None
            truth = (source.typed_truth if typed else
                     widgets.load_truth(data_dir, source.truth_name, source.upload))
            widgets.show_reading(said, truth, clock,
                                 "what you typed" if typed else "the alignment", profile)
            show_downloads(source, said, truth, cached.crop_gif(key, frames))
    if said is not None:
        st.subheader("The network's output over the 75 frames")
        st.caption("Each frame's probability of each token (only tokens that reach 2%); "
                   "hover for values. Bright cells show when each letter was read.")
        data, spec = pictures.probability_chart(said.probs)
        st.vega_lite_chart(data, spec, width="stretch")
    with left:
        st.subheader("The video")
        choose_start(source, view["duration"])
        try:
            with clock.step("conversion"):
                mp4, _ = browser.to_browser_mp4(path, source.digest)
            st.video(str(mp4))
        except Exception as err:  # noqa: BLE001: no ffmpeg, a full disk, a video it rejects
            st.error(f"The video can't be shown in the browser: {err}. "
                     "The reading above doesn't depend on it.")
        st.subheader("What the network sees")
        with st.container(key="crops"):
            st.image(cached.crop_gif(key, frames), width=video.CROP_W * pictures.GIF_SCALE,
                     caption=f"The {len(frames)} mouth crops ({video.CROP_W}x{video.CROP_H}, "
                             f"grayscale, shown {pictures.GIF_SCALE}x) fed to the network, "
                             "looping at 25 fps")
        widgets.show_where(view, crop)


def choose_start(source: Source, duration: float) -> None:
    """For a video longer than the 3 s read: where the 3 s begin (a rerun reads them)."""
    latest = round(duration - video.N_FRAMES / video.FPS, 1)
    if latest < 0.1:
        return
    st.slider("Read 3 s from (seconds into the video)", 0.0, latest, step=0.1,
              key=start_key(source), format="%.1f s",
              help="The network reads 3 s; choose the 3 s where the sentence is said")


def show_downloads(source: Source, said: reading.Reading, truth: str | None,
                   gif: bytes) -> None:
    """The reading (JSON), the crop GIF and the per-frame probabilities (CSV)."""
    stem = os.path.splitext(source.label)[0] if source.upload else source.label
    stem = stem.replace("/", "-")
    json_col, gif_col, csv_col = st.columns(3)
    json_col.download_button(
        "Reading (JSON)", downloads.reading_json(source.label, said, truth),
        file_name=f"{stem}.reading.json", mime="application/json", key="download_json",
        help="The sentence, each word's confidence and time, as `lipread predict --json`")
    gif_col.download_button("Mouth crops (GIF)", gif, file_name=f"{stem}.crops.gif",
                            mime="image/gif", key="download_gif")
    csv_col.download_button("Probabilities (CSV)", downloads.probs_csv(said.probs),
                            file_name=f"{stem}.probs.csv", mime="text/csv", key="download_csv",
                            help="Each frame's probability of each of the 41 tokens")


def read_page() -> None:
    """The file view: a clip or an upload, read."""
    clock = stopwatch.Stopwatch()
    data_dir = grid.resolve_data_dir()
    try:
        speakers = cached.chosen_speakers()
    except ValueError as err:
        st.error(f"--speakers / LIPREAD_SPEAKERS: {err}. Every speaker folder is shown.")
        speakers = None
    clips = cached.clip_list(str(data_dir), speakers)
    with st.sidebar:
        st.title(APP_NAME)
        st.caption("Reads a GRID sentence from the lips alone, with a LipNet network.")
        clip = widgets.pick_clip(data_dir, clips, cached.clip_labels(str(data_dir)))
        uploaded, said = widgets.upload_box()
        crop = widgets.pick_crop()
        decoder = widgets.pick_decoder()
        profile = widgets.pick_reader(profiles.visible(visitors.owner()))
        weights, stamp = readers.weights(profile)
        widgets.model_panel(weights, stamp, profile)
    source = choose_source(data_dir, clip, uploaded, said)
    if source is None:
        return
    with source.file() as path:
        show_clip(source, path, weights, stamp, decoder, crop, data_dir, clock, profile)
    clock.mark("page complete")
    widgets.show_timings(clock)


read_page()
