"""The readers the pages read with, loaded once per server (st.cache_resource): the general
network, or a person's profile. Every session only reads them."""
from __future__ import annotations

import numpy as np
import streamlit as st

from lipread import decoding, pipeline, video
from lipread.enroll import profiles
from lipread.model import loader


@st.cache_resource(max_entries=2, show_spinner="Loading the network (once per server)…")
def get_model(arch: str, weights: str, stamp: tuple):
    """Loaded (ONNX Runtime for lipnet: no TensorFlow) and warmed up once; afterwards every
    session only reads it."""
    model = loader.load_reader(arch, weights)
    probs = pipeline.predict_probs(model, np.zeros((1, *video.INPUT_SHAPE), np.float32))[0]
    for name in decoding.DECODERS:  # traces the network, builds the grammar graph
        decoding.decode(probs, name)
    return model


@st.cache_resource(max_entries=4, show_spinner="Loading your profile's reader…")
def get_profile_model(name: str, stamp: tuple):
    """A person's reader (lipread enroll), loaded once per profile version."""
    model = profiles.load_reader(name)
    pipeline.predict_probs(model, np.zeros((1, *video.INPUT_SHAPE), np.float32))
    return model
