"""Which ICE servers WebRTC uses to connect the browser's camera to this server.

On localhost none is needed, and none is contacted: the default is an empty list (where
streamlit-webrtc and aiortc would otherwise ask Google's public STUN server). For a remote
deployment behind NAT, give STUN/TURN servers as JSON, in the environment:

    LIPREAD_ICE_SERVERS='[{"urls": ["turn:turn.example.org:3478"],
                           "username": "u", "credential": "p"}]'

or in Streamlit's secrets (.streamlit/secrets.toml), which the page passes in:

    [[ice_servers]]
    urls = ["turn:turn.example.org:3478"]
    username = "u"
    credential = "p"
"""
from __future__ import annotations

import json
import os

ENV = "LIPREAD_ICE_SERVERS"
SECRET = "ice_servers"
FIELDS = {"urls", "username", "credential"}


class IceError(ValueError):
    """ICE servers given in a form WebRTC can't use."""


def check(servers, origin: str) -> list[dict]:
    """`servers` as a list of {"urls": [...], "username"?, "credential"?} (IceError says
    what is wrong, naming `origin`)."""
    if not isinstance(servers, list):
        raise IceError(f"{origin} must be a list of servers, like "
                       '[{"urls": ["stun:stun.example.org:3478"]}]')
    out = []
    for i, server in enumerate(servers):
        if not isinstance(server, dict) or "urls" not in server:
            raise IceError(f"{origin}: server {i + 1} must be an object with \"urls\"")
        unknown = set(server) - FIELDS
        if unknown:
            raise IceError(f"{origin}: server {i + 1} has unknown keys {sorted(unknown)}; "
                           f"use {sorted(FIELDS)}")
        urls = server["urls"] if isinstance(server["urls"], list) else [server["urls"]]
        for url in urls:
            if not isinstance(url, str) or not url.split(":", 1)[0] in ("stun", "stuns",
                                                                       "turn", "turns"):
                raise IceError(f"{origin}: server {i + 1}: {url!r} is not a stun:, stuns:, "
                               "turn: or turns: URL")
        out.append({k: (urls if k == "urls" else str(v)) for k, v in server.items()})
    return out


def ice_servers(secrets=None) -> list[dict]:
    """The configured servers: $LIPREAD_ICE_SERVERS, else the `ice_servers` secret, else
    none (raises IceError on a malformed setting)."""
    text = os.environ.get(ENV)
    if text:
        try:
            return check(json.loads(text), ENV)
        except json.JSONDecodeError as err:
            raise IceError(f"{ENV} is not valid JSON ({err.msg} at character {err.pos})") from None
    if secrets is not None and SECRET in secrets:
        value = secrets[SECRET]
        if isinstance(value, list):  # Streamlit's secrets: AttrDicts
            value = [dict(s) if hasattr(s, "keys") else s for s in value]
        return check(value, f"the {SECRET} secret")
    return []


def rtc_configuration(secrets=None) -> dict:
    return {"iceServers": ice_servers(secrets)}
