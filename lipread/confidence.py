"""How sure a reading is, from the network's per-frame probabilities, per word and per
sentence, in [0, 1].

A word's margin is how much more likely the grammar's best path is than the best path
with another word in that slot (log-probabilities, Viterbi paths through the GRID
grammar); its confidence is that margin through a logistic curve fitted on the validation
slice (whether each word was read right). A sentence's confidence is the product of its
words' (the chance that all six are right); it is reliable from RELIABLE_AT up.

    reading = confidence.assess(probs)  # .sentence, .confidence, .reliable, .words
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lipread.constants import FPS
from lipread.decoding import grammar_graph

# Fitted by `python -m experiments confidence fit` (the 80 clips of the validation slice,
# 480 words: logistic regression of right/wrong on the margin).
WORD_SLOPE, WORD_BIAS = 0.2667, -0.0145
# The threshold that keeps 95% of the validation clips reliable (their 5th percentile):
# it marks 80% of the readings of other faces (GRID's s26, s31) unreliable.
RELIABLE_AT = 0.30


@dataclass
class Word:
    word: str
    confidence: float  # in [0, 1]: the calibrated chance that the word is right
    start_s: float  # where the best path says it, in seconds of the 3 s window
    end_s: float
    margin: float  # log-probability of the best path over the best without this word


@dataclass
class Assessment:
    sentence: str  # the grammar decoder's
    confidence: float  # the chance that every word is right
    reliable: bool
    words: list[Word] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"confidence": round(self.confidence, 4), "reliable": self.reliable,
                "words": [{"word": w.word, "confidence": round(w.confidence, 4),
                           "start_s": round(w.start_s, 2), "end_s": round(w.end_s, 2)}
                          for w in self.words]}


def word_confidence(margin: float, slope: float = WORD_SLOPE, bias: float = WORD_BIAS) -> float:
    """The logistic curve of a word's margin (other slope and bias: a candidate's)."""
    return float(1.0 / (1.0 + np.exp(-(slope * margin + bias))))


def margins(probs: np.ndarray) -> list[tuple[str, float, int, int]]:
    """(word, margin, first frame, last frame) for each word of the grammar's best path."""
    graph = grammar_graph()
    words, score, nodes, through = graph.best_through(probs)
    out = []
    for slot, word in enumerate(words):
        frames = np.flatnonzero(np.isin(nodes, graph.word_nodes[(slot, word)]))
        rival = max(s for (k, w), s in through.items() if k == slot and w != word)
        out.append((word, score - rival, int(frames[0]), int(frames[-1])))
    return out


def assess(probs: np.ndarray) -> Assessment:
    """The grammar reading of (75, 41) probabilities, with its confidences."""
    words = [Word(w, word_confidence(m), first / FPS, (last + 1) / FPS, float(m))
             for w, m, first, last in margins(probs)]
    sentence_conf = float(np.prod([w.confidence for w in words]))
    return Assessment(" ".join(w.word for w in words), sentence_conf,
                      sentence_conf >= RELIABLE_AT, words)
