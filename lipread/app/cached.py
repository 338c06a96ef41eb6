"""The read page's steps, cached (st.cache_data): the clip list, the crops of a video and
its reading; shared with the server's start (warm), which runs them for the clip a first
visit shows (first_visit), so that visit finds them done.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import streamlit as st

from lipread import decoding, grid, pipeline, reading, video
from lipread.app import browser, files, pictures, readers
from lipread.app.sources import split_labels


def chosen_speakers(argv=None) -> tuple[str, ...] | None:
    """`streamlit run app.py -- --speakers s1,s26-s31`, else $LIPREAD_SPEAKERS; None: every
    speaker folder present. ValueError says what is wrong with the text."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--speakers")
    known, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    text = known.speakers or os.environ.get("LIPREAD_SPEAKERS")
    return tuple(f"s{n}" for n in grid.parse_speakers(text)) if text else None


@st.cache_data(ttl=30, show_spinner=False)
def clip_list(data_dir: str, speakers: tuple[str, ...] | None) -> list[str]:
    return grid.list_clips(data_dir, speakers)


@st.cache_data(ttl=30, show_spinner=False)
def clip_labels(data_dir: str) -> dict[str, str]:
    return split_labels(data_dir)


@st.cache_data(max_entries=64, show_spinner=False)
def mouth_view(digest: str, crop: str, _path: str, start: float = 0.0) -> dict:
    """The crops, a picture of where the mouth was found, notices, and each step's time."""
    view, seconds = pipeline.look(_path, crop, start)
    frames = view.clip.frames
    picture = (pictures.landmark_picture(frames, view.track) if view.track is not None
               else pictures.window_picture(frames))
    faces = view.track.faces if view.track is not None else 0
    return {"crops": view.crops, "picture": picture, "notices": video.notices(view),
            "faces": faces, "size": frames.shape[1:][::-1], "fps": view.clip.fps,
            "duration": view.clip.duration, "seconds": seconds}


@st.cache_data(max_entries=128, show_spinner=False)
def crop_gif(digest: str, _frames: np.ndarray) -> bytes:
    return pictures.gif_bytes(_frames, scale=pictures.GIF_SCALE)


@st.cache_data(max_entries=128, show_spinner=False)
def read_crops(digest: str, stamp: tuple, decoder: str, start: float, _reader,
               _frames: np.ndarray) -> reading.Reading:
    return reading.read_crops(_frames, _reader, decoder, start)


def view_key(digest: str, crop: str, start: float) -> str:
    """The key a video's crops and readings are cached under."""
    return f"{digest}-{crop}-{start:g}"


def first_clip(clips: list[str], labels: dict[str, str]) -> str | None:
    """The clip a first visit shows: the first speaker's first test clip (else its first)."""
    if not clips:
        return None
    first = grid.speaker_of(clips[0])
    options = [c for c in clips if grid.speaker_of(c) == first]
    return next((c for c in options if labels.get(c) == "test"), options[0])


def first_visit(data_dir: Path) -> None:
    """What the read page does for a first visit, done now (the server's start): the clip
    list, the first clip's crops, its reading with the general reader and the default
    decoder, its picture of the crops and its copy for the browser."""
    clip = first_clip(clip_list(str(data_dir), chosen_speakers()), clip_labels(str(data_dir)))
    if clip is None:
        return
    path = grid.video_path(data_dir, clip)
    digest = files.sha256_file(path)
    crops = mouth_view(digest, video.DEFAULT_CROP, str(path), 0.0)["crops"]
    key = view_key(digest, video.DEFAULT_CROP, 0.0)
    said = read_crops(key, readers.weights(None)[1], decoding.DEFAULT, 0.0,
                      readers.get_reader(None), crops)
    pictures.probability_chart(said.probs)
    crop_gif(key, crops)
    browser.to_browser_mp4(path, digest)


def warm(data_dir: Path) -> list[str]:
    """Everything a first visit would load, loaded now (the server's start, app.py): the
    general reader, the face models (landmarks fitted by dlib's own predictor: a server
    reads many videos, face.use_dlib_predictor), the process videos decode in (feeds.py),
    and the first visit's clip read and shown (first_visit). Returns what could not be
    warmed (the visit then says why); never raises."""
    import importlib

    from lipread import face, feeds

    missed = []
    for module in ("imageio.v3", "pandas", "lipread.enroll.profiles"):
        try:
            importlib.import_module(module)
        except ImportError as err:
            missed.append(f"{module}: {err}")
    steps = {"the reader": lambda: readers.get_reader(None), "the face models": face.prepare,
             "dlib's landmark predictor": face.use_dlib_predictor,  # a server reads many
             "the decoding process": feeds.start_worker,  # (None where it cannot run)
             "the first visit's clip": lambda: first_visit(data_dir)}
    for name, step in steps.items():
        try:
            step()
        except Exception as err:  # noqa: BLE001: the visit loads it again and says why
            missed.append(f"{name}: {err}")
    return missed
