"""Does the model write words? A *real-word rate* for sampled completions.

``corpus_vocabulary(texts)`` collects every word of the training texts and
``real_word_rate(completions, vocabulary)`` is the share of the words of the
completions that are in it. Both cut text into words the same way
(``normalize_word``):

- split on whitespace; lower-case;
- strip punctuation and symbols from both ends ("amazing!!!" -> "amazing",
  "it..." -> "it", "(ok)" -> "ok"), but keep what is *inside* a word, so
  contractions and compounds stay one word: "don't", "i'm", "mom's", "w/",
  "e-reader", "10/10". A glued or malformed word ("great.amazing", "i'mm")
  therefore does not count as a real word;
- @mentions and #hashtags keep their leading "@" / "#" and are checked as a
  whole ("@mike", "#goodvibes"): the model must reproduce a mention or tag that
  exists, "@mik" or "#goodvibe" is not a word;
- numbers are words like any other ("5k", "6am", "20" are in the corpus);
- what has no letter or digit at all is *not a word* and is skipped, neither
  counted nor penalised: emoji ("😊", "❤️"), emoticons (":)", "<3"), and lone
  punctuation ("-", "&", "..."). The synthetic corpus uses a closed set of
  these, and a string of them is not what "writes words" is about.

The synthetic corpus is generated from phrase banks, so its vocabulary is
closed and small (~3,000 words including typos such as "teh", "becuase");
any word outside it was invented by the model.
"""

from __future__ import annotations

import unicodedata
from typing import Iterable


def _is_alnum(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("L", "N")


def normalize_word(token: str) -> str | None:
    """One whitespace-separated token -> its normalized word, or None if it is not a word."""
    token = token.lower()
    lead = token[0] if token[:1] in ("@", "#") else ""
    body = token[len(lead):]
    start, end = 0, len(body)
    while start < end and not _is_alnum(body[start]):
        start += 1
    while end > start and not _is_alnum(body[end - 1]):
        end -= 1
    body = body[start:end]
    if not body:
        return None
    # "@" or "#" that was separated from the word by punctuation ("#...x") is not a tag.
    return (lead + body) if start == 0 else body


def words(text: str) -> list[str]:
    """The normalized words of ``text`` (non-words such as emoji skipped)."""
    return [w for w in (normalize_word(t) for t in text.split()) if w is not None]


def corpus_vocabulary(texts: Iterable[str]) -> frozenset[str]:
    """Every normalized word that occurs in ``texts`` (e.g. the training split)."""
    vocab: set[str] = set()
    for t in texts:
        vocab.update(words(t))
    return frozenset(vocab)


def real_word_rate(completions: Iterable[str], vocabulary, drop_truncated: Iterable[bool] | None = None) -> float:
    """Share of the words of ``completions`` that are in ``vocabulary`` (1.0 when there are no words).

    ``drop_truncated``: optional flags, one per completion; where True (the
    completion hit the token limit without ending) its last word is left out,
    since it may have been cut mid-word by the limit rather than misspelled.
    """
    completions = list(completions)
    flags = list(drop_truncated) if drop_truncated is not None else [False] * len(completions)
    if len(flags) != len(completions):
        raise ValueError("drop_truncated needs one flag per completion")
    hits = total = 0
    for text, cut in zip(completions, flags):
        ws = words(text)
        if cut and ws and not text[-1:].isspace():
            ws = ws[:-1]
        hits += sum(w in vocabulary for w in ws)
        total += len(ws)
    return hits / total if total else 1.0


def non_words(completions: Iterable[str], vocabulary) -> dict[str, int]:
    """{word: count} of the words of ``completions`` that are not in ``vocabulary``, most frequent first."""
    counts: dict[str, int] = {}
    for text in completions:
        for w in words(text):
            if w not in vocabulary:
                counts[w] = counts.get(w, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
