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
