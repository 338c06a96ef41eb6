"""fastconv.Conv3D: a strided Conv3D as space-to-depth, the same numbers as Keras's own."""
import numpy as np
import pytest


def _pair(kernel, strides, channels, filters, use_bias, activation=None):
    import keras

    from lipread.model import fastconv

    plain = keras.layers.Conv3D(filters, kernel, strides=strides, use_bias=use_bias,
                                activation=activation)
    fast = fastconv.Conv3D(filters, kernel, strides=strides, use_bias=use_bias,
                           activation=activation)
    return plain, fast


@pytest.mark.parametrize("shape, kernel, strides, filters, use_bias, activation", [
    ((77, 54, 146, 1), (3, 10, 10), (1, 4, 4), 32, False, None),  # lipnet's conv1 on its padding
    ((77, 50, 144, 1), (3, 5, 5), (1, 2, 2), 8, False, None),  # the paper's conv1
    ((5, 13, 11, 2), (2, 3, 4), (1, 3, 3), 4, True, None),  # kernel not a multiple of the stride
    ((4, 9, 9, 3), (1, 3, 3), (1, 1, 1), 5, True, None),  # stride 1: an ordinary conv
    ((5, 13, 11, 2), (2, 3, 4), (1, 3, 3), 4, True, "relu"),  # with its activation
])
def test_same_outputs_and_gradients_as_keras_conv3d(shape, kernel, strides, filters, use_bias,
                                                    activation):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    plain, fast = _pair(kernel, strides, shape[-1], filters, use_bias, activation)
    x = tf.constant(rng.standard_normal((2, *shape)).astype("float32"))
    plain.build(x.shape)
    fast.build(x.shape)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in plain.get_weights()]
    plain.set_weights(weights)
    fast.set_weights(weights)
    assert fast.compute_output_shape(x.shape) == plain.compute_output_shape(x.shape)
    outs, grads = [], []
    for layer in (plain, fast):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.cos(y))
        outs.append(y.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, [x, layer.kernel])])
    scale = np.abs(outs[0]).max()
    assert outs[1].shape == outs[0].shape
    assert np.abs(outs[1] - outs[0]).max() < 1e-5 * scale
    for fast_grad, plain_grad in zip(grads[1], grads[0]):
        assert np.abs(fast_grad - plain_grad).max() < 1e-4 * np.abs(plain_grad).max()


def test_lipnet_conv1_is_fast_and_its_weights_file_is_unchanged(tmp_path):
    """The shipped file (saved from keras's Conv3D) loads, and a save reads back in a
    network built with keras's own Conv3D: the weights are keyed by class name."""
    import h5py
    import keras

    from lipread.model import fastconv, loader, networks
    from lipread.video import INPUT_SHAPE

    shipped = loader.load_model("lipnet")
    assert type(shipped.get_layer("conv1")) is fastconv.Conv3D
    with h5py.File(loader.DEFAULT_WEIGHTS["lipnet"]) as f:
        assert f["layers/conv3d/vars/0"].shape == (3, 10, 10, 1, 32)
    path = tmp_path / "lipnet.weights.h5"
    shipped.save_weights(path)
    original = fastconv.Conv3D
    try:  # the network as it was built before fastconv
        fastconv.Conv3D = lambda *a, **k: keras.layers.Conv3D(*a, padding="valid", **k)
        plain = networks.build_lipnet()
    finally:
        fastconv.Conv3D = original
    assert type(plain.get_layer("conv1")) is keras.layers.Conv3D
    plain.load_weights(path)
    x = np.random.default_rng(1).standard_normal((1, *INPUT_SHAPE)).astype("float32")
    assert np.allclose(plain.predict(x, verbose=0), shipped.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"strides": (2, 2, 2)}, {"strides": (1, 2, 3)},
                                    {"padding": "same"}, {"dilation_rate": 2}])
def test_refuses_what_it_does_not_compute(kwargs):
    from lipread.model import fastconv

    with pytest.raises(ValueError) as refused:
        fastconv.Conv3D(4, 3, **kwargs)
    assert str(refused.value) == ("fastconv.Conv3D takes strides (1, s, s), 'valid' padding, "
                                  "no dilation or groups, channels last")
