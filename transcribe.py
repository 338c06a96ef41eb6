"""From a video file to a sentence: load, run the network, decode; timed step by step."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import decoding
import utils
from utils import DEFAULT_CROP, INPUT_SHAPE


@dataclass
class Transcript:
    sentence: str
    tokens: list[int]  # the network's best class per frame, raw (blank = 40)
    probs: np.ndarray  # (75, 41) per-frame class probabilities
    seconds: dict[str, float] = field(default_factory=dict)  # read, mouth, network, decode
    notices: list[str] = field(default_factory=list)  # how the video was read (utils.notices)
    view: utils.MouthClip | None = None  # the crops and where the mouth was found


def network_fn(model):
    """A compiled forward pass of `model`, made once per model and kept on it.

    model.predict() sets up a data pipeline on every call (tens of ms); a traced
    tf.function with a fixed input signature runs a single clip in the network's time.
    Under other backends (JAX), predict_on_batch: compiled once, then called directly.
    """
    fn = getattr(model, "_lipread_forward", None)
    if fn is None:
        import keras

        if keras.backend.backend() != "tensorflow":
            model._lipread_forward = model.predict_on_batch
            return model._lipread_forward
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
                     reduce_retracing=True)
        def fn(frames):
            return model(frames, training=False)
        model._lipread_forward = fn
    return fn


def predict_probs(model, frames: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(N, 75, 46, 140, 1) normalised frames to (N, 75, 41) probabilities."""
    fn = network_fn(model)
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == len(INPUT_SHAPE):
        frames = frames[None]
    return np.concatenate([np.asarray(fn(frames[i:i + batch_size]))
                           for i in range(0, len(frames), batch_size)])


def transcribe_frames(model, frames: np.ndarray, decoder: str = "greedy") -> Transcript:
    t0 = time.perf_counter()
    probs = predict_probs(model, frames)[0]
    t1 = time.perf_counter()
    sentence = decoding.decode(probs, decoder)
    t2 = time.perf_counter()
    return Transcript(sentence, decoding.raw_tokens(probs).tolist(), probs,
                      {"network": t1 - t0, "decode": t2 - t1})


def transcribe(model, path, decoder: str = "greedy", crop: str = DEFAULT_CROP,
               start: float = 0.0) -> Transcript:
    """One video file to its sentence: 3 s from `start` (raises utils.VideoError)."""
    t0 = time.perf_counter()
    clip = utils.read_clip(path, start)
    t1 = time.perf_counter()
    view = utils.cut_mouth(clip, crop, path=path)
    t2 = time.perf_counter()
    result = transcribe_frames(model, utils.normalize(view.crops), decoder)
    result.seconds = {"read": t1 - t0, "mouth": t2 - t1, **result.seconds}
    result.notices, result.view = utils.notices(view), view
    return result
