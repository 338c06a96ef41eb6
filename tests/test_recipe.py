"""How lipnet is trained (training/recipe.py), directly: the learning rate epoch by epoch,
the optimizer's clipping and decay, a run's settings refused, the weights a run starts
from (a run's own, an inference network's, narrower GRUs widened, wider ones refused, a
file that is not lipnet's), and the teachers' per-frame probabilities. Small networks
(GRUs of 16 and 24 units) where the width does not matter.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from lipread.training import recipe


def test_the_rate_warms_up_linearly_then_falls_along_a_cosine_to_its_floor():
    schedule = recipe.lr_schedule(10, 1e-3, warmup=2, floor=1e-5)
    assert schedule(0) == pytest.approx(1e-3 / 3) and schedule(1) == pytest.approx(2e-3 / 3)
    assert schedule(2) == pytest.approx(1e-3)  # the peak after warm-up
    assert schedule(6) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))  # halfway down
    assert schedule(9) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(
        math.pi * 7 / 8)))
    assert schedule(10) == pytest.approx(1e-5) and schedule(30) == pytest.approx(1e-5)
    rates = [schedule(e) for e in range(2, 11)]
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert schedule(3, lr=7.0) == schedule(3)  # Keras passes the current rate: not used


def test_the_defaults_and_a_run_shorter_than_its_warm_up():
    default = recipe.lr_schedule(60, recipe.PEAK_LR)
    assert default(0) == pytest.approx(recipe.PEAK_LR / (recipe.WARMUP_EPOCHS + 1))
    assert default(59) > recipe.MIN_LR and default(60) == pytest.approx(recipe.MIN_LR)
    short = recipe.lr_schedule(2, 1e-3, warmup=2, floor=0.0)
    assert short(1) == pytest.approx(2e-3 / 3) and short(2) == pytest.approx(1e-3)
    assert short(3) == pytest.approx(0.0)  # one epoch of decay past the end: the floor
    none = recipe.lr_schedule(4, 1e-3, warmup=0, floor=0.0)
    assert none(0) == pytest.approx(1e-3) and none(2) == pytest.approx(5e-4)


def test_the_optimizer_clips_the_gradients_norm_and_decays_kernels_only():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.BatchNormalization()])
    model.layers[0].bias.assign(np.ones(3))
    model.layers[1].beta.assign(np.full(3, 2.0))  # (a shift of 0 decays to itself)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    optimizer = recipe.make_optimizer(1e-2, weight_decay=0.5)
    assert optimizer.clipnorm == recipe.CLIPNORM and optimizer.weight_decay == 0.5
    optimizer.apply([keras.ops.zeros(v.shape) for v in model.trainable_variables],
                    model.trainable_variables)
    for v in model.trainable_variables:
        if v.path.endswith("kernel"):
            np.testing.assert_allclose(v.numpy(), before[v.path] * (1 - 1e-2 * 0.5), rtol=1e-6)
        else:  # bias, gamma, beta
            np.testing.assert_array_equal(v.numpy(), before[v.path])
    plain = recipe.make_optimizer(1e-2, clipnorm=2.0)
    assert plain.weight_decay is None and plain.clipnorm == 2.0
    # a gradient of norm 10 is clipped to norm 2: Adam's first step moves each weight by lr
    weight = keras.Variable(np.zeros(4, "float32"))
    plain.apply([keras.ops.convert_to_tensor(np.array([10, 0, 0, 0], "float32"))], [weight])
    np.testing.assert_allclose(weight.numpy(), [-1e-2, 0, 0, 0], atol=1e-6)


def test_a_runs_settings_are_checked_and_one_teacher_is_a_list_of_one():
    assert recipe.Recipe(teacher="t.weights.h5").teacher == ["t.weights.h5"]
    assert recipe.Recipe(teacher=["a", "b"]).teacher == ["a", "b"]
    assert recipe.Recipe().teacher is None
    with pytest.raises(ValueError, match="crop must be one of landmarks, fixed, not 'chin'"):
        recipe.Recipe(crop="chin")
    with pytest.raises(ValueError, match="strategy must be one of default, mirrored, "
                                         "multiworker, not 'cluster'"):
        recipe.Recipe(strategy="cluster")
    with pytest.raises(TypeError):
        recipe.Recipe("data")  # keywords only


# --- the weights a run starts from -----------------------------------------------------------

@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).random((1, 75, 46, 140, 1), np.float32)


def _outputs(model, frames):
    out = model.predict(frames, verbose=0)
    return out if isinstance(out, list) else [out]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained-looking narrow run's files: a training network's and its inference one's."""
    from lipread.model import networks

    folder = tmp_path_factory.mktemp("weights")
    training = networks.build_lipnet_training(gru_units=16)
    rng = np.random.default_rng(1)
    for layer in ("chars", "words"):
        kernel = training.get_layer(layer).kernel
        kernel.assign(rng.normal(0, 0.3, kernel.shape).astype("float32"))
    training.save_weights(folder / "run.weights.h5")
    networks.inference_model(training).save_weights(folder / "best.weights.h5")
    return folder, training


def test_a_runs_own_weights_fill_the_whole_training_network(saved, frames, capsys):
    from lipread.model import networks

    folder, trained = saved
    model = networks.build_lipnet_training(gru_units=16)
    assert recipe.init_weights(model, folder / "run.weights.h5") is model
    for a, b in zip(_outputs(model, frames), _outputs(trained, frames)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert capsys.readouterr().out == ""


def test_an_inference_networks_weights_fill_it_and_leave_the_word_head_fresh(saved, frames,
                                                                           capsys):
    from lipread.model import networks

    folder, trained = saved
    model = networks.build_lipnet_training(gru_units=16)
    fresh_words = model.get_layer("words").kernel.numpy()
    filled = recipe.init_weights(model, folder / "best.weights.h5")
    assert filled is not model and len(filled.outputs) == 1
    np.testing.assert_allclose(_outputs(filled, frames)[0], _outputs(trained, frames)[0],
                               atol=1e-6)
    np.testing.assert_array_equal(model.get_layer("words").kernel.numpy(), fresh_words)
    assert capsys.readouterr().out == (f"{folder / 'best.weights.h5'}: inference network "
                                       "only; the word head starts untrained\n")


@pytest.mark.parametrize("warned_from, fills_model", [
    ("keras/src/saving/saving_lib.py", False), ("keras/src/ops/core.py", True)])
def test_a_load_that_keras_only_warns_about_is_a_failed_one(saved, monkeypatch, capsys,
                                                            warned_from, fills_model):
    """A Keras that warns (from its saving code) instead of refusing a file that does not
    fit the training network: the inference network is filled instead. A warning from
    elsewhere in Keras is no failed load."""
    import warnings

    import keras

    from lipread.model import networks

    folder, _ = saved
    model = networks.build_lipnet_training(gru_units=16)
    load = keras.Model.load_weights

    def warning_load(self, path, *args, **kwargs):
        load(self, path, *args, **kwargs)
        if self is model:
            warnings.warn_explicit("1 object could not be loaded", UserWarning,
                                   filename=warned_from, lineno=1)
    monkeypatch.setattr(keras.Model, "load_weights", warning_load)
    filled = recipe.init_weights(model, folder / "run.weights.h5")
    assert (filled is model) == fills_model
    assert ("inference network only" in capsys.readouterr().out) != fills_model


@pytest.mark.parametrize("file, heads", [("run.weights.h5", 2), ("best.weights.h5", 1)])
def test_narrower_grus_are_widened_reading_the_same(saved, frames, capsys, file, heads):
    from lipread.model import networks

    folder, trained = saved
    model = networks.build_lipnet_training(gru_units=24)
    filled = recipe.init_weights(model, folder / file)
    assert (filled is model) == (heads == 2)
    for a, b in zip(_outputs(filled, frames), _outputs(trained, frames)[:heads]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    path = folder / file
    assert capsys.readouterr().out == (
        f"{path}: inference network only; the word head starts untrained\n" * (heads == 1)
        + f"{path}: GRUs widened from 16 to 24 units\n")


def test_wider_grus_are_refused_with_the_flag_that_fits_them(saved):
    from lipread.model import networks

    folder, _ = saved
    with pytest.raises(ValueError, match=r"run.weights.h5: a network with GRUs of 16 units, "
                                         r"wider than this one's 8; pass --gru-units 16"):
        recipe.init_weights(networks.build_lipnet_training(gru_units=8),
                            folder / "run.weights.h5")


def test_weights_of_another_network_are_refused(tmp_path):
    import keras

    from lipread.model import networks

    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    other.save_weights(tmp_path / "other.weights.h5")
    model = networks.build_lipnet_training(gru_units=16)
    with pytest.raises(ValueError, match=r"other.weights.h5: not lipnet weights \(of this "
                                         r"network or of the one that averaged the crop 2x2\)"):
        recipe.init_weights(model, tmp_path / "other.weights.h5")


def test_teachers_probabilities_are_the_average_of_each_networks_on_centred_crops(tmp_path):
    from lipread.model import loader, networks
    from lipread.training import cropstore

    rng = np.random.default_rng(2)
    crops = rng.integers(0, 255, (3, 75, 46 + 2 * cropstore.MARGIN, 140 + 2 * cropstore.MARGIN),
                         dtype=np.uint8)
    paths, probs = [], []
    for seed in (0, 1):
        net = networks.build_lipnet()
        chars = net.get_layer("chars").kernel
        chars.assign(np.random.default_rng(seed).normal(0, 0.5, chars.shape).astype("float32"))
        paths.append(tmp_path / f"t{seed}.weights.h5")
        net.save_weights(paths[-1])
        probs.append(net.predict(np.stack([cropstore.center(c) for c in crops]), verbose=0))
    lines = []
    got = recipe.teacher_probs(paths, crops, batch_size=2, log=lines.append)
    assert got.dtype == np.float16 and got.shape == (3, 75, probs[0].shape[-1])
    np.testing.assert_allclose(got, (probs[0] + probs[1]) / 2, atol=2e-3)
    assert not np.allclose(probs[0], probs[1], atol=2e-3)  # the two teachers differ
    assert lines == [f"teacher {p}: read 3 training clips" for p in paths]
    one = recipe.teacher_probs(paths[:1], crops, log=None)
    np.testing.assert_allclose(one, probs[0], atol=2e-3)
    assert loader.gru_units_in(paths[0]) == networks.GRU_UNITS
