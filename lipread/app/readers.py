"""The readers the pages read with, chosen by name (lipread.load_reader: None the general
reader, else a profile's name) and loaded once per server and file version
(st.cache_resource). Every session only reads them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from lipread import decoding, pipeline, readers, video
from lipread.app import files


@st.cache_resource(max_entries=4, show_spinner="Loading the reader (once per server)…")
def _loaded(name: str | None, weights: str, stamp: tuple | None):
    """Loaded and warmed up once: the network traced, the decoders' graphs built."""
    reader = readers.load_reader(name if name is not None else weights)
    probs = pipeline.predict_probs(reader, np.zeros((1, *video.INPUT_SHAPE), np.float32))[0]
    for decoder in decoding.DECODERS:
        decoding.decode(probs, decoder)
    return reader


def weights(name: str | None) -> tuple[Path, tuple | None]:
    """The weights file the reader `name` reads with, and its stamp (None: missing)."""
    path = readers.weights_of(name)
    return path, files.file_stamp(path)


def get_reader(name: str | None = None):
    """The reader `name` chooses (None: the general one), loaded once per file version;
    raises OSError or ValueError saying what is wrong."""
    path, stamp = weights(name)
    return _loaded(name, str(path), stamp)


def warm(data_dir: Path) -> list[str]:
    """Everything a first visit would load, loaded now (the server's start, app.py): the
    general reader, the face models (landmarks fitted by dlib's own predictor: a server
    reads many videos, face.use_dlib_predictor), the process videos decode in (feeds.py),
    and one throwaway reading of a clip of `data_dir` (the video decoder's, the decoders'
    and the pictures' first use). Returns what could
    not be warmed (the visit then says why); never raises."""
    import importlib

    from lipread import face, feeds, grid

    missed = []
    for module in ("imageio.v3", "pandas", "lipread.app.pictures", "lipread.enroll.profiles"):
        try:
            importlib.import_module(module)
        except ImportError as err:
            missed.append(f"{module}: {err}")
    steps = {"the reader": lambda: get_reader(None), "the face models": face.prepare,
             "dlib's landmark predictor": face.use_dlib_predictor,  # a server reads many
             "the decoding process": feeds.start_worker,  # (None where it cannot run)
             "a clip": lambda: _look_once(data_dir, grid)}
    for name, step in steps.items():
        try:
            step()
        except Exception as err:  # noqa: BLE001: the visit loads it again and says why
            missed.append(f"{name}: {err}")
    return missed


def _look_once(data_dir: Path, grid) -> None:
    from lipread.app import pictures

    from lipread import reading

    clips = grid.list_clips(data_dir)
    if clips:
        said = reading.read(grid.video_path(data_dir, clips[0]), get_reader(None))
        pictures.gif_bytes(said.view.crops[:2], scale=pictures.GIF_SCALE)
        pictures.landmark_picture(said.view.clip.frames, said.view.track)
        pictures.probability_chart(said.probs)
