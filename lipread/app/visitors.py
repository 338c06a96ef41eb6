"""Who is visiting: a random token kept in the page's address (?visitor=...), so that a
reload of the same browser is the same visitor, and in the session state, so that a page
switch that drops the address's parameters keeps it. The pages know a visitor by a hash of
the token (profiles.owner_of): the token itself is written nowhere on the server.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import streamlit as st

KEY = "visitor"
TOKEN = re.compile(r"[0-9a-f]{32}")


def token() -> str:
    """This visitor's token: the session's, else the address's, else a new one; kept in
    both."""
    held = st.session_state.get(KEY)
    if not (isinstance(held, str) and TOKEN.fullmatch(held)):
        held = st.query_params.get(KEY)
        if not (isinstance(held, str) and TOKEN.fullmatch(held)):
            held = secrets.token_hex(16)
        st.session_state[KEY] = held
    if st.query_params.get(KEY) != held:
        st.query_params[KEY] = held
    return held


def owner(visitor_token: str | None = None) -> str:
    """The visitor's name as the server records it: a hash of the token, never the token."""
    return hashlib.sha256(f"lipread-visitor:{visitor_token or token()}".encode()).hexdigest()[:32]
