"""The NumPy training batches (batches.py) and the losses that read them (losses.py)."""
from __future__ import annotations

import numpy as np
import pytest

from lipread.training import cropstore


@pytest.fixture(scope="module")
def cached(grid_dir, tmp_path_factory):
    """Six training clips as lipread train caches them: uint8 crops with margin, labels, words."""
    from lipread import grid
    from lipread.training import dataset
    names = grid.read_names(grid_dir / "splits" / "train.txt")[:6]
    return dataset.load_clip_arrays(grid_dir, names, tmp_path_factory.mktemp("cache"), log=None)


def random_probs(seed, n=2):
    from lipread import grid
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(grid.NUM_CLASSES), size=(n, 75)).astype("float32")


def test_validation_batches_are_the_inference_input_with_the_plain_ctc_loss(cached):
    from lipread.training import batches, losses
    frames, labels, words = cached
    val = batches.ClipBatches(frames, labels, words, 4, training=False)
    assert len(val) == 2  # 6 clips, the last batch short
    x, (chars, w) = val[0]
    for i in range(4):
        np.testing.assert_array_equal(x[i], cropstore.center(frames[i]))
    np.testing.assert_array_equal(chars[:, :40], labels[:4])
    assert (chars[:, 80] == 1).all() and (chars[:, 81] == 0).all()
    probs = random_probs(0, 4)
    np.testing.assert_allclose(losses.chars_loss()(chars, probs),
                               losses.ctc_loss(labels[:4], probs), rtol=1e-5)
    with pytest.raises(IndexError):
        val[2]


def test_training_batches_are_seeded_and_reshuffled_each_epoch(cached):
    from lipread.training import batches
    a = batches.ClipBatches(*cached, 3, training=True, seed=5, time_masks=2, warp_prob=0.5)
    b = batches.ClipBatches(*cached, 3, training=True, seed=5, time_masks=2, warp_prob=0.5)
    assert len(a) == 2
    np.testing.assert_array_equal(a[1][0], b[1][0])
    first = a.order.copy()
    a.on_epoch_end()
    assert sorted(a.order) == list(range(6)) and not np.array_equal(a.order, first)
    assert sorted(map(tuple, np.concatenate([a[i][1][0][:, :40] for i in range(2)]))) == \
        sorted(map(tuple, cached[1].astype("float32")))  # every clip once an epoch
    assert not np.array_equal(a[0][0], b[0][0])  # another epoch, other draws


def test_mixup_mixes_two_clips_of_the_batch_and_both_losses(cached):
    from lipread.training import batches, losses
    ds = batches.ClipBatches(*cached, 6, training=True, seed=1, mixup_prob=1.0)
    x, (chars, words) = ds[0]
    lam = chars[:, 80]
    assert ((lam >= 0) & (lam <= 1)).all() and (lam < 1).any()
    labels = {tuple(l) for l in cached[1].astype("float32")}
    for row in chars:  # label b is another clip's of the same batch
        assert tuple(row[:40]) in labels and tuple(row[40:80]) in labels
        assert not np.array_equal(row[:40], row[40:80])
    probs = random_probs(1, 6)
    a, b = chars[:, :40].astype("int32"), chars[:, 40:80].astype("int32")
    expected = lam * losses.ctc_loss(a, probs) + (1 - lam) * losses.ctc_loss(b, probs)
    np.testing.assert_allclose(losses.chars_loss()(chars, probs), expected, rtol=1e-5)
    logits = np.random.default_rng(2).normal(size=(6, 75, 52)).astype("float32")
    import keras
    ce = keras.losses.sparse_categorical_crossentropy
    wa, wb = words[:, :75].astype("int32"), words[:, 75:150].astype("int32")
    expected = lam[:, None] * ce(wa, logits, from_logits=True) + \
        (1 - lam[:, None]) * ce(wb, logits, from_logits=True)
    np.testing.assert_allclose(losses.words_loss(words, logits), expected, rtol=1e-5)


def test_distillation_is_zero_for_the_teacher_itself_and_switched_per_sample():
    from lipread.training import batches, dataset, losses
    probs, other = random_probs(3), random_probs(4)
    np.testing.assert_allclose(losses.distillation(probs.reshape(2, -1), probs), 0, atol=1e-4)
    kl = np.asarray(losses.distillation(other.reshape(2, -1), probs))
    direct = (other * (np.log(other) - np.log(probs))).sum(axis=(1, 2))
    np.testing.assert_allclose(kl, direct, rtol=1e-4)
    # softened by T = 2: p ** (1/T), renormalised, on both sides; the KL times T^2
    soft_o, soft_p = (q ** 0.5 / (q ** 0.5).sum(-1, keepdims=True) for q in (other, probs))
    direct = 4 * (soft_o * (np.log(soft_o) - np.log(soft_p))).sum(axis=(1, 2))
    np.testing.assert_allclose(losses.distillation(other.reshape(2, -1), probs, 2.0), direct,
                               rtol=1e-4)
    label = dataset.label_ids(["bin", "blue"])
    rows = [batches.pack(label, label, 1.0, on, np.zeros(75), np.zeros(75), other[i])[0]
            for i, on in enumerate((1.0, 0.0))]
    total = np.asarray(losses.chars_loss(0.5)(np.stack(rows), probs))
    ctc = np.asarray(losses.ctc_loss(np.stack([label, label]), probs))
    np.testing.assert_allclose(total, ctc + [0.5 * kl[0], 0], rtol=1e-4)


def test_augmentation_moves_the_teacher_and_the_words_with_their_frames():
    from lipread import grid
    from lipread.training import batches
    # Frame t is grey level 3t; its teacher row is one-hot at t mod 41, its word t mod 52.
    frames = np.repeat((np.arange(75) * 3).astype(np.uint8)[:, None, None], 54, 1)
    frames = np.repeat(frames, 148, 2)
    teacher = np.eye(grid.NUM_CLASSES, dtype=np.float32)[np.arange(75) % grid.NUM_CLASSES]
    words = (np.arange(75) % 52).astype(np.int32)
    for seed in range(5):
        x, w, t = batches.augment(frames, words, np.random.default_rng(seed), teacher=teacher)
        # The source frame of each output frame, from its teacher row and word together
        # (41 and 52 are coprime: t mod 41 and t mod 52 name t among 0-74).
        src = np.array([next(s for s in range(75) if s % grid.NUM_CLASSES == a and s % 52 == b)
                        for a, b in zip(t.argmax(-1), w)])
        assert (np.diff(src) >= 0).all() and 72 <= len(np.unique(src)) <= 75
        # The frames went with them: the normalised grey is affine in the source frame.
        grey = x[:, 0, 0, 0]
        fit = np.polyval(np.polyfit(src, grey, 1), src)
        np.testing.assert_allclose(grey, fit, atol=1e-4)
        assert np.polyfit(src, grey, 1)[0] > 0


def test_time_masks_blank_whole_frames_and_nothing_else(grid_dir, test_names):
    from lipread import grid, video
    from lipread.training import batches
    x = video.load_video(grid.video_path(grid_dir, test_names[0]))
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(batches.time_mask(x, 0, rng), x)
    counts = []
    for _ in range(20):
        y = batches.time_mask(x, 3, rng)
        blanked = np.all(y == 0, axis=(1, 2, 3))
        np.testing.assert_array_equal(y[~blanked], x[~blanked])
        assert blanked.sum() <= 3 * batches.MAX_MASK_FRAMES
        counts.append(int(blanked.sum()))
    assert max(counts) > 0


def test_sub_sentence_keeps_a_run_of_words_and_its_label(cached):
    from lipread import grid
    from lipread.training import batches, dataset
    frames, labels, words = cached
    x = cropstore.center(frames[0])
    teacher = np.full((75, grid.NUM_CLASSES), 1 / grid.NUM_CLASSES, np.float32)
    seen = set()
    for seed in range(30):
        y, label, w, t = batches.sub_sentence(x, labels[0], words[0], teacher,
                                              np.random.default_rng(seed))
        kept = [dataset.GRID_WORDS[w[a] - 1] for a, _ in dataset.word_spans(w)]
        assert grid.ids_to_text(label) == " ".join(kept) and kept
        assert " ".join(kept) in grid.ids_to_text(labels[0])
        spoken = w > 0
        np.testing.assert_array_equal(y[spoken], x[spoken])
        first, last = np.flatnonzero(spoken)[[0, -1]]
        assert (y[:first] == 0).all() and (y[last + 1:] == 0).all()
        assert (t[:first].argmax(-1) == grid.BLANK_ID).all()
        seen.add(len(kept))
    assert {1, 6} <= seen or len(seen) >= 3


def test_warp_keeps_the_crop_and_moves_it_a_little(cached):
    """One random scale, turn and gamma for the whole clip: a clip of one repeated frame
    stays one repeated frame; with no scale, turn or gamma drawn the clip is unchanged;
    otherwise it changes, a little, and differently for another draw."""
    from lipread.training import batches

    class Zero:  # an rng whose every draw is the middle of its range: no warp at all
        def uniform(self, low, high):
            return (low + high) / 2

    frames = cached[0][0]
    np.testing.assert_array_equal(batches.warp(frames, Zero()), frames)
    out = batches.warp(frames, np.random.default_rng(0))
    assert out.shape == frames.shape and out.dtype == np.uint8
    diff = np.abs(out.astype(int) - frames).mean()
    assert 0.5 < diff < 40, diff
    still = np.repeat(frames[:1], len(frames), axis=0)
    warped = batches.warp(still, np.random.default_rng(1))
    assert (warped == warped[:1]).all() and not np.array_equal(warped[0], still[0])
    assert not np.array_equal(batches.warp(frames, np.random.default_rng(2)), out)


def brute_force_ctc(probs: np.ndarray, label: list[int], blank: int) -> float:
    """-log P(label | probs) by summing every path over the label's symbols and the blank
    that collapses (repeats merged, then blanks dropped) to the label: CTC's definition,
    with no dynamic programming."""
    import itertools

    symbols = sorted(set(label)) + [blank]
    total = 0.0
    for path in itertools.product(symbols, repeat=len(probs)):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in merged if c != blank] == label:
            total += float(np.prod([probs[t, c] for t, c in enumerate(path)]))
    return -np.log(total)


def test_ctc_loss_is_ctcs_definition_on_small_cases():
    """losses.ctc_loss against the brute-force sum of paths: a plain label, a doubled
    letter (which needs a blank between its two), a label as long as it can be, and labels
    of different lengths in one batch (padded with 0)."""
    from lipread import grid
    from lipread.training import losses

    rng = np.random.default_rng(0)
    a, b = grid.text_to_ids("a")[0], grid.text_to_ids("b")[0]
    cases = [[a, b], [a, a], [b, a, b], [a]]
    frames = 6
    probs = rng.dirichlet(np.ones(grid.NUM_CLASSES) * 0.3, size=(len(cases), frames))
    probs = probs.astype("float32")
    padded = np.zeros((len(cases), 8), np.int32)
    for i, label in enumerate(cases):
        padded[i, :len(label)] = label
    got = np.asarray(losses.ctc_loss(padded, probs))
    want = [brute_force_ctc(probs[i].astype(np.float64), label, grid.BLANK_ID)
            for i, label in enumerate(cases)]
    np.testing.assert_allclose(got, want, rtol=1e-4)


def forward_ctc(probs: np.ndarray, label: list[int], blank: int) -> float:
    """-log p(label | probs) by CTC's forward recursion (Graves et al. 2006), in NumPy."""
    ext = [blank]
    for c in label:
        ext += [c, blank]
    alpha = np.zeros(len(ext))
    alpha[0], alpha[1] = probs[0, blank], probs[0, ext[1]]
    for t in range(1, len(probs)):
        prev = alpha.copy()
        for s in range(len(ext)):
            total = prev[s] + (prev[s - 1] if s >= 1 else 0.0)
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                total += prev[s - 2]
            alpha[s] = total * probs[t, ext[s]]
    return -np.log(alpha[-1] + alpha[-2])


def test_ctc_loss_is_the_forward_recursion_on_whole_clips():
    """75 frames of 41 classes, GRID sentences of different lengths padded with 0: every
    frame counts (the recursion is itself checked against the brute force on short ones)."""
    from lipread import grid
    from lipread.training import dataset, losses

    rng = np.random.default_rng(3)
    short = rng.dirichlet(np.ones(grid.NUM_CLASSES) * 0.3, size=5)
    for label in ([1, 2], [1, 1], [2]):
        assert forward_ctc(short, label, grid.BLANK_ID) == pytest.approx(
            brute_force_ctc(short, label, grid.BLANK_ID), rel=1e-9)
    sentences = [["bin", "blue", "at", "f", "two", "now"], ["set", "red", "by", "z", "nine",
                                                           "again"]]
    labels = np.stack([dataset.label_ids(words) for words in sentences])
    probs = rng.dirichlet(np.ones(grid.NUM_CLASSES), size=(2, 75)).astype("float32")
    want = [forward_ctc(probs[i].astype(np.float64), [c for c in labels[i] if c], grid.BLANK_ID)
            for i in range(2)]
    np.testing.assert_allclose(losses.ctc_loss(labels, probs), want, rtol=1e-4)


def test_mixed_labels_and_distillation_add_up_in_the_training_loss():
    """chars_loss over packed rows: lam * CTC(a) + (1 - lam) * CTC(b) + weight * the
    distillation at its temperature, where the row switches it on."""
    from lipread.training import batches, dataset, losses

    probs, teacher = random_probs(7), random_probs(8)
    a = dataset.label_ids(["bin", "blue", "at", "f", "two", "now"])
    b = dataset.label_ids(["set", "red", "by", "z", "nine", "again"])
    rows = np.stack([batches.pack(a, b, 0.6, on, np.zeros(75), np.zeros(75), teacher[i])[0]
                     for i, on in enumerate((1.0, 0.0))])
    ctc_a = np.asarray(losses.ctc_loss(np.stack([a, a]), probs))
    ctc_b = np.asarray(losses.ctc_loss(np.stack([b, b]), probs))
    kd = np.asarray(losses.distillation(teacher.reshape(2, -1), probs, 2.0))
    want = 0.6 * ctc_a + 0.4 * ctc_b + 0.5 * kd * [1.0, 0.0]
    np.testing.assert_allclose(losses.chars_loss(0.5, 2.0)(rows, probs), want, rtol=1e-4)
