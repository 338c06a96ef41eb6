"""CTC decoding of the network's (75, 41) per-frame probabilities.

Three decoders share one signature, `decode(probs, name) -> text`, each registered in
REGISTRY with its docstring as its help: greedy (the tutorial's), beam (prefix beam
search) and grammar (the best CTC path through the GRID grammar). Error rates: scoring.py.
"""
from __future__ import annotations

import functools

import numpy as np

from lipread.grid import BLANK_ID, GRID_SLOTS, ids_to_text, text_to_ids

DEFAULT = "grammar"  # always a GRID sentence, and the best figures (greedy: the tutorial's)
BEAM_WIDTH = 32
_LOG_FLOOR = 1e-12  # keeps log() finite for probabilities that underflowed to 0


def raw_tokens(probs: np.ndarray) -> np.ndarray:
    """The network's best class id per frame, before any merging: what it 'says'."""
    return np.asarray(probs).argmax(axis=-1)


def collapse(tokens) -> list[int]:
    """CTC's rule: merge repeated ids, then drop blanks."""
    out, prev = [], None
    for t in tokens:
        t = int(t)
        if t != prev and t != BLANK_ID:
            out.append(t)
        prev = t
    return out


def greedy_ids(probs: np.ndarray) -> list[int]:
    return collapse(raw_tokens(probs))


def beam_ids(probs: np.ndarray, beam_width: int = BEAM_WIDTH) -> list[int]:
    """Keras' ctc_decode beam search, as lipread/beam.py computes it without TensorFlow."""
    from lipread import beam

    if BLANK_ID != np.asarray(probs).shape[-1] - 1:
        raise ValueError("the beam search takes the blank as the last class")
    return beam.search(probs, beam_width)


def keras_beam_ids(probs: np.ndarray, beam_width: int = BEAM_WIDTH) -> list[int]:
    """The same through Keras' ctc_decode (TensorFlow's decoder): the reference beam.py
    is tested against."""
    import keras

    probs = np.asarray(probs, dtype=np.float32)[None]
    decoded, _ = keras.ops.ctc_decode(
        np.log(np.maximum(probs, _LOG_FLOOR)), np.array([probs.shape[1]], dtype=np.int32),
        strategy="beam_search", beam_width=beam_width, top_paths=1, mask_index=BLANK_ID)
    ids = np.asarray(decoded)[0, 0]
    return [int(i) for i in ids if i >= 0 and i != BLANK_ID]


class GrammarGraph:
    """A CTC graph of all GRID sentences, for Viterbi decoding.

    Each word of each slot is expanded the CTC way (char, blank, char, ..., char);
    between slots sit a shared blank, a space and another blank. A node's score at
    frame t is its class's log-probability plus the best score among the nodes that
    may precede it (itself included) at t-1.
    """

    def __init__(self, slots=GRID_SLOTS):
        self.classes: list[int] = []  # class id each node emits
        self.preds: list[list[int]] = []  # nodes that may precede each node
        self.word_of: list[tuple[int, str] | None] = []  # (slot, word) of a word's last char
        self.word_nodes: dict[tuple[int, str], list[int]] = {}  # a word's chars and blanks
        self.start: list[int] = []
        ends_before: list[int] = [self._node(BLANK_ID, [])]  # leading blank
        self.start.append(ends_before[0])
        for s, words in enumerate(slots):
            last_chars = []
            for word in words:
                ids = text_to_ids(word)
                prev_char, first_node = None, len(self.classes)
                for k, c in enumerate(ids):
                    if k == 0:
                        # Enter the word from the blank or the space before it; a space
                        # (or the leading blank) differs from any letter, so no blank is needed.
                        node = self._node(c, list(ends_before))
                        if s == 0:
                            self.start.append(node)
                    else:
                        blank = self._node(BLANK_ID, [prev_char])
                        skip = [prev_char] if ids[k - 1] != c else []
                        node = self._node(c, [blank] + skip)
                    prev_char = node
                last_chars.append(prev_char)
                self.word_of[prev_char] = (s, word)
                self.word_nodes[(s, word)] = list(range(first_node, len(self.classes)))
            blank_after = self._node(BLANK_ID, list(last_chars))
            if s == len(slots) - 1:
                self.end = last_chars + [blank_after]
                break
            space = self._node(text_to_ids(" ")[0], last_chars + [blank_after])
            blank_before = self._node(BLANK_ID, [space])
            ends_before = [space, blank_before]
        width = max(len(p) for p in self.preds) + 1
        n = len(self.classes)
        # Padded predecessor table (self loop first); -1 means no predecessor.
        self.pred_table = np.full((n, width), -1, dtype=np.int64)
        for i, p in enumerate(self.preds):
            self.pred_table[i, : len(p) + 1] = [i] + p
        self.class_array = np.array(self.classes)
        succs = [[] for _ in range(n)]  # the nodes each node may lead to (itself first)
        for i, p in enumerate(self.preds):
            for j in [i] + p:
                succs[j].append(i)
        self.succ_table = np.full((n, max(len(s) for s in succs)), -1, dtype=np.int64)
        for i, s in enumerate(succs):
            self.succ_table[i, : len(s)] = s
        self.is_end = np.isin(np.arange(n), self.end)

    def _node(self, cls: int, preds: list[int]) -> int:
        self.classes.append(cls)
        self.preds.append(preds)
        self.word_of.append(None)
        return len(self.classes) - 1

    def decode(self, probs: np.ndarray) -> list[str]:
        """The words of the best path, one per slot."""
        return self.best(probs)[0]

    def best(self, probs: np.ndarray) -> tuple[list[str], float]:
        """The words of the best path, one per slot, and its log-probability."""
        words, score, _ = self.best_path(probs)
        return words, score

    def _emit(self, probs: np.ndarray, banned=()) -> np.ndarray:
        """(T, nodes) log-probabilities of each node's class; -inf for `banned` nodes."""
        logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _LOG_FLOOR))
        emit = logp[:, self.class_array]
        if len(banned):
            emit[:, list(banned)] = -np.inf
        return emit

    def _forward(self, emit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, nodes) best score of a path ending at each node at each frame, and the
        predecessor it came from."""
        T, n = emit.shape
        scores, back = np.full((T, n), -np.inf), np.zeros((T, n), dtype=np.int64)
        scores[0, self.start] = emit[0, self.start]
        padded = np.full(n + 1, -np.inf)  # index -1 reads -inf
        rows = np.arange(n)
        for t in range(1, T):
            padded[:-1] = scores[t - 1]
            cand = padded[self.pred_table]  # (nodes, width)
            best = cand.argmax(axis=1)
            back[t] = self.pred_table[rows, best]
            scores[t] = cand[rows, best] + emit[t]
        return scores, back

    def best_through(self, probs: np.ndarray) -> tuple[list[str], float, np.ndarray, dict]:
        """best_path's words, score and nodes, and for every (slot, word) the score of the
        best path that says that word there: the forward pass met by one backward pass
        (max-marginals; every path says exactly one word of each slot, on nodes of its own)."""
        emit = self._emit(probs)
        forward, back = self._forward(emit)
        T, n = emit.shape
        behind = np.where(self.is_end, 0.0, -np.inf)  # best score of the frames after t
        padded = np.full(n + 1, -np.inf)
        through = forward[-1] + behind
        for t in range(T - 2, -1, -1):
            padded[:-1] = emit[t + 1] + behind
            behind = padded[self.succ_table].max(axis=1)
            through = np.maximum(through, forward[t] + behind)
        words, score, nodes = self._trace(forward[-1], back)
        return words, score, nodes, {key: float(through[own].max())
                                     for key, own in self.word_nodes.items()}

    def best_path(self, probs: np.ndarray, banned=()) -> tuple[list[str], float, np.ndarray]:
        """The best path's words, its log-probability and its node at each frame; nodes in
        `banned` are never entered (a word's nodes: the best path without that word)."""
        scores, back = self._forward(self._emit(probs, banned))
        return self._trace(scores[-1], back)

    def _trace(self, score: np.ndarray, back: np.ndarray) -> tuple[list[str], float, np.ndarray]:
        """The best path back from the last frame's `score`s."""
        T = len(back)
        node = max(self.end, key=lambda i: score[i])
        best_score = float(score[node])
        # Words end only at their last character, and every path passes through
        # exactly one word per slot: the word-end nodes on the path are the sentence.
        words, nodes = {}, np.zeros(T, dtype=np.int64)
        for t in range(T - 1, -1, -1):
            nodes[t] = node
            if self.word_of[node] is not None:
                slot, word = self.word_of[node]
                words[slot] = word
            node = back[t, node]
        return [words[s] for s in sorted(words)], best_score, nodes


@functools.lru_cache(maxsize=1)
def grammar_graph() -> GrammarGraph:
    """The GRID grammar's graph, built once (a few ms) on first use."""
    return GrammarGraph()


def grammar_score(probs: np.ndarray) -> float:
    """The log-probability of the best path through the GRID grammar: how well the frames
    fit some GRID sentence (higher is better; comparable between windows of one length)."""
    return grammar_graph().best(probs)[1]


def greedy(probs: np.ndarray) -> str:
    """best token per frame, repeats merged, blanks dropped (the tutorial's)"""
    return ids_to_text(greedy_ids(probs)).strip()


def beam(probs: np.ndarray) -> str:
    """CTC prefix beam search, width 32 (TensorFlow's, in NumPy)"""
    return ids_to_text(beam_ids(probs)).strip()


def grammar(probs: np.ndarray) -> str:
    """best path through the GRID grammar: always a valid sentence"""
    return " ".join(grammar_graph().decode(probs))


# Every decoder: (T, 41) probabilities to text. Its docstring is its help (`--decoder`, the page).
REGISTRY = {f.__name__: f for f in (greedy, beam, grammar)}
DECODERS = tuple(REGISTRY)


def describe(name: str) -> str:
    """One line on what decoder `name` does (its docstring)."""
    return REGISTRY[name].__doc__.strip()


def decode(probs: np.ndarray, decoder: str = DEFAULT) -> str:
    """One clip's (T, 41) probabilities to its sentence."""
    if decoder not in REGISTRY:
        raise ValueError(f"unknown decoder {decoder!r}: choose one of {', '.join(DECODERS)}")
    return REGISTRY[decoder](probs)


def decode_batch(probs: np.ndarray, decoder: str = DEFAULT) -> list[str]:
    return [decode(p, decoder) for p in probs]
