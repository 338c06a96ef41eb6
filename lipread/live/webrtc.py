"""streamlit-webrtc, imported safely beside TensorFlow.

TensorFlow's libraries export OpenSSL-like symbols (BoringSSL); once TensorFlow is loaded,
pylibsrtp (aiortc's SRTP) binds to them and crashes in srtp_init (a segmentation fault that
takes the server down). Loaded with RTLD_DEEPBIND, pylibsrtp keeps its own libcrypto,
whichever was imported first.
"""
from __future__ import annotations

import os
import sys


def streamlit_webrtc():
    """The streamlit_webrtc module (pylibsrtp loaded first with its own symbols)."""
    if "pylibsrtp" not in sys.modules and hasattr(os, "RTLD_DEEPBIND"):
        flags = sys.getdlopenflags()
        sys.setdlopenflags(os.RTLD_NOW | os.RTLD_DEEPBIND)
        try:
            import pylibsrtp  # noqa: F401
        finally:
            sys.setdlopenflags(flags)
    import streamlit_webrtc as module

    return module
