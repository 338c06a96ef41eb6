"""Adaptation's optional settings on real s26 clips and the real network: rehearsal (the
general reader's own clips mixed into each epoch, slowed to the person's tempo) and
weight averaging over the last epochs."""
from __future__ import annotations

import numpy as np
import pytest

from lipread import grid
from experiments import enroll_study as study
from lipread.enroll import adapt, rehearsal
from lipread.model import loader, personal
from lipread.training import dataset


@pytest.fixture(scope="module")
def s26(others_dir):
    names, crops, sentences = study.speaker_clips(others_dir, "s26")
    return crops[:3], sentences[:3]


def test_own_clips_are_training_clips_whose_speech_ends_early(grid_dir):
    crops, sentences = rehearsal.own_clips(grid_dir, count=6)
    assert crops.shape == (6, 75, 54, 148) and crops.dtype == np.uint8
    train = grid.read_names(grid_dir / "splits" / "train.txt")
    test = set(grid.read_names(grid_dir / "splits" / "test.txt"))
    by_sentence = {grid.load_sentence(grid.alignment_path(grid_dir, n)): n for n in train}
    for sentence in sentences:
        name = by_sentence[sentence]  # a training clip's sentence (never the test split's)
        assert name not in test
        ends = [end for _, end, w in grid.load_alignment_segments(
            grid.alignment_path(grid_dir, name)) if w not in dataset.SILENCE_TOKENS]
        assert max(ends) <= rehearsal.LAST_FRAME < 75
    again = rehearsal.own_clips(grid_dir, count=6)[1]
    assert again == sentences  # the same draw for the same seed
    assert rehearsal.own_clips(grid_dir, count=6, seed=1)[1] != sentences


def test_slowed_clips_read_at_their_pace_through_the_persons_tempo():
    clips = np.arange(75)[None, :, None, None] * np.ones((2, 1, 3, 4), np.int64)
    for tempo in adapt.TEMPOS:
        through = adapt.slowed(clips, tempo)[:, personal.tempo_frames(75, tempo)]
        speech = int(75 / tempo)  # the frames the person's network keeps
        # each kept frame within one frame of where it was (rounding twice)
        assert np.abs(through[0, :speech, 0, 0] - np.arange(speech)).max() <= 1
        assert (through[1] == through[0]).all()


def test_an_epoch_mixes_the_rehearsal_clips_in(s26):
    crops, sentences = s26
    own = np.zeros((5, *crops.shape[1:]), np.uint8)
    clips = np.concatenate([crops, own])
    labels = np.arange(len(clips), dtype=np.float32)[:, None]  # each row names its clip
    drawn = []
    for rehearse in (0, 4):
        settings = adapt.Settings(rehearse=rehearse)
        ids = np.concatenate([y[:, 0] for _, y in adapt.epoch_batches(
            clips, labels, np.random.default_rng(0), settings, rehearsal=len(own))])
        drawn.append(ids)
        assert (ids < len(crops)).sum() == adapt.SAMPLES_PER_EPOCH
        assert (ids >= len(crops)).sum() == rehearse
        assert len(set(ids[ids >= len(crops)])) == rehearse  # without repeats
    plain = np.concatenate([y[:, 0] for _, y in adapt.epoch_batches(
        crops, labels[:3], np.random.default_rng(0), adapt.Settings())])
    assert (drawn[0] == plain).all()  # no rehearsal: the epoch as it always was


def test_adapt_rehearses_and_averages_the_last_epochs(s26, grid_dir):
    crops, sentences = s26
    base = loader.load_model("lipnet")
    settings = adapt.Settings(max_epochs=3, tempo=1.2, average_from=2, rehearse=2)
    seen = []
    result = adapt.adapt(crops, sentences, settings, base, log=None,
                         watch=lambda epoch, model: seen.append(model.get_weights()),
                         rehearsal=rehearsal.own_clips(grid_dir, count=4))
    assert result.epochs == 3 and len(seen) == 4
    mean = [(a + b) / 2 for a, b in zip(seen[2], seen[3])]  # epochs 2 and 3
    kept = result.model.get_weights()
    for k, m, last in zip(kept, mean, seen[3]):
        np.testing.assert_allclose(k, m, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(k, last) for k, last in zip(kept, seen[3]))
    # without averaging (nor rehearsal) the last epoch's weights are kept, and they differ
    plain = []
    result = adapt.adapt(crops, sentences, adapt.Settings(max_epochs=1, tempo=1.2), base,
                         log=None, watch=lambda epoch, model: plain.append(model.get_weights()))
    for k, last in zip(result.model.get_weights(), plain[-1]):
        np.testing.assert_array_equal(k, last)
    assert any(not np.allclose(a, b) for a, b in zip(plain[1], seen[1]))  # rehearsal trained


def test_rehearsal_without_the_clips_is_refused(s26):
    crops, sentences = s26
    with pytest.raises(ValueError, match="rehearse=2 needs the general reader's own clips"):
        adapt.adapt(crops, sentences, adapt.Settings(max_epochs=1, tempo=1.2, rehearse=2),
                    loader.load_model("lipnet"), log=None)


def test_many_takes_train_on_at_most_max_samples_clips_few_on_the_methods_epochs():
    full = adapt.methods.get("full")
    assert adapt.default_epochs(full, 4) == adapt.default_epochs(full, 8) == full.epochs
    assert adapt.default_epochs(full, 16) == full.epochs  # 1,280 clips: under the cap
    assert adapt.default_epochs(full, 32) == 64  # 40 takes, 8 held out: 2,048 clips
    for n in (20, 32, 40, 100, 5000):
        epochs = adapt.default_epochs(full, n)
        assert 1 <= epochs <= full.epochs
        assert epochs * n <= adapt.MAX_SAMPLES or epochs == 1


def test_a_cosine_schedule_falls_from_the_rate_to_zero_over_the_run():
    settings = adapt.Settings(lr=1e-3, max_epochs=10, schedule="cosine")
    rate = adapt.learning_rate(settings, 16)  # 16 clips an epoch: 4 batches of 4
    assert float(rate(0)) == pytest.approx(1e-3)
    assert float(rate(20)) == pytest.approx(5e-4, rel=1e-3)  # half way: half the rate
    assert float(rate(40)) == pytest.approx(0.0, abs=1e-9)
    assert adapt.learning_rate(adapt.Settings(lr=2e-4), 16) == 2e-4  # constant: the rate
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        adapt.learning_rate(adapt.Settings(lr=2e-4, schedule="linear"), 16)
