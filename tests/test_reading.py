"""One reading (lipread/reading.py), directly: a clip file read by `read`, by `read_many` in
batches and from its crops, the same sentence, words and confidence each way; what a
reading says of itself in JSON and when it is unsure; files that cannot be read, each
with its path; and the reader `LIPREAD_WEIGHTS` names.
"""
from __future__ import annotations

import numpy as np
import pytest

from lipread import confidence, decoding, grid, reading, video
from lipread.model import loader


@pytest.fixture(scope="module")
def clips(grid_dir, test_names):
    return [grid.video_path(grid_dir, n) for n in test_names[:3]]


def test_a_clip_reads_the_same_by_file_by_batch_and_by_crops(clips):
    one = reading.read(clips[0])
    assert one.decoder == decoding.DEFAULT == "grammar" and one.start_s == 0.0
    assert one.sentence == confidence.assess(one.probs).sentence
    assert len(one.tokens) == 75 and one.tokens == decoding.raw_tokens(one.probs).tolist()
    assert one.probs.shape == (75, 41) and one.view.crops.shape == (75, 46, 140)
    assert set(one.seconds) >= {"decode", "network"} and one.face_likeness > 0.75
    assert grid.grammar_error(one.sentence) is None
    many = dict(reading.read_many(clips, batch_size=2))
    assert list(many) == clips
    for path in clips:
        alone = reading.read(path)
        assert many[path].sentence == alone.sentence and many[path].tokens == alone.tokens
        assert many[path].confidence == pytest.approx(alone.confidence, abs=1e-4)
        assert [w.word for w in many[path].words] == [w.word for w in alone.words]
        assert many[path].notices == alone.notices and many[path].view is not None
        assert many[path].face_likeness == pytest.approx(alone.face_likeness)
        assert set(many[path].seconds) >= {"network", "decode"}
    crops = reading.read_crops(one.view.crops)
    assert crops.sentence == one.sentence and crops.tokens == one.tokens
    assert crops.face_likeness == pytest.approx(one.face_likeness) and crops.view is None


@pytest.mark.parametrize("decoder", ["greedy", "beam", "grammar"])
def test_each_decoder_gives_its_sentence_and_the_grammars_confidence(clips, decoder):
    probs = reading.read(clips[1]).probs
    got = reading.from_probs(probs, decoder, start_s=1.5, notices=["x"], seconds={"a": 1.0})
    assert got.decoder == decoder and got.start_s == 1.5 and got.notices == ["x"]
    assert got.sentence == (confidence.assess(probs).sentence if decoder == "grammar" else
                            decoding.decode(probs, decoder))
    judged = confidence.assess(probs)
    assert got.confidence == judged.confidence and got.reliable == judged.reliable
    assert [w.word for w in got.words] == [w.word for w in judged.words]
    assert got.seconds["a"] == 1.0 and got.seconds["decode"] >= 0


def test_a_start_later_in_the_video_is_read_from_there(clips):
    later = reading.read(clips[0], start=0.5)
    assert later.start_s == 0.5 and later.view.clip.start == 0.5
    assert later.as_json()["start_s"] == 0.5 and later.view.crops.shape[0] == 75
    assert later.notices == ["the video is 3.0 s long; read 0.5-3 s (the network reads 3 s)"]
    assert reading.read(clips[0]).notices == []


def test_unreadable_files_are_named_and_the_others_still_read(clips, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    missing = tmp_path / "missing.mp4"
    got = list(reading.read_many([junk, clips[0], missing], batch_size=2))
    assert [p for p, _ in got] == [junk, clips[0], missing]  # a batch's errors at once
    results = dict(got)
    assert isinstance(results[junk], video.VideoError) and "junk.mp4" in str(results[junk])
    assert isinstance(results[missing], video.VideoError)
    assert str(missing) in str(results[missing])
    assert results[clips[0]].sentence == reading.read(clips[0]).sentence
    assert [p for p, _ in reading.read_many([junk, missing])] == [junk, missing]
    with pytest.raises(video.VideoError):
        reading.read(junk)


def test_an_os_error_while_looking_becomes_a_video_error_naming_the_path(clips, monkeypatch):
    def denied(path, crop, start):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reading.pipeline, "look", denied)
    (path, err), = reading.read_many(clips[:1])
    assert path == clips[0] and isinstance(err, video.VideoError)
    assert str(err) == f"{clips[0]}: Permission denied"

    def odd(path, crop, start):
        raise OSError("no reason given")

    monkeypatch.setattr(reading.pipeline, "look", odd)
    (_, err), = reading.read_many(clips[:1])
    assert str(err) == f"{clips[0]}: no reason given"


def make(**kw):
    fields = dict(sentence="bin blue at f two now", decoder="grammar", tokens=[40] * 75,
                  confidence=0.123456, reliable=True,
                  words=[confidence.Word("bin", 0.98765, 0.1234, 0.456, 3.0)], start_s=1.234,
                  face_likeness=0.87654, notices=["cut"])
    return reading.Reading(**{**fields, **kw})


def test_a_readings_json_is_rounded_and_carries_every_key():
    assert make().as_json() == {
        "sentence": "bin blue at f two now", "decoder": "grammar", "tokens": [40] * 75,
        "confidence": 0.1235, "reliable": True,
        "words": [{"word": "bin", "confidence": 0.9877, "start_s": 0.12, "end_s": 0.46}],
        "start_s": 1.23, "face_likeness": 0.877, "notices": ["cut"]}
    assert make(face_likeness=None).as_json()["face_likeness"] is None
    text = make().to_json(name="clip", truth="bin blue at f two now")
    import json

    keys = list(json.loads(text))
    assert keys[0] == "name" and keys[-1] == "truth" and text.endswith("}\n")
    assert json.loads(text)["sentence"] == "bin blue at f two now"


def test_an_unsure_reading_says_why_in_words_that_fit_the_reader():
    assert make().unsure() is None and make().unsure("bob") is None
    unsure = make(reliable=False, confidence=0.25)
    assert unsure.unsure("bob") == ("unreliable (25%): bob's profile is unsure of this "
                                    "reading; its words may be wrong")
    assert unsure.unsure() == ("unreliable (25%): the reader is unsure of this reading; its "
                               "words may be wrong")
    stranger = make(reliable=False, confidence=0.25, face_likeness=0.74)
    assert stranger.unsure() == ("unreliable (25%): this face has not been taught (the reader "
                                 "learned GRID's s1), so the reading is likely wrong: teach "
                                 "it your face")
    assert make(reliable=False, confidence=0.25, face_likeness=0.75).unsure() == unsure.unsure()
    assert make(reliable=False, confidence=0.25, face_likeness=None).unsure() == \
        unsure.unsure()
    assert stranger.unsure("bob") == unsure.unsure("bob")


def test_the_reader_is_the_shipped_one_unless_lipread_weights_names_another(monkeypatch,
                                                                           tmp_path):
    reading._loaded.cache_clear()
    monkeypatch.delenv("LIPREAD_WEIGHTS", raising=False)
    shipped = reading.default_reader()
    assert reading.default_reader() is shipped  # loaded once
    other = tmp_path / "other.weights.h5"
    other.write_bytes(loader.DEFAULT_WEIGHTS["lipnet"].read_bytes())
    monkeypatch.setenv("LIPREAD_WEIGHTS", str(other))
    assert reading.default_reader() is not shipped
    monkeypatch.setenv("LIPREAD_WEIGHTS", "")
    assert reading.default_reader() is shipped
    reading._loaded.cache_clear()
    frames = np.zeros((1, 75, 46, 140, 1), np.float32)
    assert reading.pipeline.predict_probs(reading.default_reader(), frames).shape == (1, 75, 41)


def test_an_ensemble_reads_the_mean_of_its_readers_probabilities():
    from lipread import pipeline
    from lipread.model import networks

    rng = np.random.default_rng(0)
    frames = rng.random((3, 75, 46, 140, 1), np.float32)
    one, two = networks.build_lipnet(gru_units=16), networks.build_lipnet(gru_units=16)
    each = [pipeline.predict_probs(r, frames) for r in (one, two)]
    assert not np.allclose(each[0], each[1], atol=1e-3)
    both = pipeline.Ensemble([one, two])
    assert both.runtime == "ensemble" and both.readers == (one, two)
    np.testing.assert_allclose(pipeline.predict_probs(both, frames), (each[0] + each[1]) / 2,
                               atol=1e-6)
    np.testing.assert_allclose(pipeline.predict_probs(pipeline.Ensemble(iter([one])), frames[0]),
                               each[0][:1], atol=1e-6)  # one clip; readers from an iterator


def test_reading_many_goes_on_past_a_batch_of_unreadable_files_and_from_a_start(clips,
                                                                              tmp_path):
    import time

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 5000)
    t0 = time.perf_counter()
    got = dict(reading.read_many([junk, tmp_path / "missing.mp4", clips[0]], batch_size=2,
                                 start=0.5))
    took = time.perf_counter() - t0
    later, alone = got[clips[0]], reading.read(clips[0], start=0.5)
    assert later.sentence == alone.sentence and later.start_s == 0.5
    assert later.notices == alone.notices != []
    assert np.array_equal(later.view.crops, alone.view.crops)
    assert later.view.track is not None  # found by the landmarks, as read() finds it
    assert 0 <= later.seconds["network"] <= took  # its share of the batch's network time


def test_the_clips_of_one_batch_share_its_network_time(clips, monkeypatch):
    """Each reading of a batch carries the batch's network time over its clips (a clock
    that moves 3 s a look: the network's 3 s, shared by three clips, is 1 s each)."""
    ticks = iter(np.arange(0.0, 300.0, 3.0))
    clock = type("Clock", (), {"perf_counter": staticmethod(lambda: float(next(ticks)))})
    monkeypatch.setattr(reading, "time", clock)
    got = dict(reading.read_many(clips, batch_size=3))
    assert [got[p].seconds["network"] for p in clips] == [1.0, 1.0, 1.0]


def test_reading_many_with_the_fixed_window_reads_as_one_read_does(clips):
    got = dict(reading.read_many(clips[:2], crop="fixed", batch_size=2))
    for path in clips[:2]:
        alone = reading.read(path, crop="fixed")
        assert got[path].view.track is None  # the tutorial's window, no landmarks
        assert np.array_equal(got[path].view.crops, alone.view.crops)
        assert got[path].sentence == alone.sentence
