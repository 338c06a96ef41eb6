"""The stages from a video file to the network's output, each timed: read (decode at 25 fps),
mouth (find and cut it), network. reading.py decodes and judges what comes out.
"""
from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lipread import mouth, video
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
    decoder in a thread of its own, on the other core): "read" is the time to the last
    frame, "mouth" what finding and cutting the mouth took after it."""
    t0 = time.perf_counter()
    if crop != "landmarks":
        clip = video.read_clip(path, start)
        t1 = time.perf_counter()
        view = video.cut_mouth(clip, crop, path=path)
        return view, {"read": t1 - t0, "mouth": time.perf_counter() - t1}
    frames = Decoding(path, start)
    try:
        track = mouth.locate(frames)
    except mouth.FaceError as err:  # unless the video itself is at fault (said first)
        track = err
    clip = frames.clip()
    t1 = max(frames.ended, t0)
    view = video.cut_mouth(clip, crop, path=path, track=track)
    return view, {"read": t1 - t0, "mouth": time.perf_counter() - t1}


@functools.lru_cache(maxsize=1)
def decoders() -> ThreadPoolExecutor:
    """The threads clips decode in, kept: a new thread's first frames land in memory the
    system must first hand over (measured: a 3 s clip's 7.8 MB of frames stacked in 40-110
    ms, against 2 ms in a thread that has decoded before)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="lipread-decode")


class Decoding:
    """A clip decoding in a thread: frames[t] waits for its t-th 25 fps frame (IndexError
    past the end), len() and clip() for the whole (clip() raises the decoder's error)."""

    def __init__(self, path, start: float = 0.0):
        self._ready, self._done, self._clip, self._error = [], False, None, None
        self.ended = 0.0  # perf_counter() when the decoding ended
        self._changed = threading.Condition()
        self._job = decoders().submit(self._decode, path, start)

    def _decode(self, path, start):
        try:
            self._clip = video.read_clip(path, start, ready=self._publish)
        except BaseException as err:  # raised to the reader by clip()
            self._error = err
        with self._changed:
            self._done, self.ended = True, time.perf_counter()
            if self._clip is not None:
                self._ready = self._clip.frames
            self._changed.notify_all()

    def _publish(self, frames: np.ndarray) -> None:
        with self._changed:
            self._ready = frames
            self._changed.notify_all()

    def __getitem__(self, t: int) -> np.ndarray:
        with self._changed:
            self._changed.wait_for(lambda: self._done or len(self._ready) > t)
            if 0 <= t < len(self._ready):
                return self._ready[t]
        raise IndexError(t)

    def __len__(self) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._done)
            return len(self._ready)

    def clip(self) -> video.Clip:
        self._job.result()
        if self._error is not None:
            raise self._error
        return self._clip


class Ensemble:
    """Several readers as one: their per-frame probabilities averaged."""
    runtime = "ensemble"

    def __init__(self, readers):
        self.readers = tuple(readers)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return sum(predict_probs(r, frames) for r in self.readers) / len(self.readers)
