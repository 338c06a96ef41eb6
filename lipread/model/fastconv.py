"""A strided Conv3D computed as space-to-depth and a small unstrided conv: same numbers, faster.

lipnet's conv1 reads the one-channel crop with a 3x10x10 kernel at stride (1, 4, 4). With
a single input channel a direct convolution has almost nothing to vectorise over: on a
2-core CPU it took 0.72 s of a 1.87 s training step of 8 clips (TensorFlow 2.21). Folding
each 4x4 block of pixels into 16 channels and the kernel alike turns it into a 3x3x3
convolution over 16 channels at stride 1, which computes the same sums (the kernel padded
with zeros to 12x12), in 0.31 s.

`fastconv.Conv3D` is a `keras.layers.Conv3D` with the same variables (a kernel of the
declared shape, the bias) and the same class name, which is what a Keras `.weights.h5` keys
a layer's weights by ("conv3d", "conv3d_1", ... in model order), so weights files,
`widen_conv1` and initialisers are the same; only `call` differs. It takes "valid"
padding and strides (1, s, s); pad before it.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lipread")
class Conv3D(keras.layers.Conv3D):
    """Conv3D at strides (1, s, s) as space-to-depth and a stride-1 conv (module doc)."""

    # Not mutated: Keras reads __init__'s parameters, which mutmut's wrapper would hide
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid",
                 **kwargs):  # pragma: no mutate block
        super().__init__(filters, kernel_size, strides=strides, padding=padding, **kwargs)
        self.refuse_unsupported()

    def refuse_unsupported(self):
        st, sh, sw = self.strides
        if st != 1 or sh != sw or self.padding != "valid" or self.groups != 1 or \
                tuple(self.dilation_rate) != (1, 1, 1) or self.data_format != "channels_last":
            raise ValueError("fastconv.Conv3D takes strides (1, s, s), 'valid' padding, "
                             "no dilation or groups, channels last")

    def call(self, inputs):
        s = self.strides[1]
        kt, kh, kw, ci, co = self.kernel.shape
        nh, nw = -(-kh // s), -(-kw // s)  # the kernel in blocks of s x s pixels
        t, h, w = inputs.shape[1:4]
        oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
        rows, cols = (oh - 1 + nh) * s, (ow - 1 + nw) * s  # pixels the blocks cover
        # Pixels past the last full window meet only the kernel's zero padding: crop or pad.
        x = inputs[:, :, :min(h, rows), :min(w, cols)]
        x = ops.pad(x, [[0, 0], [0, 0], [0, max(0, rows - h)], [0, max(0, cols - w)], [0, 0]])
        x = ops.reshape(x, (-1, t, rows // s, s, cols // s, s, ci))
        x = ops.reshape(ops.transpose(x, (0, 1, 2, 4, 3, 5, 6)),
                        (-1, t, rows // s, cols // s, s * s * ci))
        k = ops.pad(self.kernel, [[0, 0], [0, nh * s - kh], [0, nw * s - kw], [0, 0], [0, 0]])
        k = ops.reshape(k, (kt, nh, s, nw, s, ci, co))
        k = ops.reshape(ops.transpose(k, (0, 1, 3, 2, 4, 5, 6)), (kt, nh, nw, s * s * ci, co))
        y = ops.conv(x, ops.cast(k, x.dtype), strides=1, padding="valid")
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y) if self.activation is not None else y
