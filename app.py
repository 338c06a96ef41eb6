"""LipRead in the browser: `streamlit run app.py`. The pages, one file each in views/:

- Read a video (views/read.py, the first): pick a GRID clip or upload a video, watch it,
  see the mouth crops the network sees, and read its sentence next to the truth;
- Live (views/live.py, /live): read lips from the webcam, as they move or on a button;
- Teach it your face (views/teach.py, /teach): adapt the reader to a person from a few
  clips of them saying GRID sentences.

    LIPREAD_DATA_DIR=../shared/grid streamlit run app.py
    streamlit run app.py -- --speakers s1,s26-s31     # only these speakers' clips

(views/, not pages/: Streamlit lists a pages/ folder by itself, beside st.navigation.)
Optional: LIPREAD_WEIGHTS (another weights file), LIPREAD_CACHE_DIR (converted videos),
LIPREAD_SPEAKERS (as --speakers), LIPREAD_PROFILES_DIR (people's profiles; profiles/),
LIPREAD_SHARE_PROFILES=1 (list the profiles made on the Teach page to every visitor).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

import streamlit as st

sys.dont_write_bytecode = True  # `streamlit run app.py` writes nothing into the project
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lipread.app import keras_session, visitors

APP_NAME = "LipRead"
VIEWS = Path(__file__).resolve().parent / "views"


def main() -> None:
    st.set_page_config(page_title=APP_NAME, page_icon="👄", layout="wide")
    try:
        keras_session.keep_keras_session()
    except (ImportError, AttributeError) as err:  # another Streamlit: slower switches only
        logging.getLogger(APP_NAME).warning("Streamlit's Keras clean-up could not be "
                                            "switched off (%s): clip switches will be slower",
                                            err)
    visitors.token()  # kept in the address: a reload is the same visitor (profiles' owner)
    st.navigation([
        st.Page(VIEWS / "read.py", title="Read a video", icon=":material/movie:",
                default=True),
        st.Page(VIEWS / "live.py", title="Live", icon=":material/videocam:", url_path="live"),
        st.Page(VIEWS / "teach.py", title="Teach it your face", icon=":material/school:",
                url_path="teach"),
    ]).run()


@contextlib.asynccontextmanager
async def warm_up(_app):
    """At the server's start, before it takes its first visitor: what a first visit would
    load, loaded (lipread.app.cached.warm), so that the first reading is as quick as
    the next."""
    from lipread import grid
    from lipread.app import cached

    missed = await asyncio.to_thread(cached.warm, grid.resolve_data_dir())
    for line in missed:
        logging.getLogger(APP_NAME).warning("not loaded at start: %s", line)
    yield


if __name__ == "__main__":  # `streamlit run` and AppTest run this file as __main__
    main()
else:  # `streamlit run app.py` finds this and serves it (uvicorn), warming up first
    app = st.App(__file__, lifespan=warm_up)
