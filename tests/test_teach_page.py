"""The page "Teach it your face" (views/teach.py) through AppTest: prompts, uploads checked
at once, Teach running `lipread enroll` in the background, a reload finding it, and the
read page's reader switched to the new profile.

Real clips of GRID speaker s26 stand in for a person's takes, each uploaded with what it
says (this checks the flow; how well adaptation reads is test_enroll's and the study's).
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
    monkeypatch.setenv("LIPREAD_ENROLL_KEEP_ANYWAY", "1")  # two epochs: kept however it reads
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    return tmp_path


def page_env_data() -> Path:
    import os

    return Path(os.environ["LIPREAD_DATA_DIR"])


VISITOR = "0123456789abcdef0123456789abcdef"  # a browser's token (lipread/app/visitors.py)


def teach_page(visitor: str | None = None):
    return open_page(TEACH, TIMEOUT, visitor)


def upload(at, i: int, path: Path):
    key = next(u.key for u in at.get("file_uploader") if u.key.split("_")[1] == str(i))
    at.file_uploader(key=key).set_value((path.name, path.read_bytes(), "video/mpeg")).run()
    assert not at.exception, [e.value for e in at.exception]


def prompt_text(at) -> list[str]:
    return [m.value.split("Say: ", 1)[1].strip("*") for m in at.markdown
            if "Say: " in m.value]


def test_every_prefix_of_the_prompts_covers_as_many_words_as_it_can():
    from lipread.grid import GRID_SLOTS, GRID_WORDS, grammar_error

    every = prompts.prompts(len(prompts.PROMPTS))
    assert len(set(every)) == len(every) >= prompts.MAX_PROMPTS
    assert all(grammar_error(s) is None for s in every)
    for n in range(1, len(every) + 1):
        said = prompts.prompts(n)
        assert said == every[:n]  # one list: the first n
        words = {w for s in said for w in s.split()}
        best = min(6 * n, 24 + 2 * (n - 4), 36 + (n - 10), len(GRID_WORDS))
        assert len(words) == best, n  # as many of the 51 words as n sentences can hold
        for slot, column in zip(GRID_SLOTS, zip(*(s.split() for s in said))):
            counts = [column.count(w) for w in slot]
            assert max(counts) - min(counts) <= 1, (n, slot)  # each slot's words evenly
    with pytest.raises(ValueError, match="ask for 1 to"):
        prompts.prompts(0)


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


def sentence_of(others_dir: Path, stem: str) -> str:
    from lipread import grid

    return grid.load_sentence(grid.alignment_path(others_dir, f"s26/{stem}"))


def test_an_upload_says_its_own_sentence(page_env, others_dir):
    """An upload's sentence starts as its prompt and can be told; what is not a GRID
    sentence is refused; a new upload starts from the prompt again; the take's file and
    its check carry what it says."""
    at = teach_page()
    at.number_input(key="teach_n").set_value(3).run()
    assert "With 3 sentences, expect about" in at.container(key="teach_expect").info[0].value
    upload(at, 0, others_dir / "s26" / f"{TAKES[0]}.mpg")
    assert at.text_input(key="said_0").value == prompts.prompts(3)[0]
    at.text_input(key="said_0").set_value("Bin blue").run()
    assert any("Take 1" in e.value and "no GRID sentence" in e.value for e in at.error)
    assert not any("Good take" in s.value for s in at.success)
    truth = sentence_of(others_dir, TAKES[0])
    at.text_input(key="said_0").set_value(truth.upper()).run()
    assert not at.error and any("Good take" in s.value for s in at.success)
    assert any(f'saying "{truth}"' in s.value for s in at.success)  # what it says, lowered
    takes = next((page_env / "profiles").rglob("take-01.txt"))
    assert takes.read_text() == truth + "\n"
    upload(at, 0, others_dir / "s26" / f"{TAKES[1]}.mpg")  # another video: the prompt again
    assert at.text_input(key="said_0").value == prompts.prompts(3)[0]


def test_teaching_that_did_not_help_says_so_and_keeps_the_general_reader(page_env):
    """A finished enrollment whose taught reader read the held-out takes no better: the
    page says so, shows the takes, offers no profile."""
    import json

    from lipread.enroll import jobs

    from lipread.app import visitors

    folder = jobs.job_dir("erin")
    folder.mkdir(parents=True)
    (folder / "owner").write_text(visitors.owner(VISITOR))  # this visitor's job
    take = {"name": "take-03", "sentence": "bin blue at f two now",
            "before": {"said": "bin blue at f two now", "word_errors": 0, "words": 6},
            "after": {"said": "bin red at f two now", "word_errors": 1, "words": 6}}
    (folder / "card.json").write_text(json.dumps({
        "name": "erin", "held_out_takes": [take], "held_out": take,
        "verdict": {"takes": 1, "words": 6, "general_errors": 0, "taught_errors": 1,
                    "kept": False}}))
    at = teach_page(VISITOR)
    assert not at.exception, [e.value for e in at.exception]
    said = [w.value for w in at.warning if "Teaching **erin** did not help" in w.value]
    assert len(said) == 1 and "the general reader stays" in said[0]
    assert any("after: `bin red at f two now`" in m.value for m in at.markdown)
    assert not any(b.key == "use_erin" for b in at.button)
    assert "erin" not in profiles.names()


def test_teaching_that_did_not_help_but_whose_statistics_did_says_which_profile_it_made(
        page_env):
    """A finished enrollment whose taught reader failed its check and whose statistics'
    reader passed: a profile, and the page says it is the statistics, and why."""
    import json

    from lipread.app import visitors
    from lipread.enroll import jobs

    folder = jobs.job_dir("fay")
    folder.mkdir(parents=True)
    (folder / "owner").write_text(visitors.owner(VISITOR))
    (folder / "card.json").write_text(json.dumps({
        "name": "fay", "seconds": 12.0, "method": "stats", "trained_on": ["a", "b", "c"],
        "held_out_takes": [], "verdict": {
            "takes": 1, "words": 6, "general_errors": 3, "taught_errors": 2, "kept": True,
            "taught": {"takes": 1, "words": 6, "general_errors": 3, "taught_errors": 4,
                       "kept": False}}}))
    at = teach_page(VISITOR)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Profile **fay** is ready (12 s, method stats, 3 takes)" in s.value
               for s in at.success)
    (said,) = [i.value for i in at.info if "statistics" in i.value]
    assert said.startswith("The taught reader read the 1 held-out take(s) no better than the "
                           "general one (4 of 6 words wrong, against 3), so the profile is ")
    assert "(method stats), which read them better (2 wrong)" in said and said.endswith(".")


def test_teach_runs_in_the_background_and_switches_the_reader(page_env, others_dir):
    at = teach_page()
    at.number_input(key="teach_n").set_value(3).run()
    at.text_input(key="teach_name").set_value("dana").run()
    for i, stem in enumerate(TAKES):
        upload(at, i, others_dir / "s26" / f"{stem}.mpg")
        at.text_input(key=f"said_{i}").set_value(sentence_of(others_dir, stem)).run()
    assert not at.button(key="teach_go").disabled
    at.button(key="teach_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # A reload is a new session of the same browser: it finds the enrollment running (or
    # done); its takes are the job's now, no longer the session's.
    again = teach_page(at.query_params["visitor"])
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
    from lipread.app import visitors

    assert card["owner"] == visitors.owner(at.query_params["visitor"])
    left = [p for p in (page_env / "profiles").rglob("take-*")
            if profiles.RECORDINGS not in p.parts]
    assert left == []  # the takes went when the profile was made (it keeps its copies)
    # The last take held out to check the teaching, read before and after; the check
    # passed, so it was taught too.
    assert card["verdict"]["kept"] and card["trained_again_on_every_take"]
    assert card["trained_on"] == ["take-01", "take-02", "take-03"] and card["method"] == "full"
    assert card["held_out"]["sentence"] == sentence_of(others_dir, TAKES[2])
    assert [c["sentence"] for c in card["clips"]] == [sentence_of(others_dir, t) for t in TAKES]
    said = next(s.value for s in at.success if "Profile **dana** is ready" in s.value)
    assert "method full, 3 takes" in said
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
    tokens = at.container("tokens").markdown[0].value.strip("`").split()
    assert [int(t) for t in tokens] == person.tokens
    again.run()
    assert any("Profile **dana** is ready" in s.value for s in again.success)
    assert "reader_choice" not in again.session_state  # another session: its own choice


def test_what_to_expect_reads_the_measured_curve():
    """Before recording, the page says the s4 curve's words right and the measured time:
    at a measured size exactly, between two sizes in between, never more than measured."""
    from lipread.enroll import expect

    assert expect.words_right(0) == pytest.approx(10 * (1 - expect.CURVE[0]))
    assert expect.words_right(20) == pytest.approx(10 * (1 - expect.CURVE[20]))
    low, high = sorted((expect.words_right(30), expect.words_right(40)))
    assert low <= expect.words_right(35) <= high
    assert expect.words_right(400) == expect.words_right(max(expect.CURVE))
    assert expect.minutes(40) == pytest.approx(
        (expect.SECONDS[40] + expect.EXTRA_S + 40 * expect.PER_TAKE_S) / 60)
    assert expect.minutes(9) < expect.minutes(20) < expect.minutes(40)
    said = expect.what_to_expect(20)
    assert said.startswith(f"With 20 sentences, expect about {expect.words_right(20):.0f} of "
                           "10 words right")
    assert f"against about {expect.words_right(0):.0f} untaught" in said
    assert expect.what_to_expect(1) == (
        "With 1 sentence, expect about 4 of 10 words right on new sentences (no better than "
        "untaught: a few sentences teach the sentences, not the face), and about 1 minute of "
        "teaching on a 2-core computer. Measured on a GRID speaker the reader had never seen.")
    # five sentences: half a word of ten more than untaught (64.4% -> 58.9%), said as a gain
    assert "(against about 4 untaught)" in expect.what_to_expect(5)
    assert "(no better than untaught" in expect.what_to_expect(4)
    for n in (5, 20, 40):  # the minutes, rounded, at least one: "1 minute", "2 minutes"
        whole = max(1, round(expect.minutes(n)))
        assert f"about {whole} minute{'s' if whole > 1 else ''} of teaching" in \
            expect.what_to_expect(n)
