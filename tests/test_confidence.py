"""Confidence per word and per sentence (lipread/confidence.py), on the shipped network's
readings of real clips, and predict's JSON contract: sentence, decoder, confidence,
reliable, words (word, confidence, start_s, end_s)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipread import confidence, face, grid, likeness, video
from experiments import confidence as study

ROOT = Path(__file__).resolve().parents[1]
SURE_CLIP = "lbwy9a"  # a test clip the shipped network reads right, each word clearly
UNSURE_S1_CLIP = "bgau1a"  # a test clip read right, yet unsure (confidence 0.25)
OTHER_FACE = "s26/bgbsza"  # read "set blue at l eight please" for "bin green by s zero again"


def test_margins_are_the_best_path_over_its_best_rival():
    from test_decoding import spell, tight_path

    text = "bin blue at f two now"
    probs = spell(tight_path(text), confidence=0.9)
    found = confidence.margins(probs)
    assert [w for w, *_ in found] == text.split()
    # each word's rival must spend its frames on classes the network gives 0.1/40
    assert all(m > 5.0 for _, m, _, _ in found)
    assert [f for *_, f, _ in found] == sorted(f for *_, f, _ in found)  # in order
    judged = confidence.assess(probs)
    assert judged.sentence == text and judged.reliable is True
    assert [w.word for w in judged.words] == text.split()
    assert judged.confidence == pytest.approx(np.prod([w.confidence for w in judged.words]))
    for w, (_, margin, first, last) in zip(judged.words, found):
        assert 0 <= w.start_s < w.end_s <= 3.0
        # a word starts where its first frame starts and ends where its last frame ends
        assert (w.start_s, w.end_s) == (first / 25, (last + 1) / 25)
        assert w.margin == margin and w.confidence == confidence.word_confidence(margin)


def test_the_json_of_an_assessment_says_each_word_rounded():
    """`lipread predict --json`'s confidence part: the sentence's confidence to 4 places,
    whether it is reliable, and each word with its confidence and times (to 10 ms)."""
    judged = confidence.Assessment("bin blue", 0.123456, False, [
        confidence.Word("bin", 0.987654, 0.123, 0.456, 9.0),
        confidence.Word("blue", 0.5, 0.456, 0.791, 1.0)])
    assert judged.as_json() == {"confidence": 0.1235, "reliable": False, "words": [
        {"word": "bin", "confidence": 0.9877, "start_s": 0.12, "end_s": 0.46},
        {"word": "blue", "confidence": 0.5, "start_s": 0.46, "end_s": 0.79}]}


def test_a_reading_exactly_at_the_threshold_is_reliable(monkeypatch):
    from test_decoding import spell, tight_path

    probs = spell(tight_path("set red by q five again"), confidence=0.6)
    judged = confidence.assess(probs)
    monkeypatch.setattr(confidence, "RELIABLE_AT", judged.confidence)
    assert confidence.assess(probs).reliable
    monkeypatch.setattr(confidence, "RELIABLE_AT", float(np.nextafter(judged.confidence, 1.0)))
    assert not confidence.assess(probs).reliable


def test_word_confidence_grows_with_the_margin():
    values = [confidence.word_confidence(m) for m in (-10, 0, 5, 10, 30)]
    assert values == sorted(values) and 0 < values[0] < 0.5 < values[-1] < 1


def test_fit_recovers_a_known_curve_and_auroc_counts_pairs():
    rng = np.random.default_rng(0)
    margin = rng.uniform(-20, 40, 5000)
    right = rng.random(5000) < 1 / (1 + np.exp(-(0.3 * margin - 1.0)))
    slope, bias = study.fit_logistic(margin, right.astype(float))
    assert slope == pytest.approx(0.3, abs=0.03) and bias == pytest.approx(-1.0, abs=0.2)
    assert study.auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert study.auroc([0.1, 0.8, 0.9], [True, False, False]) == 0.0
    assert study.auroc([0.5, 0.5], [True, False]) == 0.5
    # A candidate curve is evaluated through arguments; the shipped constants stay as they are.
    shipped = (confidence.WORD_SLOPE, confidence.WORD_BIAS)
    clips = [[(m, bool(r)) for m, r in zip(margin[i:i + 6], right[i:i + 6])]
             for i in range(0, 600, 6)]
    fitted = study.report_on(clips, slope, bias, reliable_at=0.3)
    assert fitted["auroc"] == study.report_on(clips)["auroc"]  # both curves rise with margin
    assert fitted["high_words"] != study.report_on(clips)["high_words"]
    assert confidence.word_confidence(10.0, slope, bias) == pytest.approx(
        1 / (1 + np.exp(-(slope * 10.0 + bias))))
    assert (confidence.WORD_SLOPE, confidence.WORD_BIAS) == shipped


def predict_json(grid_dir, others_dir, *clips) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "lipread", "predict", *clips, "--decoder",
                          "grammar", "--data-dir", str(grid_dir), "--json", "-"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)["results"], out.stderr


def test_a_clip_read_right_is_reliable_and_another_face_is_not(grid_dir, others_dir):
    other = str(grid.video_path(others_dir, OTHER_FACE))
    (sure, wrong), stderr = predict_json(grid_dir, others_dir, SURE_CLIP, other)
    truth = grid.load_sentence(grid.alignment_path(grid_dir, SURE_CLIP))
    for r in (sure, wrong):  # the contract, as written
        assert {"sentence", "decoder", "confidence", "reliable", "words"} <= set(r)
        assert 0 <= r["confidence"] <= 1 and isinstance(r["reliable"], bool)
        assert [set(w) for w in r["words"]] == [{"word", "confidence", "start_s", "end_s"}] * 6
        assert " ".join(w["word"] for w in r["words"]) == r["sentence"]
    assert sure["sentence"] == truth and sure["reliable"]
    assert min(w["confidence"] for w in sure["words"]) >= 0.7
    assert np.mean([w["confidence"] for w in sure["words"]]) >= 0.9
    assert wrong["sentence"] != grid.load_sentence(grid.alignment_path(others_dir, OTHER_FACE))
    assert not wrong["reliable"] and wrong["confidence"] < confidence.RELIABLE_AT
    assert f"{other}: unreliable" in stderr and SURE_CLIP + ": unreliable" not in stderr


DAMAGED_S = (1.2, 2.0)  # the span of SURE_CLIP blanked out (grey frames): "with y nine"


def test_a_damaged_middle_gets_low_confidence_on_the_damaged_words(grid_dir, others_dir,
                                                                  tmp_path):
    """SURE_CLIP with 0.8 s of its middle painted grey by ffmpeg: the face is lost there and
    found again where it was after it; the words read there are doubted, the words around
    it are sure where they are right and doubted where they are wrong, and the sentence is
    unreliable."""
    from conftest import ffmpeg_exe

    start, end = DAMAGED_S
    damaged = tmp_path / "damaged.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i",
                    str(grid.video_path(grid_dir, SURE_CLIP)), "-vf",
                    f"drawbox=enable='between(t,{start},{end})':x=0:y=0:w=iw:h=ih:"
                    "color=gray:t=fill", "-c:v", "libx264", "-crf", "18", str(damaged)],
                   check=True, timeout=120)
    source = grid.video_path(grid_dir, SURE_CLIP)
    lost, found = video.read_mouth(damaged).track, video.read_mouth(source).track
    assert abs(lost.lost - (end - start) * video.FPS) <= face.LANDMARK_EVERY  # the grey ones
    after = slice(round(end * video.FPS) + 6, None)  # from the first fit after the grey
    moved = np.abs(lost.mouth_points[after].mean(1) - found.mouth_points[after].mean(1))
    assert moved.max() < 3, moved.max()  # the mouth found again where it is
    (clean, hurt), _ = predict_json(grid_dir, others_dir, SURE_CLIP, str(damaged))
    truth = grid.load_sentence(grid.alignment_path(grid_dir, SURE_CLIP)).split()
    inside = [w for w in hurt["words"] if start <= w["start_s"] < end]
    outside = [(w, said == w["word"]) for w, said in zip(hurt["words"], truth)
               if w["end_s"] <= start or w["start_s"] >= end]
    assert len(inside) >= 2 and len(outside) >= 2 and any(right for _, right in outside)
    assert max(w["confidence"] for w in inside) < 0.7
    for w, right in outside:
        assert (w["confidence"] >= 0.85) == right, (w, right)
    # the clean clip's words are surer where the damage will be
    assert min(w["confidence"] for w in clean["words"]) > max(w["confidence"] for w in inside)
    assert clean["reliable"] and not hurt["reliable"]


@pytest.mark.parametrize("which", ["s1", "s26", "s1-unsure"])
def test_the_read_page_shades_words_and_warns_on_another_face(which, grid_dir, others_dir,
                                                              tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LIPREAD_DATA_DIR", str(grid_dir if which.startswith("s1") else others_dir))
    monkeypatch.setenv("LIPREAD_CACHE_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("LIPREAD_PROFILES_DIR", str(tmp_path / "profiles"))
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    if which == "s1-unsure":
        at.selectbox(key="clip").set_value(UNSURE_S1_CLIP).run()
    assert not at.exception, [e.value for e in at.exception]
    shaded = [m.value for m in at.markdown if m.value.startswith("**How sure**")]
    assert len(shaded) == 1 and shaded[0].count("-background[") == 6
    warned = [w.value for w in at.warning if w.value.startswith("Unreliable")]
    if which == "s1":  # bbaf2n, the picker's first clip: read right but for one letter
        assert not warned
    elif which == "s26":  # s26's first clip, read wrong: a face the reader was not taught
        assert len(warned) == 1 and "this face has not been taught" in warned[0]
        assert "teach it your face" in warned[0]
    else:  # s1's own face, read right, yet unsure: unsure, not an untaught face
        assert len(warned) == 1 and "the reader is unsure of this reading" in warned[0]
        assert "not been taught" not in warned[0]


def test_an_unsure_reading_says_whose_it_is(grid_dir, others_dir):
    """The general reader on s1 (unsure) and on s26 (a face it was not taught), and a
    profile's reading, each say what they are."""
    import lipread

    s1 = lipread.read(grid.video_path(grid_dir, UNSURE_S1_CLIP))
    other = lipread.read(sorted((others_dir / "s26").glob("*.mpg"))[0])
    assert not s1.reliable and not other.reliable
    assert s1.face_likeness >= likeness.LIKE_AT > other.face_likeness
    assert "the reader is unsure" in s1.unsure()
    assert "has not been taught" in other.unsure() and "teach it your face" in other.unsure()
    assert other.unsure("alice").startswith(f"unreliable ({other.confidence:.0%}): alice's")
    assert s1.as_json()["face_likeness"] == round(s1.face_likeness, 3)


# --- lipread evaluate: the test split by default, unreadable clips listed, confidences ----

@pytest.fixture
def folder_with_a_broken_clip(grid_dir, test_names, train_names, tmp_path):
    """Two test clips, one broken one (random bytes named .mpg), one training clip; the
    test split lists the first three."""
    data = tmp_path / "data"
    (data / "s1").mkdir(parents=True)
    (data / "alignments" / "s1").mkdir(parents=True)
    (data / "splits").mkdir()
    good, train = test_names[:2], train_names[0]
    for name in [*good, train]:
        src = grid.video_path(grid_dir, name)
        (data / "s1" / src.name).symlink_to(src)
    broken = "bbbbzz"
    (data / "s1" / f"{broken}.mpg").write_bytes(np.random.default_rng(0).bytes(50_000))
    for name in [*good, train, broken]:
        source = grid.alignment_path(grid_dir, name if name != broken else good[0])
        (data / "alignments" / "s1" / f"{name}.align").write_bytes(source.read_bytes())
    (data / "splits" / "test.txt").write_text("\n".join([*good, broken]) + "\n")
    return data, good, broken, train


def run_evaluate(*args):
    return subprocess.run([sys.executable, "-m", "lipread", "evaluate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_evaluate_reads_the_test_split_and_goes_on_past_a_broken_clip(folder_with_a_broken_clip,
                                                                     tmp_path):
    data, good, broken, train = folder_with_a_broken_clip
    out = tmp_path / "eval.json"
    proc = run_evaluate("--data-dir", data, "--decoder", "grammar", "--json", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["clips"] == 2 and sorted(r["name"] for r in result["per_clip"]) == good
    assert [u["name"] for u in result["unread"]] == [broken]
    assert "not a video" in result["unread"][0]["reason"]
    assert result["names"] == str(data / "splits" / "test.txt")
    assert all(0 <= r["confidence"] <= 1 and isinstance(r["reliable"], bool)
               for r in result["per_clip"])
    notes = [line for line in proc.stderr.splitlines() if line.startswith("lipread evaluate:")]
    assert any("the test split" in n for n in notes)
    assert any(n.startswith(f"lipread evaluate: note: {broken} not read:") for n in notes)
    # --all: the training clip too
    proc = run_evaluate("--data-dir", data, "--all", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["clips"] == 3 and "the test split" not in proc.stderr


def test_evaluate_exits_2_when_no_clip_can_be_read(folder_with_a_broken_clip, tmp_path):
    data, good, broken, train = folder_with_a_broken_clip
    names = tmp_path / "broken.txt"
    names.write_text(broken + "\n")
    proc = run_evaluate("--data-dir", data, "--names", names, "--json", tmp_path / "e.json")
    assert proc.returncode == 2
    (line,) = [l for l in proc.stderr.splitlines() if l.startswith("lipread evaluate:")]
    assert line.startswith("lipread evaluate: error: no clip could be read (1 tried)")
    assert not (tmp_path / "e.json").exists()


def test_evaluate_all_and_names_together_is_one_usage_error(folder_with_a_broken_clip, tmp_path):
    data, *_ = folder_with_a_broken_clip
    names = tmp_path / "names.txt"
    names.write_text("bbbbzz\n")
    proc = run_evaluate("--data-dir", data, "--names", names, "--all", "--json", tmp_path / "e.json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not allowed with argument" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "e.json").exists()
