"""One reading: a video file (or its mouth crops, or the network's output) to a sentence, how
sure it is, and when each word was said. The one path of predict, evaluate, the read page,
Live and Teach.

    import lipread
    reading = lipread.read("bbaf2n.mpg")            # the shipped reader, grammar decoder
    print(reading.sentence, f"{reading.confidence:.0%}")
    print(reading.as_json())                          # as `lipread predict --json` writes it
"""
from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from lipread import confidence, decoding, likeness, pipeline, video
from lipread.model import loader
from lipread.video import DEFAULT_CROP

WEIGHTS_ENV = "LIPREAD_WEIGHTS"  # another weights file read instead of the shipped one


@dataclass
class Reading:
    """What was read: the sentence of `decoder`, the raw tokens, and the grammar reading's
    confidence and words (whatever the decoder)."""
    sentence: str
    decoder: str
    tokens: list[int] = field(repr=False)  # the network's best class per frame, 75 of them (blank = 40)
    confidence: float  # the chance that every word is right, in [0, 1]
    reliable: bool
    words: list[confidence.Word] = field(repr=False)  # the grammar reading's: word, confidence, start_s, end_s
    start_s: float = 0.0  # where in the video the 3 s read begin
    face_likeness: float | None = None  # the mouth's likeness to s1's (likeness.py)
    notices: list[str] = field(default_factory=list)  # how the video was read
    probs: np.ndarray | None = field(default=None, repr=False)  # (75, 41) per frame
    seconds: dict[str, float] = field(default_factory=dict, repr=False)  # pipeline.STAGES
    view: video.MouthClip | None = field(default=None, repr=False)  # the crops, the track

    def as_json(self) -> dict:
        """The keys `lipread predict --json` writes for each video and the page downloads."""
        return {"sentence": self.sentence, "decoder": self.decoder,
                "tokens": [int(t) for t in self.tokens],
                "confidence": round(float(self.confidence), 4), "reliable": bool(self.reliable),
                "words": [{"word": w.word, "confidence": round(float(w.confidence), 4),
                           "start_s": round(float(w.start_s), 2),
                           "end_s": round(float(w.end_s), 2)} for w in self.words],
                "start_s": round(float(self.start_s), 2),
                "face_likeness": None if self.face_likeness is None
                else round(float(self.face_likeness), 3), "notices": list(self.notices)}

    def unsure(self, profile: str | None = None) -> str | None:
        """What to tell a person of an unreliable reading (None when it is reliable): the
        reading is unsure; a face the general reader was not taught is said to be one, and
        a profile's reading names the profile."""
        if self.reliable:
            return None
        said = f"unreliable ({self.confidence:.0%}): "
        if profile is not None:
            return said + f"{profile}'s profile is unsure of this reading; its words may be wrong"
        if self.face_likeness is not None and self.face_likeness < likeness.LIKE_AT:
            return said + ("this face has not been taught (the reader learned GRID's s1), so "
                           "the reading is likely wrong: teach it your face")
        return said + "the reader is unsure of this reading; its words may be wrong"

    def to_json(self, **extra) -> str:
        """as_json() as text, with `extra` keys (a name, the truth) first and last."""
        out = {k: v for k, v in extra.items() if k == "name"}
        out.update(self.as_json())
        out.update({k: v for k, v in extra.items() if k != "name"})
        return json.dumps(out, indent=2) + "\n"


def default_reader():
    """The shipped reader ($LIPREAD_WEIGHTS names another weights file), loaded once."""
    return _loaded(os.environ.get(WEIGHTS_ENV) or None)


@functools.lru_cache(maxsize=2)
def _loaded(weights: str | None):
    return loader.load_network("lipnet", weights)


def from_probs(probs: np.ndarray, decoder: str = decoding.DEFAULT, start_s: float = 0.0,
               **more) -> Reading:
    """The network's (75, 41) output, decoded and judged; `more`: notices, seconds, view."""
    t0 = time.perf_counter()
    judged = confidence.assess(probs)  # the grammar's best path, with each word's margin
    sentence = judged.sentence if decoder == "grammar" else decoding.decode(probs, decoder)
    seconds = {**more.pop("seconds", {}), "decode": time.perf_counter() - t0}
    return Reading(sentence, decoder, decoding.raw_tokens(probs).tolist(), judged.confidence,
                   judged.reliable, judged.words, start_s, probs=probs, seconds=seconds, **more)


def read_crops(crops: np.ndarray, reader=None, decoder: str = decoding.DEFAULT,
               start_s: float = 0.0, **more) -> Reading:
    """75 mouth crops (uint8, as video.cut_mouth cuts them) read by `reader` (None: the
    shipped one)."""
    t0 = time.perf_counter()
    probs = pipeline.predict_probs(reader or default_reader(), video.normalize(crops))[0]
    seconds = {**more.pop("seconds", {}), "network": time.perf_counter() - t0}
    return from_probs(probs, decoder, start_s, seconds=seconds,
                      face_likeness=likeness.likeness(crops), **more)


def read(path, reader=None, decoder: str = decoding.DEFAULT, start: float = 0.0,
         crop: str = DEFAULT_CROP) -> Reading:
    """A video file's 3 s from `start` read by `reader` (lipread.load_reader(); None: the
    shipped reader) and decoded by `decoder`. Raises video.VideoError for a video that can't
    be read (the message says why).

        >>> lipread.read("lbwy9a.mpg").sentence
        'lay blue with y nine again'
    """
    view, seconds = pipeline.look(path, crop, start)
    return read_crops(view.crops, reader, decoder, start, notices=video.notices(view),
                      seconds=seconds, view=view)


def read_many(paths, reader=None, decoder: str = decoding.DEFAULT, start: float = 0.0,
              crop: str = DEFAULT_CROP, batch_size: int = pipeline.BATCH_SIZE):
    """Each of `paths` read as read() reads it, the network given `batch_size` clips at a
    time: yields (path, Reading), or (path, video.VideoError) for one that can't be read."""
    reader = reader or default_reader()
    paths = list(paths)
    for first in range(0, len(paths), batch_size):
        looked = []
        for path in paths[first:first + batch_size]:
            try:
                looked.append((path, *pipeline.look(path, crop, start)))
            except (video.VideoError, OSError) as err:
                yield path, (err if isinstance(err, video.VideoError) else
                             video.VideoError(f"{path}: {err.strerror or err}"))
        if not looked:
            continue
        t0 = time.perf_counter()
        frames = np.stack([video.normalize(view.crops) for _, view, _ in looked])
        probs = pipeline.predict_probs(reader, frames, batch_size)
        each = (time.perf_counter() - t0) / len(looked)
        for (path, view, seconds), p in zip(looked, probs):
            yield path, from_probs(p, decoder, start, notices=video.notices(view), view=view,
                                   seconds={**seconds, "network": each},
                                   face_likeness=likeness.likeness(view.crops))
