"""The networks, and loading weights: Keras 3 .weights.h5 and the tutorial's TF checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import LEGACY_DIR, in_ci

from lipread.model import loader, networks

LEGACY = LEGACY_DIR


@pytest.fixture(scope="module")
def legacy_variables():
    """Names, shapes and dtypes of the real tutorial checkpoint's index."""
    import tensorflow as tf
    if not (LEGACY / "checkpoint.index").is_file():
        message = f"the tutorial checkpoint's index is not at {LEGACY}"
        if in_ci():  # under CI a missing fixture fails, naming it; never a skip
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    reader = tf.train.load_checkpoint(str(LEGACY / "checkpoint"))
    return reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()


def write_checkpoint(prefix: Path, shapes, dtypes, seed=0):
    """Write a TF checkpoint holding random values under exactly these names and shapes."""
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    names, tensors = [], []
    for name, shape in sorted(shapes.items()):
        if name == "_CHECKPOINTABLE_OBJECT_GRAPH":
            continue
        dtype = dtypes[name].as_numpy_dtype
        value = rng.normal(size=shape).astype(dtype) if np.issubdtype(dtype, np.floating) \
            else np.zeros(shape, dtype)
        names.append(name)
        tensors.append(tf.constant(value))
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    (prefix.parent / "checkpoint").write_text(
        f'model_checkpoint_path: "{prefix.name}"\nall_model_checkpoint_paths: "{prefix.name}"\n')
    return dict(zip(names, tensors))


def test_lipnet_shapes_and_size():
    model = networks.build_lipnet()
    assert model.input_shape == (None, 75, 46, 140, 1)
    assert model.output_shape == (None, 75, 41)
    assert model.count_params() == 933_289  # sized for 2 CPU cores (models/README.md)
    training = networks.build_lipnet_training()
    assert [o.shape for o in training.outputs] == [(None, 75, 41), (None, 75, 52)]


def test_tutorial_network_matches_the_checkpoint_index(legacy_variables):
    shapes, _ = legacy_variables
    model = networks.build_tutorial()
    assert model.count_params() == 8_471_924
    for layer, names in zip([l for l in model.layers if l.weights],
                            loader.checkpoint_weight_names(model)):
        for name, weight in zip(names, layer.weights):
            assert name in shapes, name
            assert tuple(shapes[name]) == tuple(weight.shape), name


# The tutorial's model, as its notebook builds it (Conv3D 128/256/75 each with ReLU and a
# (1, 2, 2) pooling, two bidirectional LSTMs of 128 with orthogonal kernels and dropout 0.5,
# a softmax over 41 tokens with he_normal kernels): each layer's kind and what it is set to.
TUTORIAL_LAYERS = [
    *[x for filters in (128, 256, 75) for x in (
        ("Conv3D", {"filters": filters, "kernel_size": (3, 3, 3), "padding": "same"}),
        ("Activation", {"activation": "relu"}),
        ("MaxPooling3D", {"pool_size": (1, 2, 2)}))],
    ("TimeDistributed", {"layer": "Flatten"}),
    *[x for _ in range(2) for x in (
        ("Bidirectional", {"units": 128, "kernel_initializer": "Orthogonal",
                           "return_sequences": True}),
        ("Dropout", {"rate": 0.5}))],
    ("Dense", {"units": 41, "kernel_initializer": "HeNormal", "activation": "softmax"}),
]


def _described(layer) -> tuple[str, dict]:
    """A built layer's kind and the settings TUTORIAL_LAYERS names, from its Keras config."""
    config = layer.get_config()
    if type(layer).__name__ == "Bidirectional":
        config = config["layer"]["config"]
    if type(layer).__name__ == "TimeDistributed":
        config = {"layer": config["layer"]["class_name"]}
    for key in ("kernel_size", "pool_size"):
        if key in config:
            config[key] = tuple(config[key])
    if isinstance(config.get("kernel_initializer"), dict):
        config["kernel_initializer"] = config["kernel_initializer"]["class_name"]
    return type(layer).__name__, config


def test_the_tutorial_network_is_the_tutorials_layer_for_layer():
    model = networks.build_tutorial()
    assert model.name == "tutorial" and model.input_shape == (None, 75, 46, 140, 1)
    assert len(model.layers) == len(TUTORIAL_LAYERS)
    for layer, (kind, settings) in zip(model.layers, TUTORIAL_LAYERS):
        got_kind, config = _described(layer)
        assert got_kind == kind and {k: config.get(k) for k in settings} == settings, layer.name
    # 75 frames of 41 probabilities each, whatever the input
    probs = np.asarray(model(np.random.default_rng(0).normal(size=(1, 75, 46, 140, 1))))
    assert probs.shape == (1, 75, 41) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind, layer", [("adapters", "adapter1"), ("prompt", "prompt")])
def test_a_persons_inference_network_has_the_parts_its_method_trains(kind, layer):
    model = networks.build_lipnet(**{kind: True})
    names = {x.name for x in model.layers}
    assert layer in names and layer not in {x.name for x in networks.build_lipnet().layers}
    if kind == "adapters":  # 1x1x1 convolutions without a bias: what the ONNX export folds
        for i, filters in enumerate(networks.CONV_FILTERS, 1):
            assert [tuple(w.shape) for w in model.get_layer(f"adapter{i}").weights] == [
                (1, 1, 1, filters, filters)]


def test_the_keras_network_reads_a_clip_as_the_onnx_graph_does(grid_dir, test_names):
    """The network built here with the shipped weights, against the ONNX graph written
    from the weights file alone (onnx_export.py builds its own layers)."""
    from lipread import grid, pipeline, reading, video

    frames = video.load_video(grid.video_path(grid_dir, test_names[0]))[None]
    keras_probs = loader.load_model("lipnet").predict(frames, verbose=0)
    onnx_probs = pipeline.predict_probs(reading.default_reader(), frames)
    np.testing.assert_allclose(keras_probs, onnx_probs, atol=1e-4)


def test_the_training_network_has_no_persons_parts_and_reads_probabilities():
    model = networks.build_lipnet_training(gru_units=16)
    names = {x.name for x in model.layers}
    assert not names & {"tempo", "prompt", "adapter1", "adapter2", "adapter3"}
    chars, words = model(np.random.default_rng(0).normal(size=(1, 75, 46, 140, 1)))
    assert np.allclose(np.asarray(chars).sum(-1), 1.0, atol=1e-5)
    assert np.asarray(chars).shape == (1, 75, 41)


def test_tutorial_checkpoint_import(legacy_variables, tmp_path):
    shapes, dtypes = legacy_variables
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    written = write_checkpoint(models_dir / "checkpoint", shapes, dtypes)
    # The tutorial's layout: models/checkpoint is both the state file and the prefix.
    assert (models_dir / "checkpoint.index").is_file()
    model = loader.load_model("tutorial", models_dir / "checkpoint")
    layers = [l for l in model.layers if l.weights]
    lstm = layers[3].forward_layer.cell
    np.testing.assert_array_equal(
        lstm.kernel.numpy(),
        written["layer_with_weights-3/forward_layer/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE"])
    np.testing.assert_array_equal(
        layers[5].bias.numpy(), written["layer_with_weights-5/bias/.ATTRIBUTES/VARIABLE_VALUE"])
    # Also by the .index path, and the network runs.
    again = loader.load_model("tutorial", models_dir / "checkpoint.index")
    x = np.random.default_rng(1).normal(size=(1, 75, 46, 140, 1)).astype("float32")
    np.testing.assert_allclose(model(x), again(x), rtol=1e-5)


def test_checkpoint_with_wrong_shapes_is_refused(legacy_variables, tmp_path):
    shapes, dtypes = legacy_variables
    shapes = dict(shapes)
    shapes["layer_with_weights-5/kernel/.ATTRIBUTES/VARIABLE_VALUE"] = [256, 40]
    write_checkpoint(tmp_path / "checkpoint", shapes, dtypes)
    with pytest.raises(loader.WeightsError, match=r"layer_with_weights-5/kernel.*shape"):
        loader.load_model("tutorial", tmp_path / "checkpoint")


def test_weights_h5_round_trip(tmp_path):
    model = networks.build_lipnet()
    path = tmp_path / "lipnet.weights.h5"
    model.save_weights(path)
    loaded = loader.load_model("lipnet", path)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_missing_and_mismatched_weights(tmp_path):
    with pytest.raises(loader.WeightsError, match="no such weights file"):
        loader.load_model("lipnet", tmp_path / "nope.weights.h5")
    path = tmp_path / "tutorial.weights.h5"
    networks.build_tutorial().save_weights(path)
    with pytest.raises(loader.WeightsError, match="does not fit the lipnet network"):
        loader.load_model("lipnet", path)
    with pytest.raises(ValueError, match="unknown architecture"):
        loader.build_model("lstm")


def test_widened_conv1_equals_averaging_then_the_small_kernel(grid_dir):
    """conv1 on full pixels with a widened kernel = the earlier 2x2 average + 5x5 kernel."""
    import keras
    from keras import layers

    from lipread import grid, video
    x = video.load_video(grid.video_path(grid_dir, "bbaf2n"))[None]
    small = layers.Conv3D(32, (3, 5, 5), strides=(1, 2, 2), padding="same", use_bias=False)
    before = keras.Sequential([keras.Input(x.shape[1:]), layers.AveragePooling3D((1, 2, 2)),
                               small])
    kernel = np.random.default_rng(0).normal(size=(3, 5, 5, 1, 32)).astype("float32")
    small.kernel.assign(kernel)
    net = networks.build_lipnet()
    conv1 = net.get_layer("conv1")
    conv1.kernel.assign(networks.widen_conv1(kernel))
    after = keras.Model(net.input, conv1.output)
    np.testing.assert_allclose(after(x), before(x), atol=1e-4)


def test_conv1_starts_as_a_widened_small_kernel():
    """A fresh lipnet is a 2x2-averaged one: each 5x5 weight spread over its 2x2 pixels."""
    from lipread.model import networks

    kernel = networks.build_lipnet_training().get_layer("conv1").kernel.numpy()
    small = kernel[:, ::2, ::2] * 4
    np.testing.assert_allclose(kernel, networks.widen_conv1(small), rtol=1e-6)
    assert small.std() > 0.01  # random, not constant
    other = networks.build_lipnet_training().get_layer("conv1").kernel.numpy()
    assert not np.array_equal(kernel, other)


def test_init_weights_widens_the_earlier_conv1(grid_dir, tmp_path, capsys):
    """lipread train --init-weights takes weights of the 2x2-averaged lipnet, same readings."""
    import h5py

    from lipread.training import recipe
    shipped = networks.build_lipnet()
    path = tmp_path / "old.weights.h5"
    shipped.save_weights(path)
    kernel = np.random.default_rng(0).normal(size=(3, 5, 5, 1, 32)).astype("float32")
    with h5py.File(path, "r+") as f:  # the earlier network's 3x5x5 conv1 kernel
        del f["layers/conv3d/vars/0"]
        f["layers/conv3d/vars/0"] = kernel
    model = networks.build_lipnet_training()
    recipe.init_weights(model, path)
    np.testing.assert_allclose(model.get_layer("conv1").kernel.numpy(),
                               networks.widen_conv1(kernel))
    np.testing.assert_array_equal(model.get_layer("chars").kernel.numpy(),
                                  shipped.get_layer("chars").kernel.numpy())
    assert capsys.readouterr().out == (
        f"{path}: conv1 widened from 5x5 on the 2x2-averaged crop\n"
        f"{path}: inference network only; the word head starts untrained\n")
