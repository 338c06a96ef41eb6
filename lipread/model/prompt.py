"""A person's learned input padding and prompt: one image, added to every padded frame.

Kim et al. (ECCV 2022, "Speaker-adaptive lip reading with user-dependent padding") adapt a
lip reader to a new speaker by learning the values its convolutions pad with, leaving the
network untouched. lipnet pads only its input (pad1, before conv1), so here that padding
and the crop inside it get one learned image, shared by every frame, zero at the start
(the general reader, exactly); enrollment (lipread/enroll) trains it alone.
"""
from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="lipread")
class InputPrompt(keras.layers.Layer):
    """x + P, with P of shape (rows, columns, channels), learned, zero-initialised."""

    def build(self, input_shape):
        self.image = self.add_weight(shape=tuple(input_shape[2:]), initializer="zeros",
                                     name="image")

    def call(self, inputs):
        return inputs + self.image
