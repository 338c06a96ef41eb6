"""The design card's network and weights: a short face onto `lipread.model`.

    from modelutil import load_model
    model = load_model()                 # lipnet with the shipped models/lipnet.weights.h5
    model = load_model("tutorial", "models/checkpoint")   # the tutorial's own checkpoint
"""
from lipread.model.loader import (
    ARCHS,
    DEFAULT_WEIGHTS,
    WeightsError,
    build_model,
    load_model,
)

__all__ = ["ARCHS", "DEFAULT_WEIGHTS", "WeightsError", "build_model", "load_model"]
