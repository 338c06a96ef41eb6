"""From a video file to a sentence, the one pipeline of the page and the CLI, timed stage by
stage: read (decode at 25 fps), mouth (find and cut it), network, decode.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from lipread import decoding, video
from lipread.video import DEFAULT_CROP, INPUT_SHAPE

STAGES = ("read", "mouth", "network", "decode")  # the keys of Transcript.seconds
BATCH_SIZE = 16  # clips a forward pass


@dataclass
class Transcript:
    sentence: str
    tokens: list[int]  # the network's best class per frame, raw (blank = 40)
    probs: np.ndarray  # (75, 41) per-frame class probabilities
    seconds: dict[str, float] = field(default_factory=dict)  # each of STAGES that ran
    notices: list[str] = field(default_factory=list)  # how the video was read (video.notices)
    view: video.MouthClip | None = None  # the crops and where the mouth was found


@functools.lru_cache(maxsize=4)
def network_fn(model):
    """A compiled forward pass of `model`, made once per model.

    model.predict() sets up a data pipeline on every call (tens of ms); a traced
    tf.function with a fixed input signature runs a single clip in the network's time.
    Under other backends (JAX), predict_on_batch: compiled once, then called directly.
    """
    if getattr(model, "runtime", None) == "onnx":  # model/onnx_reader.py: no Keras at all
        return model
    import keras

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
                 reduce_retracing=True)
    def forward(frames):
        return model(frames, training=False)
    return forward


def predict_probs(model, frames: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """(N, 75, 46, 140, 1) normalised frames to (N, 75, 41) probabilities."""
    fn = network_fn(model)
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim == len(INPUT_SHAPE):
        frames = frames[None]
    return np.concatenate([np.asarray(fn(frames[i:i + batch_size]))
                           for i in range(0, len(frames), batch_size)])


def look(path, crop: str = DEFAULT_CROP, start: float = 0.0) -> tuple[video.MouthClip, dict]:
    """The first two stages: 3 s of the video from `start` read, and the mouth cut out;
    with their seconds ({"read": .., "mouth": ..}). Raises video.VideoError."""
    t0 = time.perf_counter()
    clip = video.read_clip(path, start)
    t1 = time.perf_counter()
    view = video.cut_mouth(clip, crop, path=path)
    return view, {"read": t1 - t0, "mouth": time.perf_counter() - t1}


def transcribe_frames(model, frames: np.ndarray, decoder: str = decoding.DEFAULT) -> Transcript:
    """The last two stages: normalised frames through the network, then decoded."""
    t0 = time.perf_counter()
    probs = predict_probs(model, frames)[0]
    t1 = time.perf_counter()
    sentence = decoding.decode(probs, decoder)
    t2 = time.perf_counter()
    return Transcript(sentence, decoding.raw_tokens(probs).tolist(), probs,
                      {"network": t1 - t0, "decode": t2 - t1})


def transcribe(model, path, decoder: str = decoding.DEFAULT, crop: str = DEFAULT_CROP,
               start: float = 0.0) -> Transcript:
    """One video file to its sentence: 3 s from `start` (raises video.VideoError)."""
    view, seconds = look(path, crop, start)
    result = transcribe_frames(model, video.normalize(view.crops), decoder)
    result.seconds = {**seconds, **result.seconds}
    result.notices, result.view = video.notices(view), view
    return result
