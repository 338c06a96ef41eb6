"""The Live page (views/live.py) through AppTest, without a camera: what a person sees
before pressing START, the button mode, and a WebRTC setting that is wrong. (The camera
itself: test_live_browser.py, a real Chromium with a fake camera.)"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import open_page

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
LIVE = "views/live.py"
TIMEOUT = 300


@pytest.fixture
def page_env(grid_dir, tmp_path, monkeypatch, webrtc_in_apptest):
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    monkeypatch.delenv("LIPREAD_ICE_SERVERS", raising=False)
    return tmp_path


def live_page():
    return open_page(LIVE, TIMEOUT)


def test_before_start_the_page_says_what_to_do(page_env):
    at = live_page()
    assert at.title[0].value == "Live"
    (info,) = at.info
    assert info.value.startswith("Press START and allow the camera.")
    assert "NotAllowedError" in info.value and "NotFoundError" in info.value
    assert at.radio(key="live_mode").value == "when the lips move"
    assert at.radio(key="live_decoder").value == "grammar"  # the sentence is always GRID's
    assert "None yet." in [c.value for c in at.caption]
    assert not at.error
    # automatic: no button to press
    assert not [b for b in at.button if b.key == "live_button"]


def test_on_the_button_mode_the_button_waits_for_the_camera(page_env):
    at = live_page()
    at.radio(key="live_mode").set_value("on the button").run()
    assert not at.exception
    button = at.button(key="live_button")
    assert button.label == "Read the next 3 s" and button.disabled  # no camera yet


def test_a_malformed_ice_setting_is_said_and_nothing_outside_is_used(page_env, monkeypatch):
    monkeypatch.setenv("LIPREAD_ICE_SERVERS", "[{not json")
    at = live_page()
    (error,) = at.error
    assert "WebRTC servers are misconfigured" in error.value
    assert "LIPREAD_ICE_SERVERS is not valid JSON" in error.value
