"""Training data: GRID clips decoded once to uint8 mouth crops (batches.py makes batches).

Decoding the 800 training videos takes about a minute; the crops (with a small margin
for crop jitter) are cached one .npy file a clip (cropstore.py) by cropcache.py
(`lipread preprocess` fills the cache for a whole corpus, in parallel), so later runs start at
once. Videos that can't be read are skipped, and listed in a report file with the reason.
"""
from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

import numpy as np

from lipread.grid import (
    GRID_WORDS,
    SILENCE_TOKENS,
    alignment_path,
    load_alignment_segments,
    text_to_ids,
)
from lipread.training import cropcache, cropstore
from lipread.video import CROPS, DEFAULT_CROP, N_FRAMES

MAX_LABEL_LEN = 40  # the longest GRID sentence has 31 characters
N_SLOTS = 6  # command, colour, preposition, letter, digit, adverb
WORD_ID = {w: i + 1 for i, w in enumerate(GRID_WORDS)}  # 0: silence


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


class ClipArrays(tuple):
    """(frames, labels, words): unpacks as three, as it always has; .names: the clips kept
    (in the order given; a skipped clip is in none of the arrays), .failures: {skipped
    name: reason}, .report: the report file listing them (None when nothing was skipped).

    frames: uint8 (N, 75, 54, 148), or a cropstore.ClipStore of them (lazy=True);
    labels: int32 (N, 40) padded character ids; words: int32 (N, 75) frame word ids.
    """

    def __new__(cls, frames, labels, words, names, failures=None, report=None):
        self = super().__new__(cls, (frames, labels, words))
        self.names, self.failures, self.report = list(names), dict(failures or {}), report
        return self

    @property
    def frames(self):
        return self[0]

    @property
    def labels(self) -> np.ndarray:
        return self[1]

    @property
    def words(self) -> np.ndarray:
        return self[2]


def load_clip_arrays(data_dir, names, cache_dir=cropstore.DEFAULT_CACHE_DIR, log=print,
                     crop=DEFAULT_CROP, workers=1, lazy=False, report=None) -> ClipArrays:
    """uint8 crops (N, 75, 54, 148), padded labels (N, 40), frame word ids (N, 75).

    The crops come from the crop cache (cropstore.py: one .npy a clip under
    <cache_dir>/clips-<crop>-<key>/, keyed by data folder and crop method, so that crops
    cut one way are never read as the other); missing ones are computed first, by
    `workers` processes. A video that can't be read is skipped, with a line said and its
    reason in a report file (`report`, default <cache root>/skipped-<names key>.tsv);
    the result's .names are the clips kept. A missing or malformed alignment raises
    (AlignmentError), as a wrong data folder would. lazy=True: frames is a
    cropstore.ClipStore that reads each clip when indexed, for corpora bigger than memory.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    names = list(names)
    if not names:
        raise ValueError("no clips to load")
    labels, words = {}, {}
    for name in names:  # alignments first: a wrong folder fails before any decoding
        segments = load_alignment_segments(alignment_path(data_dir, name))
        labels[name] = label_ids([w for _, _, w in segments if w not in SILENCE_TOKENS])
        words[name] = frame_word_targets(segments)
    # A live bar on a terminal; otherwise its lines go with the log's, on stdout, so that
    # stderr keeps to errors (the scripts' one-line error convention).
    bar = (sys.stderr if sys.stderr.isatty() else sys.stdout) if log else False
    done = cropcache.preprocess(data_dir, names, cache_dir, crop, workers, log=log,
                                progress=bar, report=False)
    kept, failures, path = done.names, done.failures, None
    if failures:
        key = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
        path = Path(report) if report else done.root / f"skipped-{key}.tsv"
        cropstore.write_report(path, failures, cropstore.summary_lines(
            data_dir, crop, names, kept, failures, {**done.__dict__}))
        if log:
            log(f"skipped {len(failures)} of {len(names)} clips whose video can't be read "
                f"(e.g. {next(iter(failures))}); the reasons are in {path}")
    if not kept:
        raise ValueError(f"none of the {len(names)} clips could be read: "
                         f"{next(iter(failures.values()))} (all reasons: {path})")
    store = cropstore.ClipStore(done.root, kept)
    return ClipArrays(store if lazy else store.load_all(),
                      np.stack([labels[n] for n in kept]), np.stack([words[n] for n in kept]),
                      kept, failures, path)


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
        ids.append(int(words[c][first]))
    x = np.concatenate([frames[c][a:b] for c, a, b in pieces])  # frames: any sequence
    w = np.concatenate([words[c][a:b] for c, a, b in pieces])
    idx = np.round(np.linspace(0, len(x) - 1, N_FRAMES)).astype(int)
    return x[idx], label_ids([GRID_WORDS[i - 1] for i in ids]), w[idx]

