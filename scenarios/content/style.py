"""Keyword coverage and readability: the text-level checks that need no model."""

from __future__ import annotations

import functools
import re

WORD = re.compile(r"[a-z0-9]+")


@functools.cache
def _stemmer():  # noqa: ANN202 - nltk has no type hints
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer()


def stems(text: str) -> list[str]:
    """Lower-cased Porter stems, so 'repotting' matches 'repot' and 'Cuttings' matches 'cutting'."""
    stem = _stemmer().stem
    return [stem(w) for w in WORD.findall(text.lower().replace("’", "'").replace("'", ""))]


def keyword_coverage(text: str, keywords: list[str]) -> float:
    """Share of keywords whose stems appear in the text as a contiguous run.

    Case- and inflection-tolerant: both sides are lower-cased and Porter-stemmed.
    """
    if not keywords:
        return float("nan")
    words = stems(text)
    joined = " " + " ".join(words) + " "
    found = sum(1 for k in keywords if (s := stems(k)) and f" {' '.join(s)} " in joined)
    return found / len(keywords)


def reading_ease(text: str) -> float:
    """Flesch reading ease (textstat), clipped to its nominal 0-100 scale; higher reads easier.

    The raw formula is unbounded: one run-on sentence of repeated words scores -200 and would
    swamp a mean, so scores are clipped as the scale intends.
    """
    import textstat

    body = re.sub(r"^#+\s*|^subject:\s*", "", text, flags=re.IGNORECASE | re.MULTILINE)
    if not WORD.search(body.lower()):
        return float("nan")
    return min(100.0, max(0.0, float(textstat.flesch_reading_ease(body))))
