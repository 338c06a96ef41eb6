"""The Streamlit app (app.py) through Streamlit's AppTest, on the real GRID data.

AppTest runs app.py in this process, so the network is built once (st.cache_resource)
for all the tests here. Set LIPREAD_DATA_DIR to use data elsewhere than ../shared/grid.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipread import decoding, grid, pipeline, reading, scoring, video
from conftest import ffmpeg_exe
from lipread.model import loader

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
WEIGHTS = loader.DEFAULT_WEIGHTS["lipnet"]
# A test-split clip (never trained on) that the shipped network reads right.
READ_CLIP = "bbal6n"  # a test-split clip
TIMEOUT = 300  # the first run builds the network; the machine may be busy training


@pytest.fixture
def app_env(grid_dir, tmp_path, monkeypatch):
    """The app's environment: the GRID data, shipped weights, a private video cache."""
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))  # none of the machine's
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    return grid_dir


@pytest.fixture
def weights():
    assert WEIGHTS.is_file(), (f"no shipped weights at {WEIGHTS}: train with lipread train "
                               "and copy runs/lipnet/best.weights.h5 there")
    return WEIGHTS


def run_app(clip: str | None = None, decoder: str | None = None, upload=None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if clip is not None:
        at.selectbox(key="clip").set_value(clip)
    if decoder is not None:
        at.radio(key="decoder").set_value(decoder)
    if upload is not None:
        at.file_uploader(key="upload").set_value(upload)
    if clip or decoder or upload:
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_sentence(at) -> str:
    return at.container("sentence").markdown[0].value.strip("`")


def shown_tokens(at) -> list[int]:
    return [int(t) for t in at.container("tokens").markdown[0].value.strip("`").split()]


def plain(markdown: str) -> str:
    """Markdown without the diff's highlight markup."""
    return re.sub(r":\w+-background\[\*\*(.*?)\*\*\]", r"\1", markdown)


def shown_truth(at) -> str:
    text = plain(at.container("truth").markdown[0].value)
    return text.split(":", 1)[1].strip()


def alerts(at, readings: bool = True) -> list[str]:
    """Errors and warnings shown; without the readings' own "Unreliable" warnings when
    `readings` is False (another face's reading is meant to get one)."""
    return [e.value for kind in ("error", "warning") for e in getattr(at, kind)
            if readings or not e.value.startswith("Unreliable (")]


# --- a data clip -----------------------------------------------------------------

def test_clip_shows_tokens_sentence_truth_and_rates(app_env, weights):
    at = run_app(clip="bbaf2n")
    assert not alerts(at)
    assert [s.key for s in at.selectbox] == ["clip"]  # one speaker: no speaker picker
    tokens = shown_tokens(at)
    assert len(tokens) == video.N_FRAMES and all(0 <= t <= grid.BLANK_ID for t in tokens)
    sentence = shown_sentence(at)
    # What the library reads in this clip (the CLI's pipeline), token for token.
    library = reading.read(grid.video_path(app_env, "bbaf2n"), loader.load_model("lipnet"),
                                    decoder=decoding.DEFAULT)
    assert tokens == library.tokens and sentence == library.sentence
    truth = grid.load_sentence(grid.alignment_path(app_env, "bbaf2n"))
    assert shown_truth(at) == truth == "bin blue at f two now"
    wer, cer = scoring.error_rates([truth], [sentence])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"WER": f"{wer:.1%}", "CER": f"{cer:.1%}"}
    assert len(at.get("vega_lite_chart")) == 1  # the per-frame probabilities
    assert len(at.get("video")) == 1 and len(at.image) == 2  # the video, crops, landmarks
    where = at.container("where").image[0].captions[0]
    assert "Where the mouth was found (360x288, 25 fps)" in where and "faces" not in where
    timings = at.container("timings").caption[0].value
    for step in ("conversion", *pipeline.STAGES):
        assert step in timings


def test_fixed_window_is_a_choice(app_env, weights):
    at = run_app(clip="bbaf2n")
    landmark_tokens = shown_tokens(at)
    at.radio(key="crop").set_value("fixed").run()
    assert not at.exception and not alerts(at)
    assert "fixed window" in at.container("where").image[0].captions[0]
    assert "mouth" in at.container("timings").caption[0].value
    fixed = video.normalize(video.read_mouth(grid.video_path(app_env, "bbaf2n"),
                                                    crop="fixed").crops)
    probs = pipeline.predict_probs(loader.load_model("lipnet"), fixed)[0]
    assert shown_tokens(at) == decoding.raw_tokens(probs).tolist()
    assert len(landmark_tokens) == len(shown_tokens(at)) == video.N_FRAMES


def test_shows_what_the_cli_pipeline_reads(app_env, test_names, weights, shipped_readings):
    at = run_app(clip=READ_CLIP)
    assert shown_sentence(at) == shipped_readings[READ_CLIP]


def test_reads_a_test_clip_right(app_env, grid_dir, test_names, weights, read_right_clip):
    clip, decoder = read_right_clip
    at = run_app(clip=clip, decoder=decoder)
    truth = grid.load_sentence(grid.alignment_path(grid_dir, clip))
    assert shown_sentence(at) == truth
    assert {m.label: m.value for m in at.metric} == {"WER": "0.0%", "CER": "0.0%"}


def test_changing_clip_and_decoder_keeps_the_network(app_env, weights, monkeypatch):
    import keras

    at = run_app(clip="bbaf2n")

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the network was built again")
    monkeypatch.setattr(loader, "load_model", no_rebuild)
    # Streamlit's end-of-run clean-up would clear the Keras session, and with it the
    # traced network (seconds to rebuild a run): the app switches that off.
    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: cleared.append(1))
    at.selectbox(key="clip").set_value("bbal8p").run()
    words = shown_sentence(at).split()  # the default, grammar: always a GRID sentence
    assert len(words) == len(grid.GRID_SLOTS)
    assert all(w in slot for w, slot in zip(words, grid.GRID_SLOTS))
    at.radio(key="decoder").set_value("greedy")
    at.run()
    assert not at.exception and not alerts(at)
    assert not cleared
    assert any("bbal8p" in s.value for s in at.subheader)
    # greedy: the raw tokens shown, repeats merged and blanks dropped
    assert shown_sentence(at) == grid.ids_to_text(decoding.collapse(shown_tokens(at))).strip()


def test_streamlit_still_has_the_hook_the_app_replaces(app_env, weights):
    """keras_session.keep_keras_session replaces a private Streamlit function: if a Streamlit
    release renames it, this fails (the app then only logs a warning and is slower)."""
    from streamlit.runtime.scriptrunner import script_runner

    assert hasattr(script_runner, "_clean_problem_modules"), (
        "Streamlit no longer has script_runner._clean_problem_modules: check whether it "
        "still clears the Keras session after each run, then adapt lipread.app.keras_session")
    run_app(clip="bbaf2n")
    assert getattr(script_runner._clean_problem_modules, "keeps_keras", False)


def test_clip_without_alignment_still_reads(grid_dir, test_names, tmp_path, monkeypatch,
                                            weights):
    data = tmp_path / "data"
    (data / "s1").mkdir(parents=True)
    path = grid.video_path(grid_dir, test_names[1])
    shutil.copy(path, data / "s1" / f"mine{path.suffix}")
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(data))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    at = run_app()
    assert not alerts(at)
    assert any("No alignment" in i.value for i in at.info)
    assert len(shown_tokens(at)) == video.N_FRAMES
    assert not at.metric


# --- several speakers --------------------------------------------------------------

@pytest.fixture
def speakers_env(grid_dir, test_names, tmp_path, monkeypatch):
    """Three speakers (symlinks): three s1 test clips, and ../shared/others' s26 and s31."""
    from test_splits import multi_speaker_corpus

    data = multi_speaker_corpus(tmp_path / "data", grid_dir, test_names[:3])
    monkeypatch.setenv("LIPREAD_DATA_DIR", str(data))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))  # none of the machine's
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    return data


def test_picker_groups_clips_by_speaker(speakers_env, test_names, weights):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="speaker").options == ["s1 (3 clips)", "s26 (10 clips)",
                                                   "s31 (10 clips)"]
    assert at.selectbox(key="clip").value == f"s1/{sorted(test_names[:3])[0]}"
    at.selectbox(key="speaker").set_value("s26").run()
    s26 = [n for n in grid.list_clips(speakers_env) if n.startswith("s26/")]
    assert at.selectbox(key="clip").options == [grid.split_name(n)[1] for n in s26]
    clip = s26[3]
    at.selectbox(key="clip").set_value(clip).run()
    assert not at.exception
    # another face: the one alert is the reading's own warning that it is unreliable
    assert [a[:11] for a in alerts(at)] == ["Unreliable "]
    assert any(clip in s.value for s in at.subheader)
    truth = grid.load_sentence(grid.alignment_path(speakers_env, clip))
    assert shown_truth(at) == truth
    library = reading.read(grid.video_path(speakers_env, clip), loader.load_model("lipnet"),
                                    decoder=decoding.DEFAULT)
    assert shown_tokens(at) == library.tokens and shown_sentence(at) == library.sentence
    assert {m.label for m in at.metric} == {"WER", "CER"}


def test_speakers_flag_narrows_the_picker(speakers_env, weights, monkeypatch):
    """`streamlit run app.py -- --speakers s26-s31` (AppTest runs the script in this
    process, so sys.argv is what Streamlit passes on) and $LIPREAD_SPEAKERS; a bad value
    says so and shows every speaker."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setattr(sys, "argv", ["app.py", "--speakers", "s26-s31"])
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not alerts(at, readings=False)
    assert at.selectbox(key="speaker").options == ["s26 (10 clips)", "s31 (10 clips)"]

    monkeypatch.setattr(sys, "argv", ["app.py"])
    monkeypatch.setenv("LIPREAD_SPEAKERS", "s31")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and not alerts(at, readings=False)
    assert [s.key for s in at.selectbox] == ["clip"]  # one speaker: no speaker picker
    assert len(at.selectbox(key="clip").options) == 10
    assert all(o.startswith("s31/") for o in at.selectbox(key="clip").options)

    monkeypatch.setenv("LIPREAD_SPEAKERS", "s1-s99")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert any("s1-s99" in e.value and "s1 to s34" in e.value for e in at.error)
    assert len(at.selectbox(key="speaker").options) == 3


# --- the picker: train and test clips marked, a test clip first ------------------------

def test_the_picker_marks_train_and_test_clips_and_starts_on_a_test_clip(app_env, weights):
    at = run_app()
    picker = at.selectbox(key="clip")
    test = set(grid.read_names(app_env / "splits" / "test.txt"))
    train = set(grid.read_names(app_env / "splits" / "train.txt"))
    shown = {o.split(" ")[0]: o.split(" ")[1] for o in picker.options}
    assert {n for n, split in shown.items() if split == "(test)"} == test
    assert {n for n, split in shown.items() if split == "(train)"} == train
    assert picker.value in test
    for _ in range(3):  # the button picks among the test clips only
        at.button(key="random_clip").click().run()
        assert at.selectbox(key="clip").value in test
    assert not at.exception


def test_the_downloaded_reading_is_what_predict_writes(app_env, weights, monkeypatch):
    """The page's "Reading (JSON)" has the keys and types of `lipread predict --json`'s
    result for the same clip (and the same reading), plus the truth."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served = {}
    keep = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, data, mimetype, kind, filename=None):
        served[filename] = data
        return keep(self, data, mimetype, kind, filename)
    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    at = run_app(clip=READ_CLIP)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Reading (JSON)", "Mouth crops (GIF)", "Probabilities (CSV)"]
    page = json.loads(served[f"{READ_CLIP}.reading.json"])
    path = grid.video_path(app_env, READ_CLIP)
    proc = subprocess.run([sys.executable, "-m", "lipread", "predict", str(path), "--json", "-"],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    (cli,) = json.loads(proc.stdout)["results"]
    assert page.pop("truth") == grid.load_sentence(grid.alignment_path(app_env, READ_CLIP))
    assert page.pop("name") == READ_CLIP and cli.pop("name") == str(path)
    assert list(page) == list(cli)
    assert {k: type(v) for k, v in page.items()} == {k: type(v) for k, v in cli.items()}
    assert page == cli  # the same reader, the same clip: the same reading
    assert len(page["tokens"]) == video.N_FRAMES and len(page["words"]) == 6
    rows = served[f"{READ_CLIP}.probs.csv"].decode().splitlines()
    assert len(rows) == 1 + video.N_FRAMES and rows[0].endswith("space,blank")


def test_the_probabilities_csv_holds_each_frames_row():
    from lipread.app import downloads

    probs = np.random.default_rng(0).dirichlet(np.ones(41), video.N_FRAMES)
    rows = downloads.probs_csv(probs).decode().splitlines()
    assert len(rows) == 1 + video.N_FRAMES and rows[0].endswith("space,blank")
    assert rows[3].startswith("2,0.08,")
    assert np.allclose([float(v) for v in rows[1].split(",")[2:]], probs[0], atol=1e-5)


# --- uploads -----------------------------------------------------------------------

def has_key(at, key: str) -> bool:
    try:
        at.container(key)
    except KeyError:
        return False
    return True


def test_upload_of_a_real_clip(app_env, weights):
    data = grid.video_path(app_env, "bbaf2n").read_bytes()
    # A name that would escape the temp folder if it were ever used as a path.
    at = run_app(upload=("../../evil name.mpg", data, "video/mpeg"))
    assert not alerts(at)
    assert "What the network read: evil name.mpg" in [s.value for s in at.subheader]
    assert len(shown_tokens(at)) == video.N_FRAMES
    assert any(i.value.startswith("No truth for an upload") for i in at.info)
    assert len(at.get("video")) == 1 and len(at.image) == 2
    assert "Where the mouth was found" in at.container("where").image[0].captions[0]
    assert not at.get("slider")  # 3 s: nothing to choose
    assert any(c.value.startswith("Showing your upload, not the clip") for c in at.sidebar.caption)
    uploaded_sentence = shown_sentence(at)
    # Named like a GRID clip, the upload still has no truth: never a data clip's alignment.
    at = run_app(upload=("bbaf2n.mpg", data, "video/mpeg"))
    assert shown_sentence(at) == uploaded_sentence
    assert not has_key(at, "truth") and not at.metric
    assert any(i.value.startswith("No truth for an upload") for i in at.info)
    # What the user types is its truth, and only that.
    at.text_input(key="upload_truth").set_value("Bin blue at F two NOW.").run()
    assert shown_truth(at) == "bin blue at f two now"
    assert "what you typed" in at.container("truth").markdown[0].value
    assert {m.label for m in at.metric} == {"WER", "CER"}


def test_a_long_upload_is_read_from_the_chosen_start(app_env, weights, tmp_path):
    """Two clips one after the other (6 s): a slider chooses the 3 s read."""

    first, second = (grid.video_path(app_env, c) for c in ("bbaf2n", READ_CLIP))
    joined = tmp_path / "two.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(first), "-i",
                    str(second), "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]",
                    "-map", "[v]", "-c:v", "libx264", "-crf", "18", str(joined)],
                   check=True, timeout=120)
    at = run_app(upload=("two.mp4", joined.read_bytes(), "video/mp4"))
    (slider,) = at.slider
    assert slider.value == 0.0 and slider.max == pytest.approx(3.0)
    at.text_input(key="upload_truth").set_value("bin blue in l six now").run()
    assert shown_sentence(at) != "bin blue in l six now"  # the first clip's 3 s
    slider.set_value(3.0).run()
    assert not at.exception
    assert shown_sentence(at) == "bin blue in l six now"  # READ_CLIP's, as the file reads


def test_random_bytes_upload_gives_a_message(app_env):
    at = run_app(upload=("noise.mp4", os.urandom(64 * 1024), "video/mp4"))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "can't be read" in errors[0]
    # named as the user named it; the private temp copy's path never shows
    assert errors[0].startswith("This video can't be read: noise.mp4:") and "/tmp" not in errors[0]
    assert not at.get("video")


def test_empty_or_missing_data_dir_gives_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    for data in (tmp_path / "empty", tmp_path / "missing"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        monkeypatch.setenv("LIPREAD_DATA_DIR", str(data))
        at = run_app()
        warnings = [w.value for w in at.warning]
        assert len(warnings) == 1 and "No clips found" in warnings[0]
        assert "LIPREAD_DATA_DIR" in warnings[0]
        assert not at.get("video")


def test_missing_or_corrupt_weights_give_a_message(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LIPREAD_WEIGHTS", str(tmp_path / "none.weights.h5"))
    at = run_app()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "No network weights" in errors[0]
    assert "lipread train" in errors[0]
    assert len(at.get("video")) == 1 and len(at.image) == 2  # the rest still works
    assert any("missing" in m.value for m in at.sidebar.markdown)

    (tmp_path / "bad.weights.h5").write_bytes(os.urandom(4096))
    monkeypatch.setenv("LIPREAD_WEIGHTS", str(tmp_path / "bad.weights.h5"))
    at = run_app()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "can't be loaded" in errors[0]
    assert len(at.get("video")) == 1 and not at.get("vega_lite_chart")


def test_the_server_loads_at_its_start_what_a_first_visit_needs(app_env, tmp_path,
                                                                 monkeypatch):
    """app.py's warm-up (a server's start, before its first visitor): the reader, the face
    models, and the clip a first visit shows read and converted for the browser; what
    cannot be loaded is named, and the server still starts (the visit then says what is
    wrong)."""
    import streamlit as st

    from lipread import face
    from lipread.app import cached

    st.cache_data.clear()
    assert cached.warm(app_env) == []
    assert face._models.cache_info().currsize == 1
    assert list((tmp_path / "videos").glob("*.mp4"))  # the first clip, for the browser
    at = run_app()  # the first visit: nothing left to read or convert
    timings = at.container("timings").caption[0].value
    assert "crops (cached)" in timings and "first read: read" in timings, timings
    monkeypatch.setenv("LIPREAD_WEIGHTS", str(tmp_path / "none.weights.h5"))
    missed = cached.warm(tmp_path / "no-data")
    assert len(missed) == 1 and missed[0].startswith("the reader: ")
