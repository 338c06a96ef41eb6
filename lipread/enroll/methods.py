"""How a person's reader is adapted from the shipped one: which of its parts learn.

Each method is registered with its docstring as its help (as the decoders are). The
network's shape changes only for `adapters` (a residual 1x1x1 convolution after each of the
three convolutions' batch norms) and `prompt` (a learned image over the padded input);
both start at zero, so every method starts from the general reader, exactly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    doc: str
    learns: Callable[[str], bool]  # of a layer's name: does it train
    lr: float = 1e-3  # its learning rate when none is given (the study's, README)
    epochs: int = 40  # and its epochs (of adapt.SAMPLES_PER_EPOCH clips)
    adapters: bool = False
    prompt: bool = False
    statistics: bool = False  # the batch norms' statistics re-estimated on the clips first


STATS = "stats"  # the method kept when a taught reader fails its check (teach.py)
UNTRAINED = ("tempo", STATS)  # methods that train nothing: a failed check is not tried again


def _front_end(name: str) -> bool:
    return name.startswith(("conv", "bn"))


REGISTRY = {m.name: m for m in (
    Method("full", "every weight fine-tuned (batch-norm statistics re-estimated too)",
           lambda name: True, lr=2e-4, epochs=80),
    Method("body", "every weight but the output layer's (the letters' prior kept)",
           lambda name: name != "chars", lr=2e-4, epochs=80),
    Method("frontend", "the front end only: the three 3-D convolutions and their batch norms",
           _front_end),
    Method("batchnorm", "batch norms only: their statistics, scales and shifts",
           lambda name: name.startswith("bn"), lr=3e-3),
    Method("adapters", "residual 1x1x1 adapters after the three convolutions, and the batch "
           "norms; the rest frozen", lambda name: name.startswith(("adapter", "bn")),
           adapters=True),
    Method("prompt", "a learned input padding and prompt (after Kim et al. 2022); the "
           "network frozen", lambda name: name == "prompt", lr=3e-2, prompt=True),
    Method("tempo", "nothing trained: only the person's tempo, chosen on their clips",
           lambda name: False),
    Method(STATS, "nothing trained: the batch norms' statistics measured on the person's "
           "clips (AdaBN, Li et al. 2016) and their tempo; what teaching keeps when the taught "
           "reader fails its check", lambda name: False, statistics=True),
)}


def describe() -> str:
    """The methods and what each trains, for --help."""
    return "; ".join(f"{m.name}: {m.doc}" for m in REGISTRY.values())


def get(name: str) -> Method:
    if name not in REGISTRY:
        raise ValueError(f"unknown adaptation method {name!r}: choose one of "
                         f"{', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(method: Method, base, tempo: float = 1.0):
    """`base` (the general lipnet inference network) copied into a network shaped for
    `method` (reading at `tempo`), with only the layers the method trains left trainable.
    `base` is unchanged."""
    from lipread.model import networks, widen

    model = networks.build_lipnet(widen.gru_units_of(base), method.adapters, method.prompt,
                                  tempo)
    for layer in base.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    for layer in model.layers:
        layer.trainable = bool(layer.weights) and method.learns(layer.name)
    return model
