"""The page's one change to Streamlit: the Keras session kept between script runs."""
from __future__ import annotations

import contextlib
import sys


def keep_keras_session() -> None:
    """Stop Streamlit clearing the Keras session after every run.

    Streamlit's script runner calls keras.backend.clear_session() when a run ends
    (script_runner._clean_problem_modules, for apps that build models on each run).
    That empties TensorFlow's kernel cache, so the cached network's next call rebuilds
    its kernels: clip switches took 1.0-1.5 s instead of 0.3-0.4 s (AppTest, 5 switches
    each). Streamlit has no public switch for it; an XLA-compiled forward pass survives
    the clean-up but runs the network 1.7x slower on this CPU (164 vs 98 ms), so the
    private hook stays, and tests/test_app.py fails loudly when Streamlit drops it. This
    app builds its network once and only reads it; matplotlib's clean-up is kept.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "keeps_keras", False):
        return

    def clean_but_keep_keras() -> None:
        if "matplotlib.pyplot" in sys.modules:
            with contextlib.suppress(Exception):
                sys.modules["matplotlib.pyplot"].close("all")
    clean_but_keep_keras.keeps_keras = True
    script_runner._clean_problem_modules = clean_but_keep_keras
