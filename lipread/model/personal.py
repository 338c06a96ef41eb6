"""A person's layers, added by enrollment (lipread/enroll) to the general network: each
starts as the identity, so an untrained one leaves the general reader exactly as it was.

- `InputPrompt`: a learned input padding and prompt. Kim et al. (ECCV 2022, "Speaker-
  adaptive lip reading with user-dependent padding") adapt a lip reader to a new speaker
  by learning the values its convolutions pad with, leaving the network untouched. lipnet
  pads only its input (pad1, before conv1), so here that padding and the crop inside it
  get one learned image, shared by every frame, zero at the start.
- `Tempo`: the clip resampled in time by a fixed factor, for a person who speaks slower or
  faster than GRID's s1 (who says a sentence in ~33 frames; s26 and s31 take ~48): output
  frame t is input frame round(t * factor), the last one repeated past the end.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="lipread")
class InputPrompt(keras.layers.Layer):
    """x + P, with P of shape (rows, columns, channels), learned, zero-initialised."""

    def build(self, input_shape):
        self.image = self.add_weight(shape=tuple(input_shape[2:]), initializer="zeros")

    def call(self, inputs):
        return inputs + self.image


def tempo_frames(n: int, factor: float) -> np.ndarray:
    """The input frame each of n output frames takes at `factor` (> 1: faster)."""
    return np.clip(np.round(np.arange(n) * factor), 0, n - 1).astype(np.int32)


@keras.saving.register_keras_serializable(package="lipread")
class Tempo(keras.layers.Layer):
    """Frames resampled in time by a fixed factor (no weights)."""

    # Not mutated: Keras reads __init__'s parameters, which mutmut's wrapper would hide
    def __init__(self, factor: float = 1.0, **kwargs):  # pragma: no mutate block
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, inputs):
        return ops.take(inputs, tempo_frames(inputs.shape[1], self.factor), axis=1)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
