"""The parts of teaching a face that are arithmetic and batches (enroll/adapt.py) and the
methods' registry (enroll/methods.py), directly and quickly: how many epochs and clips a
teaching runs for, when early stopping stops, an epoch's batches, a slowed clip, the
labels; each method's layers that learn, and a network built for it that starts as the
general reader.
"""
from __future__ import annotations

import numpy as np
import pytest

from lipread import grid
from lipread.enroll import adapt, methods


def test_an_epoch_is_eight_clips_or_every_clip_when_there_are_more():
    assert adapt.per_epoch(adapt.Settings(), 3) == 8
    assert adapt.per_epoch(adapt.Settings(), 8) == 8
    assert adapt.per_epoch(adapt.Settings(), 9) == 9
    assert adapt.per_epoch(adapt.Settings(rehearse=4), 20) == 24


def test_a_methods_epochs_are_cut_where_they_would_train_on_over_2048_clips():
    full = methods.get("full")  # 80 epochs
    assert adapt.default_epochs(full, 9) == 80  # 80 x 9 = 720 clips
    assert adapt.default_epochs(full, 25) == 80  # 2000
    assert adapt.default_epochs(full, 26) == 78  # 2048 // 26
    assert adapt.default_epochs(full, 40) == 51
    assert adapt.default_epochs(full, 5000) == 1  # never none
    assert adapt.default_epochs(methods.get("frontend"), 5) == 40  # 2048 // 8 = 256 > 40


def test_a_runs_clips_are_its_epochs_times_an_epochs_clips():
    assert adapt.samples(adapt.Settings(), 9) == 80 * 9
    assert adapt.samples(adapt.Settings(), 40) == 51 * 40
    assert adapt.samples(adapt.Settings(max_epochs=3), 40) == 3 * 40
    assert adapt.samples(adapt.Settings(method="batchnorm"), 5) == 40 * 8
    assert adapt.samples(adapt.Settings(max_epochs=2, rehearse=4), 5) == 2 * 12


@pytest.mark.parametrize("losses, patience, kept", [
    ([5.0, 4.0, 3.0, 2.0], 1, 3),
    ([5.0, 4.0, 4.5, 4.6, 1.0], 1, 1),  # two epochs without a lower loss: stopped
    ([5.0, 4.0, 4.5, 4.6, 1.0], 2, 1),
    ([5.0, 4.0, 4.5, 4.6, 1.0], 3, 4),
    ([5.0, 6.0, 7.0], 5, 0),  # the general reader was best
    ([5.0, 5.0, 4.0], 5, 2),  # equal is no better
    ([5.0, 4.0, 4.0], 5, 1),
    ([3.0], 0, 0),
    ([5.0, 6.0, 4.0], 0, 0),
])
def test_early_stopping_keeps_the_lowest_held_out_loss_before_patience_runs_out(
        losses, patience, kept):
    assert adapt.stop_epoch(losses, patience) == kept


def test_the_learning_rate_is_constant_or_a_cosine_over_every_step():
    assert adapt.learning_rate(adapt.Settings(lr=2e-4), 9) == 2e-4
    cosine = adapt.learning_rate(adapt.Settings(lr=1e-3, schedule="cosine", max_epochs=10), 9)
    steps = 3 * 10  # ceil(9 clips / batches of 4) a step each epoch
    assert float(cosine(0)) == pytest.approx(1e-3)
    assert float(cosine(steps // 2)) == pytest.approx(5e-4, rel=1e-3)
    assert float(cosine(steps)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="^unknown schedule 'linear': constant or cosine$"):
        adapt.learning_rate(adapt.Settings(lr=1e-3, schedule="linear"), 9)


def test_a_slowed_clip_holds_each_frame_longer():
    clips = np.arange(2 * 10).reshape(2, 10)
    assert adapt.slowed(clips, 1.0).tolist() == clips.tolist()
    assert adapt.slowed(clips, 2.0)[0].tolist() == [0, 0, 1, 2, 2, 2, 3, 4, 4, 4]
    assert adapt.slowed(clips, 1.25)[1].tolist() == [10, 11, 12, 12, 13, 14, 15, 16, 16, 17]
    assert adapt.slowed(clips, 0.5)[0].tolist() == [0, 2, 4, 6, 8, 9, 9, 9, 9, 9]


def test_sentences_become_padded_label_rows():
    labels = adapt.labels_of(["bin blue at f two now", "set red by a one soon"])
    assert labels.dtype == np.float32 and labels.shape[0] == 2
    ids = grid.text_to_ids("bin blue at f two now")
    assert labels[0, :len(ids)].tolist() == ids and not labels[0, len(ids):].any()


def clips_of(n, t=75):
    return [np.full((t, 54, 148), 10 * (i + 1), np.uint8) for i in range(n)]


@pytest.fixture
def marked(monkeypatch):
    """augment() replaced by one that keeps each clip's mark (its first pixel): which clip
    went into which batch row is seen; what augment does is test_batches.py's."""
    from lipread.training import batches

    def augment(clip, words, rng, masks, warp):
        assert masks == adapt.TIME_MASKS and not words.any() and len(words) == len(clip)
        return np.full((75, 46, 140, 1), float(clip[0, 0, 0]), np.float32), words

    monkeypatch.setattr(batches, "augment", augment)


def test_an_epoch_draws_every_clip_before_any_again_in_batches(marked):
    clips, labels = clips_of(3), np.arange(3)[:, None].astype(np.float32)
    batches = list(adapt.epoch_batches(clips, labels, np.random.default_rng(0),
                                       adapt.Settings(batch_size=3)))
    assert [len(x) for x, _ in batches] == [3, 3, 2]  # 8 clips an epoch, in threes
    drawn = [int(v) for _, y in batches for v in y[:, 0]]
    assert sorted(drawn[:3]) == [0, 1, 2] and sorted(drawn[3:6]) == [0, 1, 2]
    for x, y in batches:  # each row: its clip, with that clip's label
        assert x.dtype == np.float32 and x.shape[1:] == (75, 46, 140, 1)
        assert x[:, 0, 0, 0, 0].tolist() == [10.0 * (k + 1) for k in y[:, 0]]
    many = list(adapt.epoch_batches(clips_of(10), np.arange(10)[:, None].astype(np.float32),
                                    np.random.default_rng(1), adapt.Settings()))
    assert sorted(int(v) for _, y in many for v in y[:, 0]) == list(range(10))
    assert [len(x) for x, _ in many] == [4, 4, 2]
    other = [int(v) for _, y in adapt.epoch_batches(
        clips_of(10), np.arange(10)[:, None].astype(np.float32), np.random.default_rng(2),
        adapt.Settings()) for v in y[:, 0]]
    assert other != [int(v) for _, y in many for v in y[:, 0]]  # a fresh order each time


def test_rehearsal_clips_are_drawn_after_the_persons_and_mixed_in(marked):
    clips = clips_of(5)  # 3 of the person's, then 2 rehearsal clips
    labels = np.arange(5)[:, None].astype(np.float32)
    drawn = [int(v) for _, y in adapt.epoch_batches(
        clips, labels, np.random.default_rng(2), adapt.Settings(rehearse=2), rehearsal=2)
        for v in y[:, 0]]
    assert len(drawn) == 10 and sorted(drawn).count(3) == 1 and sorted(drawn).count(4) == 1
    assert all(drawn.count(k) in (2, 3) for k in range(3))  # 8 of the person's three
    none = [int(v) for _, y in adapt.epoch_batches(
        clips, labels, np.random.default_rng(2), adapt.Settings(), rehearsal=2)
        for v in y[:, 0]]
    assert len(none) == 8 and max(none) <= 2  # rehearse 0: none drawn


def test_the_methods_are_listed_with_what_each_trains():
    assert list(methods.REGISTRY) == ["full", "body", "frontend", "batchnorm", "adapters",
                                      "prompt", "tempo", "stats"]
    said = methods.describe()
    assert said.startswith("full: every weight fine-tuned") and "; body: every weight but" in said
    assert all(f"{m.name}: {m.doc}" in said for m in methods.REGISTRY.values())
    assert methods.get("body").name == "body"
    with pytest.raises(ValueError) as err:
        methods.get("all")
    assert str(err.value) == ("unknown adaptation method 'all': choose one of full, body, "
                              "frontend, batchnorm, adapters, prompt, tempo, stats")


@pytest.mark.parametrize("name, learns, frozen", [
    ("full", ["conv3d", "bn1", "chars", "prompt"], []),
    ("body", ["conv3d", "bigru1"], ["chars"]),
    ("frontend", ["conv1", "bn2"], ["bigru1", "chars", "adapter1"]),
    ("batchnorm", ["bn1", "bn3"], ["conv1", "chars"]),
    ("adapters", ["adapter2", "bn1"], ["conv1", "chars"]),
    ("prompt", ["prompt"], ["conv1", "bn1", "chars"]),
    ("tempo", [], ["conv1", "bn1", "chars", "prompt"]),
    ("stats", [], ["conv1", "bn1", "bn3", "chars"]),
])
def test_each_method_trains_its_layers_only(name, learns, frozen):
    method = methods.get(name)
    assert all(method.learns(layer) for layer in learns)
    assert not any(method.learns(layer) for layer in frozen)
    assert method.adapters == (name == "adapters") and method.prompt == (name == "prompt")
    assert method.statistics == (name == "stats")
    assert (method.lr, method.epochs) == {"full": (2e-4, 80), "body": (2e-4, 80),
                                          "batchnorm": (3e-3, 40), "prompt": (3e-2, 40)}.get(
        name, (1e-3, 40))


@pytest.fixture(scope="module")
def base():
    from lipread.model import loader

    return loader.load_model("lipnet")


@pytest.mark.parametrize("name", ["body", "adapters"])
def test_a_network_built_for_a_method_starts_as_the_general_reader(base, name):
    model = methods.build(methods.get(name), base)
    frames = np.random.default_rng(0).random((1, 75, 46, 140, 1), np.float32)
    assert np.abs(np.asarray(model(frames)) - np.asarray(base(frames))).max() < 1e-5
    trainable = {layer.name for layer in model.layers if layer.trainable}
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert trainable == {n for n in weighted if methods.get(name).learns(n)}
    assert "chars" not in trainable and ("conv1" in trainable) == (name == "body")
    assert all(layer.trainable for layer in base.layers if layer.weights)  # base untouched


def test_a_tempo_takes_each_output_frame_from_its_instant_and_holds_the_last():
    from lipread.model import personal

    assert personal.tempo_frames(6, 1.0).tolist() == [0, 1, 2, 3, 4, 5]
    assert personal.tempo_frames(6, 1.5).tolist() == [0, 2, 3, 4, 5, 5]  # round half even
    assert personal.tempo_frames(6, 0.5).tolist() == [0, 0, 1, 2, 2, 2]
    assert personal.tempo_frames(5, 2.0).dtype == np.int32


def test_a_persons_layers_start_as_the_identity_and_keep_their_settings():
    import keras

    from lipread.model import personal

    x = np.arange(2 * 6 * 3 * 4 * 1, dtype=np.float32).reshape(2, 6, 3, 4, 1)
    tempo = personal.Tempo(1.5)
    assert np.array_equal(np.asarray(tempo(x)), x[:, [0, 2, 3, 4, 5, 5]])
    again = keras.layers.deserialize(keras.layers.serialize(tempo))
    assert isinstance(again, personal.Tempo) and again.factor == 1.5
    assert np.array_equal(np.asarray(personal.Tempo()(x)), x)
    prompt = personal.InputPrompt()
    assert np.array_equal(np.asarray(prompt(x)), x)  # zero at the start
    assert tuple(prompt.image.shape) == (3, 4, 1)
    prompt.image.assign(np.ones((3, 4, 1), np.float32))
    assert np.array_equal(np.asarray(prompt(x)), x + 1)


# --- a whole adaptation, on a small network (GRUs of 16 units) ----------------------------

@pytest.fixture(scope="module")
def small():
    """A small general reader and four takes (uint8 crops with margin) with sentences."""
    from lipread.model import networks
    from lipread.training.cropstore import MARGIN

    base = networks.build_lipnet(gru_units=16)
    rng = np.random.default_rng(0)
    takes = rng.integers(0, 255, (4, 75, 46 + 2 * MARGIN, 140 + 2 * MARGIN), dtype=np.uint8)
    sentences = ["bin blue at f two now", "lay red by g one please",
                 "set white in a nine again", "place green with b four soon"]
    return base, takes, sentences


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def test_adapting_trains_a_copy_reads_the_held_out_take_each_epoch_and_keeps_its_best(small):
    from lipread.enroll import choose

    base, takes, sentences = small
    before = _weights(base)
    said, seen, lines = [], [], []
    result = adapt.adapt(takes[:3], sentences[:3],
                         adapt.Settings(max_epochs=3, patience=1, tempo=1.0, lr=3e-3), base,
                         held=(takes[3], sentences[3]), log=lines.append,
                         progress=lambda e, n: said.append((e, n)),
                         watch=lambda e, model: seen.append((e, model)))
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(base)))  # base untouched
    assert result.model is not base and all(m is result.model for _, m in seen)
    assert [e for e, _ in seen] == list(range(result.epochs + 1))
    assert said == [(e, 3) for e in range(1, result.epochs + 1)]
    assert len(result.held_losses) == result.epochs + 1  # epoch 0, the general reader's, first
    assert result.best_epoch == adapt.stop_epoch(result.held_losses, 1)
    stopped = result.epochs < 3
    assert not stopped or result.epochs - result.best_epoch == 1  # patience ran out
    # the weights kept are the best epoch's: they read the held-out take at its loss
    assert choose.held_loss(result.model, takes[3], sentences[3]) == pytest.approx(
        result.held_losses[result.best_epoch], rel=1e-3, abs=1e-3)
    assert (result.settings.lr, result.settings.max_epochs, result.tempo) == (3e-3, 3, 1.0)
    assert result.seconds > 0
    (line,) = lines
    assert line.startswith(f"adapted (full, lr 0.003, tempo 1) on 3 clip(s): best epoch "
                           f"{result.best_epoch} of {result.epochs}, ")


def test_an_epoch_that_reads_the_held_out_take_worse_is_undone(small):
    """Early stopping keeps the best epoch's weights: after epoch 1 the network is spoilt
    (every weight zero, by the watcher), epoch 2 reads the held-out take far worse, and
    patience 1 stops there with epoch 1's weights."""
    base, takes, sentences = small
    kept = {}

    def spoil(epoch, model):
        kept[epoch] = _weights(model)
        if epoch == 1:
            model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    result = adapt.adapt(takes[:3], sentences[:3],
                         adapt.Settings(max_epochs=4, patience=1, tempo=1.0, lr=3e-3), base,
                         held=(takes[3], sentences[3]), log=None, watch=spoil)
    assert (result.best_epoch, result.epochs) == (1, 2)
    assert result.held_losses[2] > result.held_losses[1]
    assert all(np.array_equal(a, b) for a, b in zip(result.model.get_weights(), kept[1]))


def test_without_early_stopping_every_epoch_runs_and_the_last_or_averaged_weights_stay(small):
    base, takes, sentences = small
    kept = {}
    result = adapt.adapt(takes[:3], sentences[:3],
                         adapt.Settings(max_epochs=2, tempo=1.0, lr=3e-3, average_from=1),
                         base, held=(takes[3], sentences[3]), log=None,
                         watch=lambda e, model: kept.__setitem__(e, _weights(model)))
    assert (result.epochs, result.best_epoch, len(result.held_losses)) == (2, 2, 3)
    assert not all(np.array_equal(a, b) for a, b in zip(kept[1], kept[2]))  # it trained
    for got, one, two in zip(result.model.get_weights(), kept[1], kept[2]):
        np.testing.assert_allclose(got, (one + two) / 2, rtol=1e-5, atol=1e-6)
    last = adapt.adapt(takes[:3], sentences[:3], adapt.Settings(max_epochs=1, tempo=1.2),
                       base, log=None, watch=lambda e, model: kept.__setitem__(e, _weights(model)))
    assert (last.epochs, last.best_epoch, last.held_losses, last.tempo) == (1, 1, [], 1.2)
    assert all(np.array_equal(a, b) for a, b in zip(last.model.get_weights(), kept[1]))
    assert last.settings.lr == methods.get("full").lr


def test_the_tempo_method_trains_nothing_and_rehearsal_needs_its_clips(small):
    base, takes, sentences = small
    lines = []
    result = adapt.adapt(takes[:2], sentences[:2], adapt.Settings(method="tempo", tempo=1.1),
                         base, log=lines.append)
    assert (result.epochs, result.best_epoch, result.settings.max_epochs) == (0, 0, 0)
    assert lines[0].startswith("adapted (tempo, lr ") and "best epoch 0 of 0" in lines[0]
    with pytest.raises(ValueError, match=r"rehearse=2 needs the general reader's own clips "
                                         r"\(rehearsal.own_clips\)"):
        adapt.adapt(takes[:2], sentences[:2], adapt.Settings(rehearse=2, tempo=1.0), base)


def test_the_stats_method_gives_each_batch_norm_its_inputs_statistics_over_the_takes(small):
    import keras

    from lipread.training.cropstore import center

    base, takes, sentences = small
    takes, sentences = np.concatenate([takes, takes[:2] // 2]), sentences + sentences[:2]
    before = _weights(base)
    result = adapt.adapt(takes, sentences, adapt.Settings(method="stats", tempo=1.0), base,
                         log=None)
    model, x = result.model, np.stack([center(c) for c in takes])
    assert (result.epochs, result.settings.method) == (0, "stats")
    for name in ("bn1", "bn2", "bn3"):  # over all six takes (two batches), each with the
        layer = model.get_layer(name)  # batch norms before it already set
        seen = np.asarray(keras.Model(model.inputs, layer.input)(x), np.float64)
        seen = seen.reshape(-1, seen.shape[-1])
        gamma, beta, mean, var = layer.get_weights()
        assert np.allclose(mean, seen.mean(0), rtol=1e-4, atol=1e-5)
        assert np.allclose(var, seen.var(0), rtol=1e-3, atol=1e-6)
        general = base.get_layer(name).get_weights()
        assert np.array_equal(gamma, general[0]) and np.array_equal(beta, general[1])
        assert not np.allclose(var, general[3], rtol=0.05)  # the general: 1 (untrained)
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))  # untouched
    # what it reads: the general reader's weights but for the statistics
    assert not np.allclose(np.asarray(model(x[:1])), np.asarray(base(x[:1])), atol=1e-4)


def test_a_persons_tempo_is_the_one_the_general_reader_reads_their_takes_best_at(grid_dir):
    """The same takes slowed by 1.3 (a slower speaker; their end cut off at 3 s) are read
    best faster than as they are (s1's own, with their silence at the end, at 1.0 or 1.1)."""
    from lipread.enroll.clips import Clip, crops
    from lipread.model import loader

    base = loader.load_model("lipnet")
    names = grid.read_names(grid_dir / "splits" / "test.txt")[:3]
    takes = np.stack([crops(Clip(n, grid.video_path(grid_dir, n), "")) for n in names])
    labels = adapt.labels_of([grid.load_sentence(grid.alignment_path(grid_dir, n))
                              for n in names])
    own = adapt.estimate_tempo(base, takes, labels)
    assert own in adapt.TEMPOS and own <= 1.1
    slow = adapt.estimate_tempo(base, adapt.slowed(takes, 1.3), labels)
    assert slow > own
    assert adapt.estimate_tempo(base, adapt.slowed(takes, 1.3), labels, (own, 1.3)) in (own, 1.3)
    assert adapt.estimate_tempo(base, adapt.slowed(takes, 1.3), labels, (slow,)) == slow


class _Reader:
    """A stand-in for the general reader whose CTC loss on each take, at each tempo, is
    given: asked once a tempo (up to 4 takes), in the order of the tempos."""

    def __init__(self, table, monkeypatch):
        self.table, self.asked = table, []
        monkeypatch.setattr("lipread.training.losses.ctc_loss", self.loss)

    def predict_on_batch(self, x):
        self.asked.append(x)
        return np.full((len(x), 1), len(self.asked) - 1)

    def loss(self, labels, probs):
        return np.asarray(list(self.table.values())[int(probs[0, 0])][:len(labels)])


def _takes(n):
    from lipread.training.cropstore import CLIP_SHAPE

    return np.zeros((n, *CLIP_SHAPE), np.uint8)


@pytest.mark.parametrize("table, tempo", [
    # the loss cannot tell (lower at 1.1 on two takes, higher on two): read at 1.2
    ({1.0: [60, 80, 70, 90], 1.1: [55, 85, 66, 88], 1.2: [61, 79, 72, 89],
      1.3: [70, 90, 75, 95]}, 1.2),
    # every take read three times surer at 1.0: a person as fast as s1
    ({1.0: [3, 2, 5, 4], 1.1: [4, 3, 6, 5], 1.2: [9, 6, 15, 12], 1.3: [20, 9, 30, 25]}, 1.0),
    # lower on average at 1.3, but by one take alone: not sure
    ({1.0: [60, 60, 60, 60], 1.1: [55, 55, 55, 55], 1.2: [50, 50, 50, 50],
      1.3: [52, 51, 53, 5]}, 1.2),
    # surer at 1.3 on every take, by a little each: sure
    ({1.0: [60, 60, 60, 60], 1.1: [55, 55, 55, 55], 1.2: [50, 52, 54, 56],
      1.3: [45, 48, 50, 50]}, 1.3),
    # surer at 1.1 by the log-ratios 0.2, 0.2, 0.2, -0.1: 1.7 standard errors, not sure
    ({1.0: [90] * 4, 1.1: [50] * 4, 1.2: [50 * np.exp(0.2)] * 3 + [50 * np.exp(-0.1)],
      1.3: [90] * 4}, 1.2),
    # 0.2, 0.2, 0.2, -0.02: 2.6 standard errors, sure
    ({1.0: [90] * 4, 1.1: [50] * 4, 1.2: [50 * np.exp(0.2)] * 3 + [50 * np.exp(-0.02)],
      1.3: [90] * 4}, 1.1),
])
def test_a_person_is_read_at_1_2_unless_their_takes_clearly_read_better_at_another_tempo(
        monkeypatch, table, tempo):
    reader = _Reader(table, monkeypatch)
    labels = adapt.labels_of(["bin blue at f two now"] * 4)
    assert adapt.estimate_tempo(reader, _takes(4), labels) == tempo
    assert len(reader.asked) == 4 and all(x.shape[0] == 4 for x in reader.asked)


def test_one_take_cannot_move_the_tempo_and_a_start_not_offered_is_not_taken(monkeypatch):
    table = {1.0: [3], 1.1: [4], 1.2: [9], 1.3: [20]}
    labels = adapt.labels_of(["bin blue at f two now"])
    assert adapt.estimate_tempo(_Reader(table, monkeypatch), _takes(1), labels) == 1.2
    table = {1.0: [3, 2], 1.1: [4, 3]}  # 1.2 not among them: the lowest
    labels = adapt.labels_of(["bin blue at f two now"] * 2)
    assert adapt.estimate_tempo(_Reader(table, monkeypatch), _takes(2), labels,
                                (1.0, 1.1)) == 1.0


@pytest.mark.parametrize("name, own", [("adapters", {"adapter1", "adapter2", "adapter3"}),
                                       ("prompt", {"prompt"}), ("full", set())])
def test_a_methods_network_has_its_own_layers_and_reads_at_the_persons_tempo(small, name, own):
    base = small[0]
    model = methods.build(methods.get(name), base, 1.2)
    names = {layer.name for layer in model.layers}
    assert own <= names and not ({"adapter1", "prompt"} - own) & names
    assert model.get_layer("tempo").factor == 1.2
    assert "tempo" not in {layer.name for layer in methods.build(methods.get(name), base).layers}


def test_an_epochs_batches_are_augmented_by_its_own_draws(small):
    """The same seed gives the same epoch; warping (warp_prob) changes what is drawn."""
    takes = small[1]
    labels = adapt.labels_of(small[2])

    def epoch(seed, **settings):
        return [x for x, _ in adapt.epoch_batches(takes, labels, np.random.default_rng(seed),
                                                  adapt.Settings(**settings))]
    first, again = epoch(5, warp_prob=0.0), epoch(5, warp_prob=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    warped = epoch(5, warp_prob=1.0)
    assert not all(np.array_equal(a, b) for a, b in zip(first, warped))
