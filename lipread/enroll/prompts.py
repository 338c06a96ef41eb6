"""The sentences a person is asked to say: one fixed list, in order, whose every prefix
covers as many of GRID's 51 words as a prefix can (4 sentences: 24 words; 10: 36, every
digit; 25: all 51, every letter), the command, colour, preposition and adverb words dealt
evenly and in varied pairs. The page and `lipread enroll --prompts N` ask for its first N.

Made once (and kept as written here) by dealing the letters and the digits in shuffled
rounds, and for each sentence the four other slots' least-used words, least often paired.
"""
from __future__ import annotations

N_PROMPTS = 20  # the page's default: with 20 sentences teaching helps a stranger (docs/teaching.md)
MAX_PROMPTS = 40  # the most the page asks for (about 3 minutes of teaching on 2 cores)

PROMPTS = (
    "bin red in a zero now",
    "place blue at r nine again",
    "lay green by e four please",
    "set white with v six soon",
    "place red with c eight please",
    "set blue by b two now",
    "bin green at j five soon",
    "lay white in p seven again",
    "set green with i one again",
    "lay red at x three soon",
    "bin white by s four please",
    "place blue in d zero now",
    "place green by f nine soon",
    "set blue in z six please",
    "lay white at l three now",
    "bin red with g seven again",
    "lay blue with u eight soon",
    "set red at m two please",
    "place white by n one again",
    "bin green in y five now",
    "lay red by t nine now",
    "bin blue with k zero please",
    "set white in h four soon",
    "place green at q eight again",
    "place white with o six now",
    "lay green in p seven please",
    "set red by j two again",
    "bin blue at e three soon",
    "place red in r one soon",
    "set green at n five now",
    "lay blue by l zero again",
    "bin white with o eight please",
    "lay green with s six now",
    "place white at b four please",
    "bin blue in t three again",
    "set red by v nine soon",
    "bin green by d one soon",
    "set blue at f five please",
    "lay white in g two again",
    "place red with u seven now",
    "lay blue with q two soon",
    "place green in z seven please",
    "bin white by m three now",
    "set red at x four again",
    "set green with h six again",
    "place blue by k five soon",
    "lay red in i zero please",
    "bin white at a eight now",
    "set white in y nine soon",
    "bin red by c one again",
)


def prompts(n: int = N_PROMPTS) -> list[str]:
    """The first n of PROMPTS (1 to len(PROMPTS))."""
    if not 1 <= n <= len(PROMPTS):
        raise ValueError(f"ask for 1 to {len(PROMPTS)} prompts, not {n}")
    return list(PROMPTS[:n])
