"""Training data: GRID clips decoded once to uint8 mouth crops (batches.py makes batches).

Decoding the 800 training videos takes about a minute; the crops (with a small
margin for crop jitter) are cached as one .npz so later runs start at once.
"""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np

import mouth
from utils import (BLANK_ID, CROP_H, CROP_W, CROPS, DEFAULT_CROP, GRID_WORDS, INPUT_SHAPE,
                   N_FRAMES, SILENCE_TOKENS, alignment_path, load_alignment_segments, load_mouth_frames, text_to_ids,
                   video_path)

MARGIN = mouth.CROP_PAD  # pixels cached around the mouth crop, for jitter of +-4 px
MAX_LABEL_LEN = 40  # the longest GRID sentence has 31 characters
N_SLOTS = 6  # command, colour, preposition, letter, digit, adverb
WORD_ID = {w: i + 1 for i, w in enumerate(GRID_WORDS)}  # 0: silence
DEFAULT_CACHE_DIR = Path(os.environ.get("LIPREAD_CACHE_DIR", ".cache"))


def label_ids(words: list[str]) -> np.ndarray:
    ids = text_to_ids(" ".join(words))
    if len(ids) > MAX_LABEL_LEN:
        raise ValueError(f"sentence longer than {MAX_LABEL_LEN} characters: {words}")
    return np.pad(np.array(ids, dtype=np.int32), (0, MAX_LABEL_LEN - len(ids)))


def frame_word_targets(segments) -> np.ndarray:
    """The GRID word spoken at each of the 75 frames (0 where nobody speaks)."""
    targets = np.zeros(N_FRAMES, dtype=np.int32)
    for start, end, word in segments:
        if word in SILENCE_TOKENS:
            continue
        lo, hi = int(np.floor(start)), int(np.ceil(end))
        targets[max(lo, 0):min(hi, N_FRAMES)] = WORD_ID.get(word, 0)
    return targets


def load_clip_arrays(data_dir, names, cache_dir=DEFAULT_CACHE_DIR, log=print,
                     crop=DEFAULT_CROP):
    """uint8 crops (N, 75, 54, 148), padded labels (N, 40), frame word ids (N, 75).

    Cached per clip list, data folder and crop method (`crop-landmarks-<key>.npz`), so
    that crops cut one way are never read as the other.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    extra = f"|{crop}|{mouth.settings()}" if crop == "landmarks" else ""
    key = hashlib.sha256(("\n".join(names) + f"|{Path(data_dir).resolve()}|{MARGIN}{extra}")
                         .encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"crops-{crop}-{key}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return z["frames"], z["labels"], z["words"]
    frames, labels, words = [], [], []
    for i, name in enumerate(names):
        segments = load_alignment_segments(alignment_path(data_dir, name))
        frames.append(load_mouth_frames(video_path(data_dir, name), margin=MARGIN, crop=crop))
        labels.append(label_ids([w for _, _, w in segments if w not in SILENCE_TOKENS]))
        words.append(frame_word_targets(segments))
        if log and (i + 1) % 100 == 0:
            log(f"decoded {i + 1}/{len(names)} clips")
    arrays = np.stack(frames), np.stack(labels), np.stack(words)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, frames=arrays[0], labels=arrays[1], words=arrays[2])
    os.replace(tmp, cache)  # never a half-written cache under the real name
    return arrays


def split_validation(names, fraction=0.1, seed=0):
    """A seeded validation slice of the training names; the test split is never touched."""
    shuffled = sorted(names)
    random.Random(seed).shuffle(shuffled)
    n_val = max(1, int(round(len(shuffled) * fraction)))
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])


def word_spans(words_row) -> list[tuple[int, int]]:
    """(first, end) frames of each word in a clip's frame word ids, in spoken order."""
    spans, i = [], 0
    while i < len(words_row):
        if words_row[i] == 0:
            i += 1
            continue
        j = i
        while j < len(words_row) and words_row[j] == words_row[i]:
            j += 1
        spans.append((i, j))
        i = j
    return spans


def splice(frames, words, spans, sources):
    """A new GRID sentence: slot k's word (and the pause after it) from clip sources[k].

    With 720 clips each letter is seen about 30 times, always beside the same five
    words; the network learns to recognise a clip rather than read its letter.
    Cut at the alignments' word boundaries and rejoined, every slot must be read from
    its own frames. The joined pieces are resampled to 75 frames (a mild time stretch).
    """
    pieces, ids = [(sources[0], 0, spans[sources[0]][0][0])], []
    for k, c in enumerate(sources):
        first, _ = spans[c][k]
        end = spans[c][k + 1][0] if k + 1 < N_SLOTS else N_FRAMES
        pieces.append((c, first, end))
        ids.append(int(words[c, first]))
    x = np.concatenate([frames[c, a:b] for c, a, b in pieces])
    w = np.concatenate([words[c, a:b] for c, a, b in pieces])
    idx = np.round(np.linspace(0, len(x) - 1, N_FRAMES)).astype(int)
    return x[idx], label_ids([GRID_WORDS[i - 1] for i in ids]), w[idx]


def ctc_loss(y_true, y_pred):
    """CTC loss with each sample's true label length (labels are padded with id 0)."""
    import keras
    from keras import ops

    labels = ops.cast(y_true, "int32")
    label_len = ops.sum(ops.cast(ops.not_equal(labels, 0), "int32"), axis=-1)
    batch, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    logit_len = ops.full((batch,), frames, dtype="int32")
    # The network outputs probabilities; log() of them are valid logits for CTC.
    log_probs = ops.log(ops.clip(y_pred, 1e-8, 1.0))
    return keras.ops.ctc_loss(labels, log_probs, label_len, logit_len, mask_index=BLANK_ID)
