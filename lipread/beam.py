"""CTC prefix beam search in NumPy: the beam decoder without TensorFlow.

The same search as TensorFlow's CTC beam search decoder (tensorflow/core/util/ctc/
ctc_beam_search.h, which Keras' `ctc_decode(strategy="beam_search")` runs), step for step:
each frame, every prefix in the beam carries P(ends in blank) and P(ends in its last
label); a prefix's label mass flows in from its parent only while the parent is still in
the beam; new prefixes are grown only from the beam and only where the child is not in it
already; the beam keeps the `width` most probable. Classes: 0..C-2 labels, C-1 the blank.
"""
from __future__ import annotations

import numpy as np

NEG_INF = -np.inf
LOG_FLOOR = 1e-12  # keeps log() finite for probabilities that underflowed to 0


def _logaddexp(a, b):
    return np.logaddexp(a, b)


def search(probs: np.ndarray, width: int) -> list[int]:
    """The most probable label sequence of (T, C) per-frame probabilities (blank: C-1)."""
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), LOG_FLOOR))
    n_labels = logp.shape[1] - 1
    prefixes: list[tuple[int, ...]] = [()]
    blank, label = np.array([0.0]), np.array([NEG_INF])
    for frame in logp:
        total = _logaddexp(blank, label)
        index = {p: i for i, p in enumerate(prefixes)}
        last = np.array([p[-1] if p else -1 for p in prefixes])
        parent = np.array([index.get(p[:-1], -1) if p else -1 for p in prefixes])
        # the beam's own prefixes: label mass from the parent (if in the beam), then this frame
        inflow = np.where(parent >= 0, np.where(last == last[parent], blank[parent],
                                                total[parent]), NEG_INF)
        own_label = np.where(last >= 0, _logaddexp(label, inflow)
                             + frame[np.maximum(last, 0)], NEG_INF)
        own_blank = total + frame[-1]
        # children not in the beam: P(parent ends in blank) before a repeated label
        grown = np.where(np.arange(n_labels)[None, :] == last[:, None], blank[:, None],
                         total[:, None]) + frame[None, :n_labels]
        for i, p in enumerate(prefixes):
            if p and parent[i] >= 0:
                grown[parent[i], p[-1]] = NEG_INF  # already in the beam: grown there
        scores = np.concatenate([_logaddexp(own_blank, own_label), grown.ravel()])
        keep = np.argsort(-scores, kind="stable")[:width]
        keep = keep[scores[keep] > NEG_INF]
        new_prefixes, new_blank, new_label = [], [], []
        for k in keep:
            if k < len(prefixes):
                new_prefixes.append(prefixes[k])
                new_blank.append(own_blank[k])
                new_label.append(own_label[k])
            else:
                b, lab = divmod(int(k) - len(prefixes), n_labels)
                new_prefixes.append(prefixes[b] + (lab,))
                new_blank.append(NEG_INF)
                new_label.append(grown[b, lab])
        prefixes, blank, label = new_prefixes, np.array(new_blank), np.array(new_label)
    best = int(np.argmax(_logaddexp(blank, label)))
    return list(prefixes[best])
