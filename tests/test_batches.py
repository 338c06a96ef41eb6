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


# --- ClipBatches on clips whose every frame says which word it belongs to ---------------

SAID = ["bin blue at a one again", "lay green by b two now", "place red in c three please",
        "set white with d four soon", "bin red at e five again"]


def _word_ids(sentence):
    from lipread import grid
    return [grid.GRID_WORDS.index(w) + 1 for w in sentence.split()]


def spoken(n=4):
    """n clips as the training cache holds them: word k spoken over frames 5+10k..13+10k
    (a silent frame between words, silence before and after), each frame one grey level,
    20 + 4 x its word id; the teacher's row one-hot at (word id - 1) mod 40, blank in
    silence: frames, labels, frame words and teacher all say the same word at each frame."""
    from lipread import grid
    from lipread.training import dataset
    words = np.zeros((n, 75), np.int32)
    for c in range(n):
        for k, wid in enumerate(_word_ids(SAID[c])):
            words[c, 5 + 10 * k:14 + 10 * k] = wid
    grey = (20 + 4 * words).astype(np.uint8)
    frames = np.broadcast_to(grey[:, :, None, None], (n, 75, 46 + 2 * cropstore.MARGIN,
                                                      140 + 2 * cropstore.MARGIN)).copy()
    labels = np.stack([dataset.label_ids(SAID[c].split()) for c in range(n)])
    cls = np.where(words > 0, (words - 1) % 40, grid.BLANK_ID)
    teacher = np.eye(grid.NUM_CLASSES, dtype=np.float16)[cls]
    return frames, labels, words, teacher


def said_by(chars_row):
    from lipread import grid
    return grid.ids_to_text(chars_row[:40].astype(np.int32))


def agree(x, chars, words):
    """Each sample's frames, teacher columns and frame words say the same word at every
    frame: the teacher's class is the word's, and the grey (normalised) rises with it."""
    from lipread import grid
    w = words[:, :75].astype(np.int32)
    teacher = chars[:, 82:].reshape(len(x), 75, grid.NUM_CLASSES)
    np.testing.assert_array_equal(teacher.argmax(-1), np.where(w > 0, (w - 1) % 40,
                                                               grid.BLANK_ID))
    for xi, wi in zip(x, w):
        grey, said = xi[:, 0, 0, 0][wi > 0], wi[wi > 0]
        slope, cut = np.polyfit(said, grey, 1)
        np.testing.assert_allclose(grey, slope * said + cut, atol=1e-4)
        assert slope > 0 or len(set(said)) == 1


def test_word_spans_are_each_words_first_and_end_frames_in_spoken_order():
    from lipread.training import dataset
    row = np.array([4, 4, 0, 7, 0, 0, 9, 9, 9, 2, 0, 5])
    assert dataset.word_spans(row) == [(0, 2), (3, 4), (6, 9), (9, 10), (11, 12)]
    assert dataset.word_spans(np.zeros(5, np.int32)) == []
    assert dataset.word_spans(spoken()[2][0]) == [(5 + 10 * k, 14 + 10 * k) for k in range(6)]


def test_an_epoch_is_whole_batches_in_training_every_clip_in_validation_at_most_max_steps():
    from lipread.training import batches
    frames, labels, words, _ = spoken(4)
    seven = [np.concatenate([a, a[:3]]) for a in (frames, labels, words)]
    assert len(batches.ClipBatches(*seven, 3, training=True)) == 2  # the short batch dropped
    assert len(batches.ClipBatches(*seven, 3, training=True, drop_remainder=False)) == 3
    assert len(batches.ClipBatches(*seven, 3, training=False)) == 3
    assert len(batches.ClipBatches(*seven, 3, training=True, max_steps=1)) == 1
    assert len(batches.ClipBatches(*seven, 3, training=True, max_steps=5)) == 2
    with pytest.raises(IndexError) as err:
        batches.ClipBatches(*seven, 3, training=True)[2]
    assert err.value.args == (2,)


def test_each_epoch_draws_its_own_order_and_counts_itself():
    from lipread.training import batches
    eight = [np.concatenate([a, a]) for a in spoken(4)[:3]]
    ds = batches.ClipBatches(*eight, 2, training=True, seed=3)
    orders = [ds.order.copy()]
    for epoch in (1, 2):
        ds.on_epoch_end()
        assert ds.epoch == epoch
        orders.append(ds.order.copy())
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert len({tuple(o) for o in orders}) == 3


def test_a_training_batch_keeps_frames_words_and_teacher_together_and_is_float32():
    from lipread.training import batches
    frames, labels, words, teacher = spoken(4)
    ds = batches.ClipBatches(frames, labels, words, 4, training=True, seed=2,
                             teacher=teacher)
    x, (chars, w) = ds[0]
    assert x.dtype == np.float32 and x.shape == (4, 75, 46, 140, 1)
    agree(x, chars, w)
    assert (chars[:, 80] == 1).all() and (chars[:, 81] == 1).all()  # no mixup; distilled
    assert sorted(map(said_by, chars)) == sorted(SAID[:4])


def test_validation_carries_the_teachers_rows_switched_off_or_zeros_or_none():
    from lipread import grid
    from lipread.training import batches
    frames, labels, words, teacher = spoken(4)
    x, (chars, _) = batches.ClipBatches(frames, labels, words, 4, training=False,
                                        teacher=teacher)[0]
    np.testing.assert_array_equal(chars[:, 82:], teacher.reshape(4, -1).astype(np.float32))
    assert (chars[:, 81] == 0).all()  # read, not learned from, in validation
    _, (chars, _) = batches.ClipBatches(frames, labels, words, 4, training=False,
                                        teacher_cols=True)[0]
    assert chars.shape == (4, 82 + 75 * grid.NUM_CLASSES) and not chars[:, 81:].any()
    _, (chars, _) = batches.ClipBatches(frames, labels, words, 4, training=True)[0]
    assert chars.shape == (4, 82) and not chars[:, 81].any()  # no teacher: no distilling


def test_mixup_blends_each_clips_frames_and_teacher_with_another_of_its_batch_by_its_share():
    from lipread.training import batches
    frames, labels, words, teacher = spoken(4)
    for seed in range(6):
        plain = batches.ClipBatches(frames, labels, words, 4, training=True, seed=seed,
                                    teacher=teacher)[0]
        mixed = batches.ClipBatches(frames, labels, words, 4, training=True, seed=seed,
                                    teacher=teacher, mixup_prob=1.0)[0]
        (x, (c, w)), (mx, (mc, mw)) = plain, mixed
        for a in range(4):
            (b,) = [k for k in range(4) if np.array_equal(c[k, :40], mc[a, 40:80])]
            lam = mc[a, 80]
            assert b != a and 0 <= lam <= 1 and np.array_equal(mc[a, :40], c[a, :40])
            np.testing.assert_allclose(mx[a], lam * x[a] + (1 - lam) * x[b], atol=1e-5)
            np.testing.assert_allclose(mc[a, 82:], lam * c[a, 82:] + (1 - lam) * c[b, 82:],
                                       atol=1e-5)
            np.testing.assert_array_equal(mw[a, 75:150], w[b, :75])
            assert mw[a, 150] == lam


@pytest.mark.parametrize("size, mixes", [(1, False), (2, True)])
def test_mixup_needs_two_clips_in_a_batch(size, mixes):
    from lipread.training import batches
    ds = batches.ClipBatches(*spoken(4)[:3], size, training=True, mixup_prob=1.0)
    for step in range(len(ds)):
        _, (chars, _) = ds[step]
        assert (chars[:, 80] < 1).all() if mixes else (chars[:, 80] == 1).all()


def test_mixup_is_for_training_only():
    from lipread.training import batches
    _, (chars, _) = batches.ClipBatches(*spoken(4)[:3], 4, training=False, mixup_prob=1.0)[0]
    assert (chars[:, 80] == 1).all() and [said_by(r) for r in chars] == SAID[:4]


def test_warping_is_drawn_for_the_clips_warp_prob_names():
    from lipread.training import batches
    arrays = spoken(4)[:3]
    plain = batches.ClipBatches(*arrays, 4, training=True, seed=4)[0][0]
    warped = batches.ClipBatches(*arrays, 4, training=True, seed=4, warp_prob=1.0)[0][0]
    assert not np.allclose(plain, warped)


def test_splicing_makes_new_sentences_in_training_slot_by_slot_teacher_and_all():
    from lipread.training import batches
    frames, labels, words, teacher = spoken(5)
    ds = batches.ClipBatches(frames, labels, words, 5, training=True, seed=1,
                             teacher=teacher, splice_prob=1.0)
    made = set()
    for epoch in range(3):
        x, (chars, w) = ds[0]
        agree(x, chars, w)
        for row in chars:
            slots = said_by(row).split()
            assert all(slots[k] in {s.split()[k] for s in SAID} for k in range(6))
            made.add(" ".join(slots))
        ds.on_epoch_end()
    assert made - set(SAID)  # sentences no clip says
    val = batches.ClipBatches(frames, labels, words, 5, training=False, splice_prob=1.0)
    assert [said_by(r) for r in val[0][1][0]] == SAID  # validation reads the clips as they are


def test_sub_sentences_cut_in_training_keep_frames_words_and_teacher_together():
    from lipread.training import batches
    frames, labels, words, teacher = spoken(4)
    ds = batches.ClipBatches(frames, labels, words, 4, training=True, seed=0,
                             teacher=teacher, sub_sentence_prob=1.0)
    lengths = set()
    for epoch in range(4):
        x, (chars, w) = ds[0]
        agree(x, chars, w)
        for row, wi in zip(chars, w):
            text = said_by(row)
            assert any(text in s for s in SAID)
            lengths.add(len(text.split()))
            assert len(text.split()) == len(batches.dataset.word_spans(wi[:75].astype(int)))
        ds.on_epoch_end()
    assert len(lengths) >= 3 and max(lengths) <= 6


def test_a_sub_sentence_of_two_words_may_be_either_or_both_and_the_teacher_is_blank_outside():
    from lipread import grid
    from lipread.training import batches, dataset
    frames, labels, words, teacher = spoken(1)
    two = words[0].copy()
    two[25:] = 0  # "bin blue" alone
    x = cropstore.center(frames[0])
    t = teacher[0].astype(np.float32)
    seen = set()
    for seed in range(40):
        y, label, kept, cut = batches.sub_sentence(x, dataset.label_ids(["bin", "blue"]), two,
                                                   t, np.random.default_rng(seed))
        seen.add(grid.ids_to_text(label))
        first, end = dataset.word_spans(kept)[0][0], dataset.word_spans(kept)[-1][1]
        blank = np.eye(grid.NUM_CLASSES, dtype=np.float32)[grid.BLANK_ID]
        assert (cut[:first] == blank).all() and (cut[end:] == blank).all()
        np.testing.assert_array_equal(cut[first:end], t[first:end])
    assert seen == {"bin", "blue", "bin blue"}
    one = words[0].copy()
    one[15:] = 0  # one word: nothing to cut
    y, label, kept, cut = batches.sub_sentence(x, labels[0], one, t, np.random.default_rng(0))
    assert y is x and kept is one and cut is t


def test_a_clip_of_one_word_keeps_its_sentence_when_a_sub_sentence_is_drawn():
    from lipread.training import batches, dataset
    frames, _, words, _ = spoken(1)
    words = words.copy()
    words[0, 15:] = 0  # "bin" alone
    ds = batches.ClipBatches(frames, dataset.label_ids(["bin"])[None], words, 1,
                             training=True, sub_sentence_prob=1.0)
    for epoch in range(3):
        assert said_by(ds[0][1][0][0]) == "bin"
        ds.on_epoch_end()


def test_a_spliced_sentence_takes_each_slot_and_its_pause_from_its_clip_in_75_frames():
    from lipread import grid
    from lipread.training import dataset
    starts = ([5 + 10 * k for k in range(6)], [8 + 9 * k for k in range(6)])  # A, B
    words = np.zeros((2, 75), np.int32)
    for c in range(2):
        for k, wid in enumerate(_word_ids(SAID[c])):
            words[c, starts[c][k]:starts[c][k] + 8] = wid
    frames = np.stack([np.arange(75), 100 + np.arange(75)])  # frame t of clip c: 100c + t
    spans = [dataset.word_spans(row) for row in words]
    A, B = frames
    x, label, w = dataset.splice(frames, words, spans, [1, 0, 1, 0, 1, 0])
    # B's lead-in, then each slot from its word's first frame to the next word's first
    joined = np.concatenate([B[0:8], B[8:17], A[15:25], B[26:35], A[35:45], B[44:53],
                             A[55:75]])
    np.testing.assert_array_equal(x, joined)  # 75 frames already: none dropped
    np.testing.assert_array_equal(w, np.concatenate([words[1][:17], words[0][15:25],
                                                     words[1][26:35], words[0][35:45],
                                                     words[1][44:53], words[0][55:]]))
    assert grid.ids_to_text(label) == "lay blue by a two again"
    x, label, w = dataset.splice(frames, words, spans, [0, 0, 0, 0, 0, 1])
    joined = np.concatenate([A[:55], B[53:]])  # 77 frames, fitted to 75
    assert len(x) == 75 and x[0] == joined[0] and x[-1] == joined[-1]
    assert set(x) <= set(joined) and (np.diff(x) > 0).all()
    assert grid.ids_to_text(label) == "bin blue at a one now"
    x, label, w = dataset.splice(frames, words, spans, [1] * 6)
    np.testing.assert_array_equal(x, B)  # a clip spliced from itself is itself
    np.testing.assert_array_equal(w, words[1])


def test_frame_word_targets_mark_each_spoken_words_frames_and_leave_silence_zero():
    from lipread.training import dataset
    ids = {w: dataset.GRID_WORDS.index(w) + 1 for w in ("bin", "blue", "now")}
    targets = dataset.frame_word_targets([(0, 4.2, "bin"), (4.2, 6.0, "sp"),
                                          (6.0, 9.5, "blue"), (9.5, 20.0, "sil"),
                                          (20.5, 80.0, "now"), (10.0, 12.0, "hello")])
    expected = np.zeros(75, np.int64)  # a word outside GRID's 51 is no word
    expected[0:5], expected[6:10], expected[20:75] = ids["bin"], ids["blue"], ids["now"]
    np.testing.assert_array_equal(targets, expected)  # a word's frames: floor to ceil
    assert targets.dtype == np.int32  # word ids, as the words head's targets index them


class Drawn:
    """An rng whose uniform() draws are given: the warp's scale, turn and gamma."""

    def __init__(self, *values):
        self.values = list(values)

    def uniform(self, low, high):
        assert low <= self.values[0] <= high
        return self.values.pop(0)


def _bar_moments(frame):
    """(centre x, centre y, slope, spread along x) of a frame's grey, weighted."""
    ys, xs = np.indices(frame.shape)
    g = frame.astype(float)
    cx, cy = (g * xs).sum() / g.sum(), (g * ys).sum() / g.sum()
    var_x = (g * (xs - cx) ** 2).sum() / g.sum()
    cov = (g * (xs - cx) * (ys - cy)).sum() / g.sum()
    return cx, cy, cov / var_x, np.sqrt(var_x)


def test_a_warp_turns_and_scales_the_clip_about_the_crops_centre():
    """A bar through the middle of the crop: turned, it tilts by the angle drawn; scaled, it
    grows by the scale drawn; either way its middle stays where it was."""
    from lipread.training import batches
    frame = np.zeros((54, 148), np.uint8)
    frame[26:28, 34:114] = 200  # 80 px long, centred
    clip = np.repeat(frame[None], 3, axis=0)
    cx, cy, slope, spread = _bar_moments(frame)
    turned = batches.warp(clip, Drawn(0.0, batches.WARP_DEGREES, 0.0))[1]
    tx, ty, tslope, _ = _bar_moments(turned)
    assert abs(tx - cx) < 0.6 and abs(ty - cy) < 0.6
    assert abs(abs(tslope) - np.tan(np.radians(batches.WARP_DEGREES))) < 0.01
    grown = batches.warp(clip, Drawn(batches.WARP_SCALE, 0.0, 0.0))[2]
    gx, gy, gslope, gspread = _bar_moments(grown)
    assert abs(gx - cx) < 0.6 and abs(gy - cy) < 0.6 and abs(gslope) < 1e-3
    assert gspread / spread == pytest.approx(1 + batches.WARP_SCALE, abs=0.01)
    bent = batches.warp(clip, Drawn(0.0, 0.0, 1.0))[0]  # gamma 1.25: greys darkened
    assert bent[26, 70] == round(255 * (200 / 255) ** 1.25) and bent[0, 0] == 0


# --- load_clip_arrays: what training loads, and the clips it skips -------------------------

@pytest.fixture(scope="module")
def small_corpus(grid_dir, test_names, tmp_path_factory):
    """Two s1 test clips and bbbbzz, whose video is random bytes under a valid alignment."""
    from lipread import grid
    root = tmp_path_factory.mktemp("small") / "grid"
    (root / "s1").mkdir(parents=True)
    (root / "alignments" / "s1").mkdir(parents=True)
    for name in test_names[:2]:
        video = grid.video_path(grid_dir, name)
        (root / "s1" / video.name).symlink_to(video)
        grid.alignment_path(root, name).symlink_to(grid.alignment_path(grid_dir, name))
    (root / "s1" / "bbbbzz.mpg").write_bytes(np.random.default_rng(0).bytes(4096))
    grid.alignment_path(root, "bbbbzz").write_text(
        grid.alignment_path(grid_dir, test_names[0]).read_text())
    return root


def test_training_loads_crops_labels_and_frame_words_and_says_what_it_skipped(
        small_corpus, test_names, tmp_path, capsys):
    from lipread import grid
    from lipread.training import cropstore, dataset
    names = [*test_names[:2], "bbbbzz"]
    said = []
    frames, labels, words = got = dataset.load_clip_arrays(small_corpus, names,
                                                           tmp_path / "cache", log=said.append)
    out = capsys.readouterr()
    assert got.names == test_names[:2] and list(got.failures) == ["bbbbzz"]
    assert isinstance(frames, np.ndarray) and frames.shape == (2, *cropstore.CLIP_SHAPE)
    for i, name in enumerate(test_names[:2]):
        segments = dataset.load_alignment_segments(grid.alignment_path(small_corpus, name))
        spoken = [w for _, _, w in segments if w not in grid.SILENCE_TOKENS]
        assert grid.ids_to_text(labels[i]) == " ".join(spoken)  # no sil, no sp
        np.testing.assert_array_equal(words[i], dataset.frame_word_targets(segments))
    # the report: beside the crops, named for the clips asked for (12 hex digits)
    report = got.report
    assert report.parent == cropstore.cache_root(small_corpus, tmp_path / "cache", "landmarks")
    assert report.name.startswith("skipped-") and len(report.stem) == len("skipped-") + 12
    assert cropstore.read_report(report) == got.failures
    assert [p.name for p in report.parent.glob("*.tsv")] == [report.name]  # none other
    head = [line for line in report.read_text().splitlines() if line.startswith("# ")]
    assert head[0].startswith(f"# crop cache {report.parent} (landmarks crops of ")
    assert "3 clips: 2 cached (2 new), 1 skipped" in head[1]
    assert said[-1] == (f"skipped 1 of 3 clips whose video can't be read (e.g. bbbbzz); the "
                        f"reasons are in {report}")
    assert any("crop" in line for line in said[:-1])  # the cache's own lines, to the log
    assert out.err == "" and "clips/s" in out.out  # progress off a terminal: on stdout
    # other clips asked for: another report; the same ones: the same report
    again = dataset.load_clip_arrays(small_corpus, names[1:], tmp_path / "cache", log=None)
    assert again.report.parent == report.parent and again.report != report
    assert dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache",
                                    log=None).report == report
    dataset.load_clip_arrays(small_corpus, names, tmp_path / "fresh", log=None)  # crops cut
    assert capsys.readouterr() == ("", "")  # log None: silent, bar and all
    mine = dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache", log=None,
                                    report=tmp_path / "mine.tsv", lazy=True)
    assert mine.report == tmp_path / "mine.tsv" and cropstore.read_report(mine.report)
    assert isinstance(mine.frames, cropstore.ClipStore)
    np.testing.assert_array_equal(mine.frames[1], frames[1])


def test_training_shows_a_live_bar_on_a_terminal(small_corpus, test_names, tmp_path,
                                                 monkeypatch, capsys):
    import io
    import sys

    from lipread.training import dataset

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    dataset.load_clip_arrays(small_corpus, test_names[:1], tmp_path / "cache", log=[].append)
    assert "clips/s" in terminal.getvalue() and "clips/s" not in capsys.readouterr().out


@pytest.mark.parametrize("names, crop, says", [
    ([], "landmarks", "no clips to load"),
    (["bbbbzz"], "mouth", "crop must be one of "),
    (["bbbbzz"], "landmarks", "none of the 1 clips could be read: "),
])
def test_training_refuses_nothing_to_load_an_unknown_crop_and_no_readable_clip(
        small_corpus, tmp_path, names, crop, says):
    from lipread.training import dataset
    from lipread.video import CROPS
    with pytest.raises(ValueError) as err:
        dataset.load_clip_arrays(small_corpus, names, tmp_path / "cache", log=None, crop=crop)
    assert str(err.value).startswith(says)
    if crop == "mouth":
        assert str(err.value) == f"crop must be one of {', '.join(CROPS)}, not 'mouth'"
    if names and crop == "landmarks":
        assert "bbbbzz.mpg" in str(err.value) and "(all reasons: " in str(err.value)
        assert str(err.value).endswith(".tsv)")


def test_the_validation_slice_is_a_seeded_tenth_of_the_training_clips_at_least_one():
    from lipread.training import dataset
    names = [f"c{i:03d}" for i in range(50)]
    train, val = dataset.split_validation(list(reversed(names)), 0.1, seed=3)
    assert len(val) == 5 and sorted(train + val) == names
    assert train == sorted(train) and val == sorted(val)
    assert dataset.split_validation(names, 0.1, seed=3) == (train, val)  # whatever the order
    assert dataset.split_validation(names, 0.1, seed=4)[1] != val
    assert len(dataset.split_validation(names[:3], 0.1)[1]) == 1  # at least one
    assert len(dataset.split_validation(names, 0.25)[1]) == 12  # 12.5 rounds to even
    assert len(dataset.split_validation(names, 0.23)[1]) == 12  # 11.5 too
    assert dataset.split_validation(names) == dataset.split_validation(names, 0.1, 0)


class Spy:
    """A NumPy generator that notes whether the warp drew (it alone draws uniform())."""

    def __init__(self, seed):
        self.rng, self.warped = np.random.default_rng(seed), False

    def uniform(self, *args, **kwargs):
        self.warped = True
        return self.rng.uniform(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.rng, name)


def test_augmentation_jitters_the_crop_over_the_whole_margin_mirrors_half_and_warps_its_share():
    """Frames dark but for two marks, a bright one and, 10 px right of it, a dim one: where
    the bright one lands in the crop says the crop's offset, their order the mirroring."""
    from lipread.training import batches
    m = cropstore.MARGIN
    frame = np.zeros((46 + 2 * m, 140 + 2 * m), np.uint8)
    frame[30, 70], frame[30, 80] = 250, 120
    frames = np.repeat(frame[None], 75, axis=0)
    words = np.zeros(75, np.int32)
    offsets, mirrored, warped = set(), [], []
    for seed in range(200):
        spy = Spy(seed)
        x, _, _ = batches.augment(frames, words, spy, warp_prob=0.5)
        warped.append(spy.warped)
        if spy.warped:
            continue
        crop = x[0, :, :, 0]
        (row,), (col,) = np.nonzero(crop == crop.max())
        (_,), (dim,) = np.nonzero(crop == np.unique(crop)[-2])
        mirrored.append(dim < col)
        offsets.add((30 - row, 70 - (139 - col if dim < col else col)))
    assert 0.3 < np.mean(warped) < 0.7  # warp_prob 0.5: about half, not all
    assert 0.3 < np.mean(mirrored) < 0.7  # mirrored about half the time
    assert {dy for dy, _ in offsets} == {dx for _, dx in offsets} == set(range(2 * m + 1))


def test_a_warp_replicates_the_crops_edges_into_the_corners_it_turns_in():
    from lipread.training import batches
    clip = np.full((2, 54, 148), 90, np.uint8)
    turned = batches.warp(clip, Drawn(0.0, batches.WARP_DEGREES, 0.0))
    assert (turned == 90).all()  # no black corners


class Recorder:
    """A NumPy generator whose integers() draws are noted."""

    def __init__(self, seed):
        self.rng, self.drawn = np.random.default_rng(seed), []

    def integers(self, *args, **kwargs):
        value = self.rng.integers(*args, **kwargs)
        self.drawn.append(int(value))
        return value


def test_a_time_mask_blanks_a_run_of_up_to_its_width_anywhere_in_the_clip():
    from lipread.training import batches
    clip = np.ones((75, 2, 3, 1), np.float32)
    widths, firsts, lasts = set(), set(), set()
    for seed in range(400):
        rng = Recorder(seed)
        blanked = np.flatnonzero((batches.time_mask(clip, 1, rng, max_width=3) == 0).all((1, 2, 3)))
        width, start = rng.drawn
        np.testing.assert_array_equal(blanked, np.arange(start, start + width))  # all inside
        widths.add(width)
        if width:
            firsts.add(blanked[0])
            lasts.add(blanked[-1])
    assert widths == {0, 1, 2, 3} and 0 in firsts and 74 in lasts


def test_a_label_is_its_sentences_character_ids_padded_to_40_and_refused_past_40():
    from lipread import grid
    from lipread.training import dataset
    label = dataset.label_ids(["bin", "blue"])
    assert label.dtype == np.int32 and label.shape == (40,)
    assert grid.ids_to_text(label) == "bin blue" and not label[8:].any()
    forty = ["abcdefghij"] * 3 + ["abcdefg"]  # 37 letters, 3 spaces
    assert len(" ".join(forty)) == 40 and len(dataset.label_ids(forty)) == 40
    with pytest.raises(ValueError) as err:
        dataset.label_ids(forty + ["a"])
    assert str(err.value) == f"sentence longer than 40 characters: {forty + ['a']}"


def test_time_jitter_drops_up_to_three_frames_and_repeats_as_many_others_once_each():
    from lipread.training import batches
    frames = np.zeros((75, 54, 148), np.uint8)
    seen = set()
    for seed in range(60):
        _, source, _ = batches.augment(frames, np.arange(75), np.random.default_rng(seed))
        counts = np.bincount(source, minlength=75)
        assert (np.diff(source) >= 0).all() and counts.max() <= 2  # in order; once more at most
        assert (counts == 0).sum() == (counts == 2).sum()  # as many dropped as repeated
        seen.add(int((counts == 0).sum()))
    assert seen == set(range(batches.MAX_TIME_JITTER + 1))
