"""Text helpers both the post generator and the fact judge use: normalising, finding names
and numbers, word and token counts, templates."""

from __future__ import annotations

import re
from functools import lru_cache

from .phrases import COUNTERPARTS

# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"\d+")


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation -> space, padded.

    Padding with spaces lets ``" kw " in normalise(text)`` match whole words and
    phrases only ("ex" does not match "next").
    """
    # "roommate's" -> "roommate": possessives name the same person.
    text = re.sub(r"'s\b", "", str(text).lower().replace("’", "'")).replace("'", "")
    return " " + " ".join(_NON_ALNUM.sub(" ", text).split()) + " "


def has_keyword(normed: str, keyword: str) -> bool:
    return (" " + keyword.strip() + " ") in normed if keyword.strip() else False


_TOKENISH = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def approx_tokens(text: str) -> int:
    """Words plus punctuation marks: a tokenizer-free proxy for length."""
    return len(_TOKENISH.findall(str(text)))


def word_count(text: str) -> int:
    return len(str(text).split())


def capitalise(s: str) -> str:
    return s[:1].upper() + s[1:]


def pronouns(gender: str) -> dict:
    if gender == "M":
        return {"he": "he", "He": "He", "his": "his", "him": "him", "himself": "himself"}
    return {"he": "she", "He": "She", "his": "her", "him": "her", "himself": "herself"}


def fill_template(template: str, **kw) -> str:
    return template.format(**kw)


# Alias (normalised, one or two words) -> canonical counterpart.
_ALIAS = {normalise(a).strip(): c for c, (aliases, _) in COUNTERPARTS.items() for a in aliases}


def counterparts_in(normed: str) -> set[str]:
    """Canonical counterparts named in a normalised text (whole words only)."""
    words = normed.split()
    grams = set(words) | {a + " " + b for a, b in zip(words, words[1:])}
    return {_ALIAS[g] for g in grams if g in _ALIAS}


def numbers_in(text: str) -> set[str]:
    # Leading zeros dropped so "05" and "5" are the same number.
    return {str(int(d)) for d in _DIGITS.findall(str(text))}


@lru_cache(maxsize=1 << 16)
def body_terms(body: str) -> tuple[frozenset, frozenset]:
    """(counterparts, numbers) of a post body, cached: pairs judge a post often."""
    return frozenset(counterparts_in(normalise(body))), frozenset(numbers_in(body))


@lru_cache(maxsize=1 << 12)
def norm_keyword(keyword: str) -> str:
    return normalise(keyword).strip()
