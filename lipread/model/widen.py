"""Widening a trained lipnet's GRUs without changing what it reads (Net2Net-style).

A lipnet of GRU width u1 > u0 takes a trained u0 network's weights so that it computes
the same function: each of the u0 old units keeps its weights for every input it had and
reads the new inputs and new units with weight 0; the new units start as a fresh
network's, and every weight out of them (into the next GRU and the output heads) is 0, so
they are silent until training grows those weights. Training then has the old network to
start from and u1 - u0 more units per direction to use (toward the paper's GRU 256).

Keras keeps a GRU's three gates (update, reset, candidate) as consecutive blocks of
`units` columns in its kernel (inputs x 3u), recurrent kernel (u x 3u) and bias (2 x 3u);
a Bidirectional layer concatenates the forward and the backward outputs.
"""
from __future__ import annotations

import numpy as np

GATES = 3  # update, reset, candidate
BIGRUS = ("bigru1", "bigru2")
HEADS = ("chars", "words")


def bigru_output_map(u0: int, u1: int) -> np.ndarray:
    """Where each of a u0 BiGRU's 2*u0 outputs sits among a u1 BiGRU's 2*u1."""
    return np.concatenate([np.arange(u0), u1 + np.arange(u0)])


def widen_gru_cell(old, new, rows, u0: int, u1: int):
    """One direction's [kernel, recurrent kernel, bias], u0 units into u1.

    `rows`: for each of the old cell's inputs, its index among the new cell's inputs.
    `new`: the wide cell's fresh weights, kept for the new units' own columns.
    """
    kernel, recurrent, bias = (np.array(w, copy=True) for w in new)
    k0, r0, b0 = old
    for g in range(GATES):
        old_cols, cols = slice(g * u0, (g + 1) * u0), slice(g * u1, g * u1 + u0)
        kernel[:, cols] = 0.0
        kernel[rows, cols] = k0[:, old_cols]
        recurrent[:, cols] = 0.0
        recurrent[:u0, cols] = r0[:, old_cols]
        bias[:, cols] = b0[:, old_cols]
    return [kernel, recurrent, bias]


def gru_units_of(model) -> int:
    return int(model.get_layer("bigru1").forward_layer.units)


def widen_lipnet(narrow, wide) -> None:
    """Set `wide` (a lipnet, training or inference) from the trained `narrow` one.

    Layers both have and that are the same shape (convolutions, batch norm) are copied;
    the GRUs and the output heads are widened. A head `narrow` lacks (the word head of
    an inference network) keeps its fresh weights.
    """
    u0, u1 = gru_units_of(narrow), gru_units_of(wide)
    if u1 < u0:
        raise ValueError(f"cannot narrow GRUs of {u0} units to {u1}")
    names = {layer.name for layer in narrow.layers}
    for layer in wide.layers:
        if layer.name in names and layer.weights and layer.name not in BIGRUS + HEADS:
            layer.set_weights(narrow.get_layer(layer.name).get_weights())
    rows = np.arange(narrow.get_layer("bigru1").input.shape[-1])
    for name in BIGRUS:
        old, new = narrow.get_layer(name).get_weights(), wide.get_layer(name).get_weights()
        wide.get_layer(name).set_weights(
            widen_gru_cell(old[:3], new[:3], rows, u0, u1)
            + widen_gru_cell(old[3:], new[3:], rows, u0, u1))
        rows = bigru_output_map(u0, u1)  # the next layer reads this one's outputs
    for name in HEADS:
        if name not in names:
            continue
        (k0, b0), (k1, _) = narrow.get_layer(name).get_weights(), wide.get_layer(name).get_weights()
        kernel = np.zeros_like(k1)
        kernel[rows] = k0
        wide.get_layer(name).set_weights([kernel, b0])
