"""Training batches (batches.ClipBatches) and spliced sentences (dataset.splice), on clips
made in the test whose every frame says which word it belongs to."""
from __future__ import annotations

import numpy as np
import pytest

from lipread.training import cropstore


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


def first_batches(ds, epochs: int):
    """(chars, words) of the first batch of each of `epochs` epochs, each checked to agree."""
    for _ in range(epochs):
        x, (chars, w) = ds[0]
        agree(x, chars, w)
        yield chars, w
        ds.on_epoch_end()


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
    for chars, _ in first_batches(ds, 3):
        for row in chars:
            slots = said_by(row).split()
            assert all(slots[k] in {s.split()[k] for s in SAID} for k in range(6))
            made.add(" ".join(slots))
    assert made - set(SAID)  # sentences no clip says
    val = batches.ClipBatches(frames, labels, words, 5, training=False, splice_prob=1.0)
    assert [said_by(r) for r in val[0][1][0]] == SAID  # validation reads the clips as they are


def test_sub_sentences_cut_in_training_keep_frames_words_and_teacher_together():
    from lipread.training import batches
    frames, labels, words, teacher = spoken(4)
    ds = batches.ClipBatches(frames, labels, words, 4, training=True, seed=0,
                             teacher=teacher, sub_sentence_prob=1.0)
    lengths = set()
    for chars, w in first_batches(ds, 4):
        for row, wi in zip(chars, w):
            text = said_by(row)
            assert any(text in s for s in SAID)
            lengths.add(len(text.split()))
            assert len(text.split()) == len(batches.dataset.word_spans(wi[:75].astype(int)))
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
