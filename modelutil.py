"""The networks and their weights.

- `lipnet` (shipped): the LipNet paper's design (Assael et al. 2016), sized for a
  2-core CPU: three spatiotemporal convolutions with batch normalisation, spatial
  dropout and max pooling, two bidirectional GRUs, a softmax over the 41 classes.
- `tutorial`: the LipNet tutorial's network, layer for layer, so that holders of its
  checkpoint can load it (`load_model("tutorial", "models/checkpoint")`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

from utils import GRID_WORDS, INPUT_SHAPE, NUM_CLASSES

ARCHS = ("lipnet", "tutorial")
MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_WEIGHTS = {"lipnet": MODELS_DIR / "lipnet.weights.h5",
                   "tutorial": MODELS_DIR / "checkpoint"}
N_WORD_CLASSES = len(GRID_WORDS) + 1  # the 51 GRID words and silence (id 0)

# lipnet's sizes: the paper's 32/64/96 filters. The paper's 3x5x5 stride-2 conv1 on the
# full 46x140 crop, and the layers after it at that size, took 3/4 of a training step on
# 2 cores. Here conv1 strides 4 with a 3x10x10 kernel: the same 12x35 output grid as a
# 5x5 stride-2 kernel on the crop averaged 2x2 (what lipnet did before), so every later
# layer costs the same, but conv1 sees every pixel; the letter slot, most of the errors,
# turns on small differences in lips, teeth and tongue.
CONV_FILTERS = (32, 64, 96)
CONV_KERNELS = ((3, 10, 10), (3, 3, 3), (3, 3, 3))
CONV1_STRIDES = (1, 4, 4)
# "same" padding of a 5x5 stride-2 kernel on 23x70 (rows 2+2, columns 1+2), in full pixels.
CONV1_PADDING = ((1, 1), (4, 4), (2, 4))
GRU_UNITS = 128  # per direction; a .weights.h5 of a wider run says its own (gru_units_in)
# The paper's dropout (0.2 spatial, 0.5 after the GRUs) kept 27 epochs at chance level
# here from scratch; without it the same network left chance after 7 epochs but then
# overfits (models/README.md). So the layers stay, with rates that train.py sets per
# run (--spatial-dropout, --gru-dropout); they carry no weights and act only in training.
SPATIAL_DROPOUT = 0.0
GRU_DROPOUT = 0.0


class WeightsError(ValueError):
    """Weights that are missing or don't fit the network."""


def _lipnet_features(inputs, spatial_dropout=SPATIAL_DROPOUT, gru_dropout=GRU_DROPOUT,
                     gru_units=GRU_UNITS):
    from keras import layers

    import fastconv

    x = layers.ZeroPadding3D(CONV1_PADDING, name="pad1")(inputs)
    for i, (filters, kernel) in enumerate(zip(CONV_FILTERS, CONV_KERNELS), start=1):
        if i == 1:  # the same convolution, computed faster (fastconv.py)
            x = fastconv.Conv3D(filters, kernel, strides=CONV1_STRIDES, use_bias=False,
                                kernel_initializer=pooled_conv1_init, name="conv1")(x)
        else:
            x = layers.Conv3D(filters, kernel, padding="same", use_bias=False,
                              kernel_initializer="glorot_uniform", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.SpatialDropout3D(spatial_dropout, name=f"drop{i}")(x)
        x = layers.MaxPooling3D((1, 2, 2), name=f"pool{i}")(x)
    x = layers.TimeDistributed(layers.Flatten(), name="flatten")(x)
    for i in (1, 2):
        x = layers.Bidirectional(layers.GRU(gru_units, return_sequences=True),
                                 merge_mode="concat", name=f"bigru{i}")(x)
        x = layers.Dropout(gru_dropout, name=f"gru_drop{i}")(x)
    return x


def widen_conv1(kernel):
    """A 3x5x5 conv1 kernel of the 2x2-averaged lipnet as the 3x10x10 full-resolution one.

    Averaging 2x2 then convolving equals convolving with each weight spread over its
    2x2 pixels, divided by 4: the same network, which training then refines. Takes a
    numpy array (a saved kernel) or a tensor (an initializer's) and returns a tensor.
    """
    import keras

    return keras.ops.repeat(keras.ops.repeat(kernel, 2, axis=1), 2, axis=2) / 4.0


def pooled_conv1_init(shape, dtype=None):
    """conv1's starting kernel: a random 3x5x5 one of the 2x2-averaged lipnet, widened.

    A fresh network is then the same function as a fresh 2x2-averaged one, the network
    that left chance level at epoch 7 (models/README.md). What kept the full-resolution
    network at chance was the peak learning rate: at 1e-3 it stalled near chance from
    either starting kernel, at 5e-4 it left chance by epoch 11 from this one.
    """
    import keras

    t, h, w, c_in, c_out = shape
    small = keras.initializers.GlorotUniform()((t, h // 2, w // 2, c_in, c_out), dtype)
    return widen_conv1(small)


def build_lipnet_training(spatial_dropout=SPATIAL_DROPOUT, gru_dropout=GRU_DROPOUT,
                          gru_units=GRU_UNITS):
    """LipNet with a second, training-only head: the GRID word spoken at each frame.

    The alignments say which word each frame belongs to; predicting it gives the
    encoder a dense per-frame signal from the first step, where CTC alone sits for
    many epochs emitting only blanks. The inference model drops this head.
    """
    import keras
    from keras import layers

    inputs = keras.Input(INPUT_SHAPE, name="frames")
    features = _lipnet_features(inputs, spatial_dropout, gru_dropout, gru_units)
    chars = layers.Dense(NUM_CLASSES, activation="softmax", name="chars")(features)
    words = layers.Dense(N_WORD_CLASSES, name="words")(features)  # logits
    return keras.Model(inputs, [chars, words], name="lipnet_training")


def inference_model(training_model):
    """The deployed network, cut from the training model: frames to char probabilities."""
    import keras

    return keras.Model(training_model.input, training_model.get_layer("chars").output,
                       name="lipnet")


def build_lipnet(gru_units=GRU_UNITS):
    return inference_model(build_lipnet_training(gru_units=gru_units))


def build_tutorial():
    """The tutorial's network, exactly (8.47 M parameters)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv3D(128, 3, padding="same"),
        layers.Activation("relu"),
        layers.MaxPool3D((1, 2, 2)),
        layers.Conv3D(256, 3, padding="same"),
        layers.Activation("relu"),
        layers.MaxPool3D((1, 2, 2)),
        layers.Conv3D(75, 3, padding="same"),
        layers.Activation("relu"),
        layers.MaxPool3D((1, 2, 2)),
        layers.TimeDistributed(layers.Flatten()),
        layers.Bidirectional(layers.LSTM(128, kernel_initializer="orthogonal",
                                         return_sequences=True)),
        layers.Dropout(0.5),
        layers.Bidirectional(layers.LSTM(128, kernel_initializer="orthogonal",
                                         return_sequences=True)),
        layers.Dropout(0.5),
        layers.Dense(NUM_CLASSES, kernel_initializer="he_normal", activation="softmax"),
    ], name="tutorial")


def gru_units_in(path) -> int | None:
    """The GRU width of a lipnet .weights.h5 (None where the file has no lipnet GRU)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            recurrent = f.get("layers/bidirectional/forward_layer/cell/vars/1")
            return None if recurrent is None else int(recurrent.shape[0])
    except OSError:
        return None  # not HDF5: load_weights says what is wrong with it


def build_model(arch: str = "lipnet", gru_units=GRU_UNITS):
    if arch == "lipnet":
        return build_lipnet(gru_units)
    if arch == "tutorial":
        return build_tutorial()
    raise ValueError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")


def is_tf_checkpoint(path) -> bool:
    """A TF object-based checkpoint: `prefix.index` next to it, or its `checkpoint` file."""
    path = Path(path)
    return (Path(f"{path}.index").is_file() or path.suffix == ".index"
            or (path.name == "checkpoint" and path.is_file() and not path.suffix))


def _checkpoint_prefix(path: Path) -> str:
    import tensorflow as tf

    if path.suffix == ".index":
        return str(path.with_suffix(""))
    if Path(f"{path}.index").is_file():
        return str(path)
    # The `checkpoint` state file names the prefix, relative to its folder.
    prefix = tf.train.latest_checkpoint(str(path.parent))
    if prefix is None:
        raise WeightsError(f"{path}: names no checkpoint whose .index exists")
    return prefix


def checkpoint_weight_names(model) -> list[list[str]]:
    """For each layer with weights, the TF-checkpoint names of its weights, in Keras order.

    Keras 2's object-based checkpoints number the layers that hold weights
    (layer_with_weights-N); a Bidirectional LSTM's are its forward_layer/cell and
    backward_layer/cell kernel, recurrent_kernel and bias.
    """
    names = []
    suffix = "/.ATTRIBUTES/VARIABLE_VALUE"
    for n, layer in enumerate(l for l in model.layers if l.weights):
        base = f"layer_with_weights-{n}"
        if layer.__class__.__name__ == "Bidirectional":
            parts = [f"{d}_layer/cell/{w}" for d in ("forward", "backward")
                     for w in ("kernel", "recurrent_kernel", "bias")]
        else:
            parts = ["kernel", "bias"]
        names.append([f"{base}/{p}{suffix}" for p in parts])
    return names


def load_tf_checkpoint(model, path) -> None:
    """Import a Keras 2 TF-format checkpoint into a Keras 3 model, by variable name."""
    import tensorflow as tf

    prefix = _checkpoint_prefix(Path(path))
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise WeightsError(f"{path}: unreadable TF checkpoint ({err})") from None
    stored = reader.get_variable_to_shape_map()
    layers = [l for l in model.layers if l.weights]
    for layer, names in zip(layers, checkpoint_weight_names(model)):
        values = []
        for name, weight in zip(names, layer.weights):
            if name not in stored:
                raise WeightsError(f"{path}: the checkpoint has no variable {name}")
            if tuple(stored[name]) != tuple(weight.shape):
                raise WeightsError(f"{path}: {name} has shape {stored[name]}, "
                                   f"the network needs {tuple(weight.shape)}")
            values.append(reader.get_tensor(name))
        layer.set_weights(values)


def load_model(arch: str = "lipnet", weights=None):
    """The inference network of `arch` with its weights (.weights.h5 or a TF checkpoint)."""
    if arch not in ARCHS:
        raise WeightsError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    weights = Path(weights) if weights else DEFAULT_WEIGHTS[arch]
    if not weights.exists() and not Path(f"{weights}.index").exists():
        how = ("download the tutorial's checkpoint with `make checkpoint` (python download.py "
               "checkpoint)" if arch == "tutorial" else "train one with train.py")
        raise WeightsError(f"{weights}: no such weights file; {how}, or pass --weights")
    if weights.is_dir():
        raise WeightsError(f"{weights}: is a directory; pass a .weights.h5 file "
                           "(or a TF checkpoint's prefix)")
    wide = arch == "lipnet" and weights.name.endswith(".weights.h5") and gru_units_in(weights)
    model = build_model(arch, wide or GRU_UNITS)
    if is_tf_checkpoint(weights):
        load_tf_checkpoint(model, weights)
    elif weights.name.endswith(".weights.h5"):
        # Keras only warns when parts of a file don't match the network and leaves
        # those layers untrained: treat any such warning as the mismatch it is.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.load_weights(weights)
            except (ValueError, OSError) as err:
                first = (str(err).strip().splitlines() or ["unreadable"])[0].rstrip(" :")
                raise WeightsError(f"{weights}: does not fit the {arch} network ({first}); "
                                   f"pass weights trained for --arch {arch}") from None
        skipped = [w for w in caught if "saving" in w.filename]
        if skipped:
            raise WeightsError(f"{weights}: does not fit the {arch} network "
                               f"({str(skipped[0].message).splitlines()[0]})")
    else:
        raise WeightsError(f"{weights}: expected a Keras 3 .weights.h5 file or a TF "
                           "checkpoint (checkpoint, .index, .data-*)")
    return model
