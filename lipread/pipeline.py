"""The stages from a video file to the network's output, each timed: read (decode at 25 fps),
mouth (find and cut it), network. reading.py decodes and judges what comes out.
"""
from __future__ import annotations

import functools
import time

import numpy as np

from lipread import feeds, mouth, video
from lipread.video import DEFAULT_CROP, INPUT_SHAPE

STAGES = ("read", "mouth", "network", "decode")  # the keys of Reading.seconds
BATCH_SIZE = 16  # clips a forward pass


@functools.lru_cache(maxsize=4)
def network_fn(model):
    """A compiled forward pass of `model`, made once per model.

    model.predict() sets up a data pipeline on every call (tens of ms); a traced
    tf.function with a fixed input signature runs a single clip in the network's time.
    Under other backends (JAX), predict_on_batch: compiled once, then called directly.
    """
    if getattr(model, "runtime", None) in ("onnx", "ensemble"):  # no Keras at all
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
    with their seconds ({"read": .., "mouth": ..}). Raises video.VideoError.

    With landmarks, the face is found and followed on the frames as they are decoded (the
    decoder in a process or thread of its own, on the other core: feeds.py): "read" is the
    time to the last frame, "mouth" what finding and cutting the mouth took after it."""
    t0 = time.perf_counter()
    if crop != "landmarks":
        clip = video.read_clip(path, start)
        t1 = time.perf_counter()
        view = video.cut_mouth(clip, crop, path=path)
        return view, {"read": t1 - t0, "mouth": time.perf_counter() - t1}
    frames = feeds.feed(path, start)
    try:
        try:
            track = mouth.locate(frames)
        except mouth.FaceError as err:  # unless the video itself is at fault (said first)
            track = err
        clip = frames.clip()
    finally:
        frames.close()
    t1 = max(frames.ended, t0)
    view = video.cut_mouth(clip, crop, path=path, track=track)
    return view, {"read": t1 - t0, "mouth": time.perf_counter() - t1}


class Ensemble:
    """Several readers as one: their per-frame probabilities averaged."""
    runtime = "ensemble"

    def __init__(self, readers):
        self.readers = tuple(readers)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return sum(predict_probs(r, frames) for r in self.readers) / len(self.readers)
