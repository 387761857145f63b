"""The independent sentiment judge: VADER.

VADER (Hutto & Gilbert 2014, ``vaderSentiment``, MIT licence) is a
rule-based sentiment scorer built for social-media text: a hand-rated
lexicon plus rules for negation, intensifiers, "but", capitals, emoticons and
emoji. It runs offline and knows nothing about our models.

It is never used to train anything. The reward model learns from
preferences; VADER only *evaluates*, so a policy that games the reward model
is caught here rather than rewarded twice.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from .corpus import LABELS

# VADER's own conventional cut-offs on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

@functools.lru_cache(maxsize=1)
def analyzer():
    """One shared analyzer, built on first use (it loads a lexicon file)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _as_texts(texts) -> list[str]:
    # A bare string is a sequence of characters: scoring each letter is never meant.
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string; wrap it in a list")
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"texts must contain strings, got {type(t).__name__}")
    return texts


def vader_compound(texts: Sequence[str]) -> np.ndarray:
    """VADER compound score of each text: float64 in [-1, 1]; empty in, empty out."""
    texts = _as_texts(texts)
    vader = analyzer()
    return np.array([vader.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


def judge_positive_rate(texts: Sequence[str]) -> float:
    """Fraction of texts VADER calls positive (compound >= 0.05)."""
    scores = vader_compound(texts)
    if scores.size == 0:
        raise ValueError("judge_positive_rate needs at least one text (the rate of nothing is undefined)")
    return float(np.mean(scores >= POSITIVE_THRESHOLD))


def judge_label(texts: Sequence[str]) -> np.ndarray:
    """0 negative (<= -0.05), 1 neutral, 2 positive (>= 0.05), as int64."""
    scores = vader_compound(texts)
    labels = np.ones(scores.shape, dtype=np.int64)
    labels[scores <= NEGATIVE_THRESHOLD] = 0
    labels[scores >= POSITIVE_THRESHOLD] = 2
    return labels


def judge_agreement(tweets) -> dict:
    """How often VADER agrees with labelled tweets (objects with .text, .label).

    ``pos_neg_agreement`` is the headline: among tweets labelled negative or
    positive, the fraction VADER gives the same label. Neutral is reported
    separately because "no sentiment" is the hardest call for a lexicon.
    ``confusion[i, j]`` counts tweets labelled ``i`` that VADER calls ``j``
    (order ``LABELS``).
    """
    tweets = list(tweets)
    if not tweets:
        raise ValueError("judge_agreement needs at least one tweet")
    truth = np.array([t.label for t in tweets], dtype=np.int64)
    if not np.isin(truth, (0, 1, 2)).all():
        raise ValueError("tweet labels must be 0, 1 or 2")
    judged = judge_label([t.text for t in tweets])
    confusion = np.zeros((3, 3), dtype=np.int64)
    np.add.at(confusion, (truth, judged), 1)
    polar = truth != 1
    neutral = truth == 1
    return {
        "pos_neg_agreement": float(np.mean(judged[polar] == truth[polar])) if polar.any() else float("nan"),
        "n_pos_neg": int(polar.sum()),
        "neutral_agreement": float(np.mean(judged[neutral] == 1)) if neutral.any() else float("nan"),
        "n_neutral": int(neutral.sum()),
        "three_way_agreement": float(np.mean(judged == truth)),
        "per_label_agreement": {lab: (float(confusion[i, i] / confusion[i].sum()) if confusion[i].sum()
                                      else float("nan"))
                                for i, lab in enumerate(LABELS)},
        "confusion": confusion,
        "labels": LABELS,
    }
