"""Training batches in NumPy, the same under every Keras backend (TensorFlow, JAX).

A `ClipBatches` is a keras.utils.PyDataset over the cached uint8 crops of dataset.py:
each epoch every clip once in a new seeded order, augmented (crop jitter, mirroring,
frames dropped and duplicated, time masks, optionally a small warp, sub-sentences,
spliced sentences and mixup), with the targets the training losses read (losses.py):

    chars: (B, 2 * MAX_LABEL_LEN + 2 [+ 75 * 41])  labels of clip a, of clip b, the mixing
           ratio of a, whether the teacher term counts, [the teacher's per-frame probabilities]
    words: (B, 2 * 75 + 1)  frame word ids of clip a, of clip b, the mixing ratio of a

Without mixup clip b is clip a and the ratio 1; validation batches are centred crops,
ratio 1, teacher term off, so their chars loss is the plain CTC loss.
"""
from __future__ import annotations

import math

import cv2
import keras
import numpy as np

from lipread.grid import BLANK_ID, NUM_CLASSES
from lipread.training import dataset, recipe
from lipread.training.cropstore import MARGIN, center
from lipread.video import CROP_H, CROP_W, N_FRAMES, normalize

MAX_TIME_JITTER = 3  # frames dropped and as many duplicated, per clip
MAX_MASK_FRAMES = 10  # a time mask hides up to 0.4 s at 25 fps (Ma et al. 2022, one a second)
MIXUP_ALPHA = 0.4  # mixing ratio ~ Beta(0.4, 0.4): mostly near 0 or 1 (Zhang et al. 2018)
WARP_SCALE = 0.08  # a warped clip is scaled by up to +-8%,
WARP_DEGREES = 6.0  # turned by up to +-6 degrees (the landmark crop levels the eyes already)
WARP_GAMMA = 0.25  # and its grey levels bent by a gamma in [1/1.25, 1.25]; per-clip
# normalisation cancels any brightness or contrast change, a gamma it does not


def time_mask(x: np.ndarray, n_masks: int, rng, max_width: int = MAX_MASK_FRAMES):
    """n_masks runs of up to max_width frames set to 0, the clip's mean once normalised.

    SpecAugment's time masking for video: the network must read a word from the frames
    left around it rather than from one tell-tale frame of a clip it has memorised.
    """
    x = x.copy()
    for _ in range(n_masks):
        width = int(rng.integers(0, max_width + 1))
        start = int(rng.integers(0, N_FRAMES - width + 1))
        x[start:start + width] = 0
    return x


def warp(frames: np.ndarray, rng) -> np.ndarray:
    """One random scale, turn and gamma for the whole clip, about the crop's centre."""
    h, w = frames.shape[1:3]
    scale = 1 + rng.uniform(-WARP_SCALE, WARP_SCALE)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-WARP_DEGREES, WARP_DEGREES), scale)
    gamma = math.exp(rng.uniform(-1, 1) * math.log(1 + WARP_GAMMA))
    table = np.round(255 * (np.arange(256) / 255) ** gamma).astype(np.uint8)
    return np.stack([cv2.LUT(cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE), table)
                     for f in frames])


def sub_sentence(x, label, words, teacher, rng):
    """Words i..j-1 of the clip alone: the rest of the frames blanked, the label cut to them
    (the LipNet paper trains on single words and sub-sentences as extra examples)."""
    spans = dataset.word_spans(words)
    if len(spans) < 2:
        return x, label, words, teacher
    i = int(rng.integers(0, len(spans)))
    j = int(rng.integers(i + 1, len(spans) + 1))
    first, end = spans[i][0], spans[j - 1][1]
    x = x.copy()
    x[:first], x[end:] = 0, 0
    said = [dataset.GRID_WORDS[words[a] - 1] for a, _ in spans[i:j]]
    kept = np.zeros_like(words)
    kept[first:end] = words[first:end]
    if teacher is not None:
        teacher = teacher.copy()
        teacher[:first], teacher[end:] = 0, 0
        teacher[:first, BLANK_ID], teacher[end:, BLANK_ID] = 1, 1
    return x, dataset.label_ids(said), kept, teacher


def augment(frames, words, rng, time_masks=0, warp_prob=0.0, teacher=None):
    """Crop jitter, mirroring, a few frames dropped and duplicated, warp and time masks.

    Takes a cached uint8 clip with its margin; returns the normalised network input, the
    frame word ids and the teacher's probabilities moved with the frames they belong to.
    """
    if warp_prob and rng.random() < warp_prob:
        frames = warp(frames, rng)
    dy, dx = rng.integers(0, 2 * MARGIN + 1, size=2)
    x = frames[:, dy:dy + CROP_H, dx:dx + CROP_W]
    if rng.random() < 0.5:
        x = x[:, :, ::-1]
    k = int(rng.integers(0, MAX_TIME_JITTER + 1))
    keep = np.sort(rng.permutation(N_FRAMES)[:N_FRAMES - k])
    idx = np.sort(np.concatenate([keep, rng.choice(keep, k, replace=False)]))
    x = time_mask(normalize(x[idx]), time_masks, rng)
    return x, words[idx], None if teacher is None else teacher[idx]


def pack(label_a, label_b, lam, kd_on, words_a, words_b, teacher=None):
    """One sample's targets in the layout the losses of losses.py unpack."""
    chars = [label_a, label_b, [lam, kd_on]]
    if teacher is not None:
        chars.append(teacher.reshape(-1))
    chars = np.concatenate([np.asarray(c, np.float32).reshape(-1) for c in chars])
    return chars, np.concatenate([words_a, words_b, [lam]]).astype(np.float32)


class ClipBatches(keras.utils.PyDataset):
    """Batches of (frames, (chars targets, words targets)) from cached crops."""

    def __init__(self, frames, labels, words, batch_size, training, seed=0,
                 drop_remainder=None, time_masks=0, warp_prob=0.0, splice_prob=0.0,
                 sub_sentence_prob=0.0, mixup_prob=0.0, teacher=None, teacher_cols=None,
                 max_steps=None, workers=recipe.LOADER_THREADS):
        # Threads (NumPy and the mmap reads let go of the GIL), each making whole batches
        # ahead into a queue while the network trains on the last one.
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=4)
        self.frames, self.labels, self.words = frames, labels, words
        self.batch_size, self.training, self.seed = batch_size, training, seed
        self.drop = training if drop_remainder is None else drop_remainder
        self.time_masks, self.warp_prob, self.splice_prob = time_masks, warp_prob, splice_prob
        self.sub_sentence_prob, self.mixup_prob = sub_sentence_prob, mixup_prob
        self.teacher = teacher  # (N, 75, 41) float16 probabilities, or None
        # Validation batches of a distilled run carry the columns too, zeros, switched off.
        self.teacher_cols = teacher is not None if teacher_cols is None else teacher_cols
        self.max_steps, self.epoch = max_steps, 0
        self.spans = [dataset.word_spans(row) for row in words] if splice_prob else None
        self.order = self._order()

    def _order(self):
        if not self.training:
            return np.arange(len(self.frames))
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.frames))

    def __len__(self):
        n = len(self.frames)
        steps = n // self.batch_size if self.drop else math.ceil(n / self.batch_size)
        return min(steps, self.max_steps) if self.max_steps else steps

    def on_epoch_end(self):
        self.epoch += 1
        self.order = self._order()

    def _clip(self, i, rng):
        """Clip i as (uint8 frames, label, frame words, teacher), spliced sometimes."""
        teacher = None if self.teacher is None else self.teacher[i].astype(np.float32)
        whole = [c for c, s in enumerate(self.spans or []) if len(s) == dataset.N_SLOTS]
        if self.training and whole and rng.random() < self.splice_prob:
            sources = rng.choice(whole, dataset.N_SLOTS)
            x, label, w = dataset.splice(self.frames, self.words, self.spans, sources)
            if teacher is not None:
                teacher = dataset.splice(self.teacher, self.words, self.spans,
                                         sources)[0].astype(np.float32)
            return x, label, w, teacher
        return self.frames[i], self.labels[i], self.words[i], teacher

    def _sample(self, i, rng):
        x, label, w, teacher = self._clip(i, rng)
        if not self.training:
            return center(x), label, w, teacher
        x, w, teacher = augment(x, w, rng, self.time_masks, self.warp_prob, teacher)
        if rng.random() < self.sub_sentence_prob:
            x, label, w, teacher = sub_sentence(x, label, w, teacher, rng)
        return x, label, w, teacher

    def __getitem__(self, step):
        if step >= len(self):
            raise IndexError(step)
        rng = np.random.default_rng((self.seed, self.epoch, step))
        ids = self.order[step * self.batch_size:(step + 1) * self.batch_size]
        samples = [self._sample(i, rng) for i in ids]
        xs, chars, words = [], [], []
        for a, (x, label, w, teacher) in enumerate(samples):
            lam, kd_on = 1.0, float(self.training and teacher is not None)
            label_b, w_b = label, w
            if self.training and len(samples) > 1 and rng.random() < self.mixup_prob:
                b = samples[(a + 1 + int(rng.integers(0, len(samples) - 1))) % len(samples)]
                lam = float(rng.beta(MIXUP_ALPHA, MIXUP_ALPHA))
                x = lam * x + (1 - lam) * b[0]
                label_b, w_b = b[1], b[2]
                if teacher is not None:
                    teacher = lam * teacher + (1 - lam) * b[3]
            if self.teacher_cols and teacher is None:
                teacher = np.zeros((N_FRAMES, NUM_CLASSES), np.float32)
            c, wt = pack(label, label_b, lam, kd_on, w, w_b, teacher)
            xs.append(x)
            chars.append(c)
            words.append(wt)
        return np.stack(xs).astype(np.float32), (np.stack(chars), np.stack(words))
