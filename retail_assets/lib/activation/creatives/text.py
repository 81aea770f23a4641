"""Copy as it is checked and cut: normalization and cutting at a sentence or word boundary."""

from __future__ import annotations

import re
import unicodedata

# Zero-width characters and soft hyphens would let "gua\u200branteed" slip past the lists.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_DANGLING = frozenset(
    "a an and at but by for from in into of on or our so than that the to with your &".split()
)


def normalize(text: str) -> str:
    """Copy as it is checked: NFKC, straight quotes, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).translate(_QUOTES)
    return " ".join(text.split())


def truncate_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, never inside a word.

    Prefers the last full sentence that keeps at least half the limit; otherwise cuts at the
    last word that fits and drops dangling connectives ("and", "with", ...) and trailing
    commas or dashes, so the copy does not end mid-phrase. Returns ``""`` when not even the
    first word fits.
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text) if m.end() <= limit]
    if ends and ends[-1] >= limit / 2:
        return text[: ends[-1]]
    words: list[str] = []
    for word in text.split(" "):
        if len(" ".join([*words, word])) > limit:
            break
        words.append(word)
    while words:
        words[-1] = words[-1].rstrip(",;:-\u2013\u2014")
        if words[-1] and words[-1].lower() not in _DANGLING:
            break
        words.pop()
    return " ".join(words)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
