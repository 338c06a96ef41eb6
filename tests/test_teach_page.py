"""The page "Teach it your face" (views/teach.py) through AppTest: prompts, uploads checked
at once, Teach running `lipread enroll` in the background, a reload finding it, and the
read page's reader switched to the new profile.

Real clips of GRID speaker s26 stand in for a person's takes (their words are not the
prompts': this checks the flow; how well adaptation reads is test_enroll's and the study's).
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import open_page

from lipread.enroll import profiles, prompts

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TEACH = "views/teach.py"
TIMEOUT = 300
TAKES = ["bgbsza", "bwaq8s", "lbbo3n"]


@pytest.fixture
def page_env(grid_dir, tmp_path, monkeypatch, webrtc_in_apptest):
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.setenv("LIPREAD_ENROLL_EPOCHS", "2")
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    return tmp_path


def page_env_data() -> Path:
    import os

    return Path(os.environ["LIPREAD_DATA_DIR"])


def teach_page():
    return open_page(TEACH, TIMEOUT)


def upload(at, i: int, path: Path):
    key = next(u.key for u in at.get("file_uploader") if u.key.split("_")[1] == str(i))
    at.file_uploader(key=key).set_value((path.name, path.read_bytes(), "video/mpeg")).run()
    assert not at.exception, [e.value for e in at.exception]


def prompt_text(at) -> list[str]:
    return [m.value.split("Say: ", 1)[1].strip("*") for m in at.markdown
            if "Say: " in m.value]


def test_prompts_cover_letters_and_digits_evenly():
    from lipread.grid import GRID_SLOTS, grammar_error

    said = prompts.prompts(10)
    assert len(said) == 10 and all(grammar_error(s) is None for s in said)
    letters = [s.split()[3] for s in prompts.prompts(25)]
    assert sorted(letters) == sorted(GRID_SLOTS[3])  # each letter once in 25
    digits = [s.split()[4] for s in said]
    assert sorted(digits) == sorted(GRID_SLOTS[4])  # each digit once in 10
    assert prompts.prompts(10, seed=1) != said


def test_prompts_and_checks(page_env, others_dir, tmp_path):
    at = teach_page()
    assert len(prompt_text(at)) == prompts.N_PROMPTS
    assert prompt_text(at) == prompts.prompts(prompts.N_PROMPTS)
    at.number_input(key="teach_n").set_value(3).run()
    assert prompt_text(at) == prompts.prompts(3)
    assert at.button(key="teach_go").disabled
    at.text_input(key="teach_name").set_value("Not OK").run()
    assert any("use 1-32 of a-z" in e.value for e in at.error)
    # A good take: checked at once, its crops shown.
    upload(at, 0, others_dir / "s26" / f"{TAKES[0]}.mpg")
    assert any("Good take" in s.value for s in at.success)
    assert at.container(key="prompt_0").image[0].captions == ["What the network will see"]
    # A wall, no face: said at once, and it can't be taught on.
    wall = tmp_path / "wall.mp4"
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "color=c=0x9a9080:s=360x288:r=25:d=3", "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", str(wall)], check=True, timeout=120)
    upload(at, 1, wall)
    assert any("Take 2" in w.value and "no face" in w.value for w in at.warning)
    at.text_input(key="teach_name").set_value("dana").run()
    assert at.button(key="teach_go").disabled
    # Re-recorded: the new take replaces the faceless one.
    upload(at, 1, others_dir / "s26" / f"{TAKES[1]}.mpg")
    assert not any("Take 2" in w.value for w in at.warning)
    assert sum("Good take" in s.value for s in at.success) == 2


def test_teach_runs_in_the_background_and_switches_the_reader(page_env, others_dir):
    at = teach_page()
    at.number_input(key="teach_n").set_value(3).run()
    at.text_input(key="teach_name").set_value("dana").run()
    for i, stem in enumerate(TAKES):
        upload(at, i, others_dir / "s26" / f"{stem}.mpg")
    assert not at.button(key="teach_go").disabled
    at.button(key="teach_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # A reload is a new session: it finds the enrollment running (or done).
    again = teach_page()
    assert again.container(key="job_dana") is not None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        at.run()
        if any("Profile **dana** is ready" in s.value for s in at.success) or at.error:
            break
        time.sleep(2)
    assert not at.error, [e.value for e in at.error]
    assert any("Profile **dana** is ready" in s.value for s in at.success)
    assert at.session_state["reader_choice"] == "dana"
    card = profiles.card("dana")  # LIPREAD_PROFILES_DIR is the page's
    # The last take held out of training; the page reads it before and after.
    assert card["trained_on"] == ["take-01", "take-02"] and card["method"] == "full"
    assert card["held_out"]["sentence"] == prompts.prompts(3)[2]
    said = next(s.value for s in at.success if "Profile **dana** is ready" in s.value)
    assert "method full, 2 takes" in said
    assert any(f"after: `{card['held_out']['after']['said']}`" in m.value
               for m in at.markdown)
    assert sorted(p.name for p in (profiles.path("dana") / profiles.RECORDINGS).iterdir()) \
        == sorted(f"take-0{i}{ext}" for i in (1, 2, 3) for ext in (".mpg", ".txt"))
    # The read page now reads with dana's profile.
    at.switch_page("views/read.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="reader").value == "dana"
    assert any("dana's profile" in m.value for m in at.sidebar.markdown)
    from lipread import grid, reading

    clip = at.selectbox(key="clip").value
    person = reading.read(grid.video_path(page_env_data(), clip), profiles.load("dana"))
    assert [int(t) for t in at.code[0].value.split()] == person.tokens
    again.run()
    assert any("Profile **dana** is ready" in s.value for s in again.success)
    assert "reader_choice" not in again.session_state  # another session: its own choice
