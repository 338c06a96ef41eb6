"""The three CTC decoders on hand-built probability matrices, and the error rates."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lipread import decoding, scoring
from lipread.grid import BLANK_ID, NUM_CLASSES, text_to_ids

ROOT = Path(__file__).resolve().parents[1]


def spell(frames_of_ids, n_frames=75, confidence=0.9):
    """A (75, 41) matrix whose most likely class at frame t is frames_of_ids[t] (or blank)."""
    probs = np.full((n_frames, NUM_CLASSES), (1 - confidence) / (NUM_CLASSES - 1))
    for t in range(n_frames):
        cls = frames_of_ids[t] if t < len(frames_of_ids) else BLANK_ID
        probs[t, cls] = confidence
    return probs


def path_for(text, repeat=2):
    """A CTC path: blanks, then each character `repeat` times with a blank after it."""
    path = [BLANK_ID] * 5
    for c in text_to_ids(text):
        path += [c] * repeat + [BLANK_ID]
    return path


def test_greedy_merges_repeats_and_drops_blanks():
    probs = spell(path_for("bin green at f two now"))
    assert decoding.decode(probs, "greedy") == "bin green at f two now"
    raw = decoding.raw_tokens(probs)
    assert raw.shape == (75,) and (raw == BLANK_ID).sum() > 0


def test_greedy_needs_a_blank_between_double_letters():
    e = text_to_ids("e")[0]
    assert decoding.decode(spell([e, e, BLANK_ID, e]), "greedy") == "ee"
    assert decoding.decode(spell([e, e, e]), "greedy") == "e"


def test_beam_sums_paths_where_greedy_takes_the_best_frame():
    # Each frame: blank 0.6, 'a' 0.4. Greedy reads nothing; but 'a' has three
    # paths (a a, a -, - a) worth 0.64 against the empty sentence's 0.36.
    a = text_to_ids("a")[0]
    probs = np.full((2, NUM_CLASSES), 1e-9)
    probs[:, BLANK_ID], probs[:, a] = 0.6, 0.4
    assert decoding.decode(probs, "greedy") == ""
    assert decoding.decode(probs, "beam") == "a"


def test_beam_reads_a_clean_sentence():
    probs = spell(path_for("set red by q five again"))
    assert decoding.decode(probs, "beam") == "set red by q five again"


def test_grammar_corrects_what_greedy_gets_wrong():
    path = path_for("bin blue at f two now")
    probs = spell(path)
    # Make 'u' of "blue" look like 'o', and the 'w' of "two" look like 'q'.
    for wrong, right in (("o", "u"), ("q", "w")):
        t = path.index(text_to_ids(right)[0])
        for frame in (t, t + 1):
            probs[frame, text_to_ids(wrong)[0]] = 0.5
            probs[frame, text_to_ids(right)[0]] = 0.4
    assert decoding.decode(probs, "greedy") == "bin bloe at f tqo now"
    assert decoding.decode(probs, "grammar") == "bin blue at f two now"


def test_grammar_always_gives_a_valid_sentence():
    from lipread.grid import GRID_SLOTS
    rng = np.random.default_rng(0)
    for _ in range(5):
        probs = rng.dirichlet(np.ones(NUM_CLASSES), size=75)
        words = decoding.decode(probs, "grammar").split()
        assert len(words) == 6
        assert all(w in slot for w, slot in zip(words, GRID_SLOTS))


def tight_path(text, blank_between_doubles=True):
    """A CTC path with one frame a character and a blank only between a doubled letter's
    two frames (where CTC needs one), or nowhere."""
    path, prev = [BLANK_ID] * 5, None
    for c in text_to_ids(text):
        if c == prev and blank_between_doubles:
            path.append(BLANK_ID)
        path.append(c)
        prev = c
    return path


def test_grammar_handles_double_letters_and_single_letter_words():
    text = "place green with e seven soon"
    assert decoding.decode(spell(path_for(text, repeat=1)), "grammar") == text
    # no blank anywhere but inside "ee": letters follow letters directly
    assert decoding.decode(spell(tight_path(text)), "grammar") == text


def test_a_doubled_letter_needs_a_blank_between_its_frames():
    """'ee' spelled in two frames with no blank collapses to one 'e' under CTC: the grammar's
    best path for it must borrow a frame it does not like (its score drops by about one
    confident frame, log(0.9 / (0.1/40)) = 5.9), where the blank-separated path costs none."""
    text = "place green with e seven soon"
    with_blank = decoding.grammar_score(spell(tight_path(text)))
    without = decoding.grammar_score(spell(tight_path(text, blank_between_doubles=False)))
    assert without < with_blank - 3.0
    assert with_blank > 75 * np.log(0.9) - 1e-6  # every frame on its most likely class


def test_grammar_score_is_the_best_paths_log_probability():
    text = "bin blue at f two now"
    probs = spell(tight_path(text))
    assert decoding.grammar_score(probs) == pytest.approx(75 * np.log(0.9))
    noisy = spell(tight_path(text), confidence=0.5)
    assert decoding.grammar_score(noisy) == pytest.approx(75 * np.log(0.5))


def ctc_viterbi(logp: np.ndarray, ids: list[int]) -> float:
    """The best CTC alignment's log-probability of `ids`, the textbook way (blanks
    interleaved; a blank may be skipped between two different labels): an implementation
    independent of GrammarGraph's."""
    ext = [BLANK_ID]
    for i in ids:
        ext += [i, BLANK_ID]
    T, S = len(logp), len(ext)
    dp = np.full(S, -np.inf)
    dp[:2] = logp[0, ext[:2]]
    for t in range(1, T):
        prev = dp.copy()
        for s in range(S):
            best = max(prev[s], prev[s - 1] if s else -np.inf)
            if s > 1 and ext[s] != BLANK_ID and ext[s] != ext[s - 2]:
                best = max(best, prev[s - 2])
            dp[s] = best + logp[t, ext[s]]
    return max(dp[-1], dp[-2])


# Words sharing letters, a doubled letter, one-letter words, a digit-like single word.
TINY_SLOTS = (("bin", "e", "see"), ("ee", "a", "set"), ("two", "t"))


@pytest.mark.parametrize("seed", range(12))
def test_grammar_finds_the_best_ctc_path_over_every_sentence(seed):
    """On a small grammar, the graph's best sentence and score are the best over all of
    its sentences, each scored by the textbook CTC Viterbi; so is the best without a word."""
    import itertools

    rng = np.random.default_rng(seed)
    T = 16
    logits = rng.normal(size=(T, NUM_CLASSES)) * 3
    for t, c in enumerate(text_to_ids("see ee two")[:T]):  # lean toward one sentence
        logits[t, c] += rng.uniform(0, 4)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    logp = np.log(np.maximum(probs, 1e-12))
    scores = {words: ctc_viterbi(logp, text_to_ids(" ".join(words)))
              for words in itertools.product(*TINY_SLOTS)}
    graph = decoding.GrammarGraph(TINY_SLOTS)
    words, score, nodes = graph.best_path(probs)
    best = max(scores, key=scores.get)
    assert tuple(words) == best and score == pytest.approx(scores[best], abs=1e-9)
    assert graph.best(probs) == (words, score) and graph.decode(probs) == words
    # The frames' classes along the path collapse to the sentence.
    assert decoding.collapse(graph.class_array[nodes]) == text_to_ids(" ".join(best))
    # Banning the best sentence's first word: the best of the sentences without it.
    # Probabilities as the network gives them (float32) are summed in float64 all the same.
    single = probs.astype(np.float32)
    exact = max(ctc_viterbi(np.log(np.maximum(single.astype(np.float64), 1e-12)),
                            text_to_ids(" ".join(w))) for w in scores)
    assert graph.best(single)[1] == pytest.approx(exact, abs=1e-9)
    banned = graph.word_nodes[(0, best[0])]
    words, score, _ = graph.best_path(probs, banned=banned)
    rest = max((w for w in scores if w[0] != best[0]), key=scores.get)
    assert tuple(words) == rest and score == pytest.approx(scores[rest], abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_words_best_path_is_the_best_sentence_that_says_it(seed):
    import itertools

    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(16, NUM_CLASSES)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    logp = np.log(np.maximum(probs, 1e-12))
    scores = {words: ctc_viterbi(logp, text_to_ids(" ".join(words)))
              for words in itertools.product(*TINY_SLOTS)}
    graph = decoding.GrammarGraph(TINY_SLOTS)
    words, score, nodes, through = graph.best_through(probs)
    assert (words, score) == graph.best(probs) and np.array_equal(nodes, graph.best_path(probs)[2])
    assert sorted(through) == sorted((s, w) for s, slot in enumerate(TINY_SLOTS) for w in slot)
    for (slot, word), found in through.items():
        said = max(v for w, v in scores.items() if w[slot] == word)
        assert found == pytest.approx(said, abs=1e-9), (slot, word)


def test_unknown_decoder():
    with pytest.raises(ValueError) as err:
        decoding.decode(np.zeros((75, NUM_CLASSES)), "viterbi")
    assert str(err.value) == "unknown decoder 'viterbi': choose one of greedy, beam, grammar"


def test_decode_batch_reads_each_clip_with_the_decoder_named(shipped_probs):
    names = sorted(shipped_probs)[:3]
    batch = np.stack([shipped_probs[n] for n in names])
    for decoder in decoding.DECODERS:
        assert decoding.decode_batch(batch, decoder) == \
            [decoding.decode(shipped_probs[n], decoder) for n in names]
    assert decoding.decode_batch(batch) == [decoding.decode(shipped_probs[n], "grammar")
                                            for n in names]


def test_beam_reads_a_sentence_that_starts_with_a():
    """No GRID sentence starts with 'a' (a person's may): the empty prefix has no last
    letter, so the first 'a' is a new letter, as is the 'a' after a blank."""
    a, b = text_to_ids("a")[0], text_to_ids("b")[0]
    probs = np.full((8, NUM_CLASSES), 0.01)
    for t, c in enumerate([a, a, BLANK_ID, a, b, BLANK_ID, BLANK_ID, BLANK_ID]):
        probs[t, c] = 0.9
    probs /= probs.sum(axis=1, keepdims=True)
    assert decoding.beam_ids(probs) == [a, a, b] == decoding.greedy_ids(probs)


def test_beam_holds_a_label_0_like_any_label():
    """Class 0 (the vocabulary's '') held over three frames: one prefix, [0], carrying
    its label's mass from frame to frame as any label's prefix does."""
    for held in (0, 5):
        probs = np.full((3, NUM_CLASSES), 0.1 / (NUM_CLASSES - 1))
        probs[:, held] = 0.9
        assert decoding.beam_ids(probs) == [held] == decoding.greedy_ids(probs)


def test_beam_needs_the_blank_last():
    with pytest.raises(ValueError) as refused:
        decoding.beam_ids(np.full((75, NUM_CLASSES - 1), 1 / (NUM_CLASSES - 1)))
    assert str(refused.value) == "the beam search takes the blank as the last class"


def test_error_rates_are_corpus_level():
    truths = ["bin blue at f two now", "set red by q five again"]
    preds = ["bin blue at f two now", "set red by q nine again"]
    wer, cer = scoring.error_rates(truths, preds)
    assert wer == pytest.approx(1 / 12)
    assert cer == pytest.approx(scoring.edit_distance("five", "nine") / sum(map(len, truths)))
    assert scoring.error_counts("a b c", "a c") == (1, 3, 2, 5)
    # a one-word, one-letter truth: the rates are over its own length
    assert scoring.error_rates(["five"], ["nine"]) == (1.0, 0.5)
    assert scoring.error_rates(["a"], ["b"]) == (1.0, 1.0)


def _fewest_edits(ref, hyp) -> int:
    """The fewest insertions, deletions and substitutions, by plain recursion."""
    if not ref or not hyp:
        return len(ref) + len(hyp)
    return min(_fewest_edits(ref[1:], hyp) + 1, _fewest_edits(ref, hyp[1:]) + 1,
               _fewest_edits(ref[1:], hyp[1:]) + (ref[0] != hyp[0]))


@pytest.mark.parametrize("ref, hyp", [
    ("", ""), ("", "abc"), ("abc", ""), ("a", ""), ("", "a"), ("ab", "aXb"), ("aXb", "ab"),
    ("kitten", "sitting"), ("five", "nine"), ("abcdef", "azced"),
    ("bin blue at f two now".split(), "bin at f two two now".split())])
def test_the_edit_distance_is_the_fewest_edits(ref, hyp):
    assert scoring.edit_distance(ref, hyp) == _fewest_edits(ref, hyp)


# --- the shipped network's output on the folder's test clips -------------------------------

def _nll(probs: np.ndarray, sentences: list[str]) -> np.ndarray:
    """-log P(sentence | probs) under CTC (every path that collapses to it), per clip."""
    import keras

    ids = [text_to_ids(s) for s in sentences]
    labels = np.zeros((len(ids), max(1, *map(len, ids))), dtype=np.int32)
    for row, seq in zip(labels, ids):
        row[:len(seq)] = seq
    logp = np.log(np.maximum(probs, 1e-12)).astype(np.float32)
    return np.asarray(keras.ops.ctc_loss(labels, logp, np.array([len(s) for s in ids]),
                                         np.full(len(ids), probs.shape[1]),
                                         mask_index=BLANK_ID))


def _is_grid_sentence(text: str) -> bool:
    from lipread.grid import GRID_SLOTS
    words = text.split(" ")
    return len(words) == 6 and all(w in slot for w, slot in zip(words, GRID_SLOTS))


def test_beam_on_real_clips(grid_dir, shipped_probs):
    """On the test clips, through the shipped network: beam search finds sentences at
    least as likely as greedy's, reads no worse, and gives whole, clean sentences."""
    from lipread import grid

    names = list(shipped_probs)
    probs = np.stack([shipped_probs[n] for n in names])
    truths = [grid.load_sentence(grid.alignment_path(grid_dir, n)) for n in names]
    greedy = [decoding.decode(p, "greedy") for p in probs]
    beam = [decoding.decode(p, "beam") for p in probs]
    # What beam search is for: the sentence most likely summed over its CTC paths. A beam
    # of 32 prunes, so on a rare clip it misses greedy's sentence (the stage-6 weights: 1 of
    # 100 clips, by 0.11 nats; 10 clips more likely): more likely overall, and on all but
    # a few clips at least as likely.
    gain = _nll(probs, greedy) - _nll(probs, beam)
    less_likely = [(names[i], greedy[i], beam[i]) for i in np.flatnonzero(gain < -1e-3)]
    assert len(less_likely) <= max(1, len(names) // 50), less_likely
    assert gain.sum() > 0 and (gain > 1e-3).sum() > len(less_likely), gain
    greedy_wer, _ = scoring.error_rates(truths, greedy)
    beam_wer, _ = scoring.error_rates(truths, beam)
    assert beam_wer <= greedy_wer, (beam_wer, greedy_wer)
    # The figure the model card records for these clips and weights: one word more (of
    # ~600) would be 0.17 points; anything past that is a broken beam search.
    recorded = json.loads((ROOT / "models" / "metrics.json").read_text())["beam"]["wer"]
    assert beam_wer <= recorded + 1 / 600 + 1e-9, \
        f"beam WER {beam_wer:.2%} on {len(names)} test clips; recorded {recorded:.2%}"
    letters = set("abcdefghijklmnopqrstuvwxyz ")
    for name, g, b in zip(names, greedy, beam):
        # Clean: vocabulary letters and spaces only, no blank, padding or space at either end.
        assert b and b == b.strip() and set(b) <= letters, (name, b)
        # Whole: not greedy's sentence cut short (a beam stopped early would be a prefix).
        assert b == g or not g.startswith(b), (name, g, b)
    assert sum(map(_is_grid_sentence, beam)) >= sum(map(_is_grid_sentence, greedy))
