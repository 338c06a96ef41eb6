"""The networks: frames (75, 46, 140, 1) to per-frame probabilities over the 41 classes.

- `lipnet` (shipped): the LipNet paper's design (Assael et al. 2016), sized for a
  2-core CPU: three spatiotemporal convolutions with batch normalisation, spatial
  dropout and max pooling, two bidirectional GRUs, a softmax over the 41 classes.
  Trained with a second head, the GRID word at each frame; the inference network is cut
  from the training one (`inference_model`).
- `tutorial`: the LipNet tutorial's network, layer for layer, so that holders of its
  checkpoint can load it (loader.py).

How these sizes were chosen, run by run: models/README.md.
"""
from __future__ import annotations

from lipread.constants import INPUT_SHAPE
from lipread.grid import GRID_WORDS, NUM_CLASSES

N_WORD_CLASSES = len(GRID_WORDS) + 1  # the 51 GRID words and silence (id 0)

# lipnet's sizes: the paper's 32/64/96 filters. conv1 strides 4 with a 3x10x10 kernel: the
# 12x35 grid of a 5x5 stride-2 kernel on the crop averaged 2x2, but seeing every pixel.
CONV_FILTERS = (32, 64, 96)
CONV_KERNELS = ((3, 10, 10), (3, 3, 3), (3, 3, 3))
CONV1_STRIDES = (1, 4, 4)
# "same" padding of a 5x5 stride-2 kernel on 23x70 (rows 2+2, columns 1+2), in full pixels.
CONV1_PADDING = ((1, 1), (4, 4), (2, 4))
GRU_UNITS = 128  # per direction; a .weights.h5 of a wider run says its own (gru_units_in)
# Dropout rates: training sets them per run (--spatial-dropout, --gru-dropout); the layers
# carry no weights and act only in training.
SPATIAL_DROPOUT = 0.0
GRU_DROPOUT = 0.0


def _lipnet_features(inputs, spatial_dropout=SPATIAL_DROPOUT, gru_dropout=GRU_DROPOUT,
                     gru_units=GRU_UNITS, adapters=False, prompt=False, tempo=1.0):
    from keras import layers

    # Keras is imported only when a network is built; personal: a person's layers
    from lipread.model import fastconv, personal

    x = inputs if tempo == 1.0 else personal.Tempo(tempo, name="tempo")(inputs)
    x = layers.ZeroPadding3D(CONV1_PADDING, name="pad1")(x)
    if prompt:
        x = personal.InputPrompt(name="prompt")(x)
    for i, (filters, kernel) in enumerate(zip(CONV_FILTERS, CONV_KERNELS), start=1):
        if i == 1:  # the same convolution, computed faster (fastconv.py)
            x = fastconv.Conv3D(filters, kernel, strides=CONV1_STRIDES, use_bias=False,
                                kernel_initializer=pooled_conv1_init, name="conv1")(x)
        else:
            x = layers.Conv3D(filters, kernel, padding="same", use_bias=False,
                              kernel_initializer="glorot_uniform", name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        if adapters:  # a person's residual adapter, zero at the start
            delta = layers.Conv3D(filters, 1, use_bias=False, kernel_initializer="zeros",
                                  name=f"adapter{i}")(x)
            x = layers.Add(name=f"adapted{i}")([x, delta])
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

    A fresh network is then the same function as a fresh 2x2-averaged one (why:
    models/README.md, "conv1 at full resolution").
    """
    import keras

    t, h, w, c_in, c_out = shape
    small = keras.initializers.GlorotUniform()((t, h // 2, w // 2, c_in, c_out), dtype)
    return widen_conv1(small)


def build_lipnet_training(spatial_dropout=SPATIAL_DROPOUT, gru_dropout=GRU_DROPOUT,
                          gru_units=GRU_UNITS, adapters=False, prompt=False, tempo=1.0):
    """LipNet with a second, training-only head: the GRID word spoken at each frame.

    The alignments say which word each frame belongs to; predicting it gives the
    encoder a dense per-frame signal from the first step, where CTC alone sits for
    many epochs emitting only blanks. The inference model drops this head.
    """
    import keras
    from keras import layers

    inputs = keras.Input(INPUT_SHAPE, name="frames")
    features = _lipnet_features(inputs, spatial_dropout, gru_dropout, gru_units, adapters,
                                prompt, tempo)
    chars = layers.Dense(NUM_CLASSES, activation="softmax", name="chars")(features)
    words = layers.Dense(N_WORD_CLASSES, name="words")(features)  # logits
    return keras.Model(inputs, [chars, words], name="lipnet_training")


def inference_model(training_model):
    """The deployed network, cut from the training model: frames to char probabilities."""
    import keras

    return keras.Model(training_model.input, training_model.get_layer("chars").output,
                       name="lipnet")


def build_lipnet(gru_units=GRU_UNITS, adapters=False, prompt=False, tempo=1.0):
    """The inference network; for a person (lipread/enroll), with residual adapters after
    each convolution's batch norm, a learned prompt over the padded input, and/or their
    tempo (model/personal.py)."""
    return inference_model(build_lipnet_training(gru_units=gru_units, adapters=adapters,
                                                 prompt=prompt, tempo=tempo))


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
