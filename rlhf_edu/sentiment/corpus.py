"""The tweet corpus: a synthetic offline default and a Hugging Face loader.

Two sources, one shape (``Tweet(text, label)`` with 0 negative, 1 neutral,
2 positive):

- ``"synthetic"`` (the default, no internet needed): tweet-like texts that
  this module *generates* from hand-written phrase banks and a seed. They are
  synthetic, not real tweets: templates filled with topics, openers, negation
  ("not bad at all", "not happy"), intensifiers, emoji, hashtags, @mentions,
  slang and typos. The label comes from the template that built the text, and
  the independent judge (VADER, see ``sentiment/judge.py``) agrees with it on most
  positive/negative items; ``judge.judge_agreement`` measures it.
- ``"hf"``: ``mteb/tweet_sentiment_extraction`` (real tweets) through the
  optional ``datasets`` package, or local files in the same schema
  (``text``, ``label``, ``label_text``) read from ``data_dir``.

Many tweets start with a short opener ("Today I feel", "The weather is",
"My friend told me", ...). Every opener is used with all three labels, so a
prompt does not decide the sentiment: that leaves the RL stage room to move a
model toward positive completions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..files import check_frac, load_rows
from .phrases import (
    ACTIVITIES,
    ACTIVITY_OPENERS,
    ACTIVITY_VERDICT,
    CLAUSE_OPENERS,
    DETERMINERS,
    DOERS,
    EMOJI,
    FEEL,
    FEEL_OPENERS,
    FEEL_REASON,
    FOOD_NEG,
    FOOD_POS,
    GAME_CONT,
    GAME_OPENER,
    HASHTAGS,
    HELDOUT_OPENERS,
    INTENS,
    MENTIONS,
    MODIFIERS,
    NEG_ADJ,
    NEW_OPENER,
    OBJECT_OPENERS,
    OBJECT_VERDICT,
    OPENERS,
    PEOPLE,
    PERSON_OPENERS,
    PERSON_PRED,
    PLACES,
    POS_ADJ,
    TAILS,
    THING_OPENERS,
    THING_PRED,
    THINGS,
    TIMES,
    TYPOS,
    WEATHER,
    WEATHER_OPENERS,
    WEATHER_TAIL,
)

LABELS = ("negative", "neutral", "positive")
NEG, NEU, POS = 0, 1, 2

# The story's three prompts; they are openers of the synthetic corpus.
RL_PROMPTS = ("Today I feel", "The weather is", "My friend told me")


@dataclass(frozen=True)
class Tweet:
    text: str
    label: int  # 0 negative, 1 neutral, 2 positive


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

def _pick(rng: random.Random, seq):
    # Same as rng.choice but ~3x faster: one C call instead of two Python frames.
    return seq[int(rng.random() * len(seq))]


THING_KINDS = tuple(THINGS)
OBJECT_OPENER_LIST = tuple(OBJECT_OPENERS)
CONNECTIVES = ("and ", "for ", "with ", "after ", "on ", "at ", "this ", "it ",
               "before ", "in ", "while ")
NEW_NOUNS = THINGS["product"] + THINGS["media"] + THINGS["music"]
PLACES_TIMES = PLACES + TIMES
TYPO_WORDS = frozenset(TYPOS)


def _thing(rng: random.Random, kinds=None) -> str:
    """A neutral noun phrase such as 'the new album' or 'my coffee'."""
    kind = _pick(rng, kinds or THING_KINDS)
    noun = _pick(rng, THINGS[kind])
    if rng.random() < 0.35:
        noun = _pick(rng, MODIFIERS) + " " + noun
    return _pick(rng, DETERMINERS) + " " + noun


def _adj(rng: random.Random, label: int) -> str:
    """A sentiment adjective, sometimes intensified or negated."""
    if label == POS:
        if rng.random() < 0.1:
            return _pick(rng, ("not bad at all", "not bad", "not terrible at all"))
        word = _pick(rng, POS_ADJ)
    else:
        if rng.random() < 0.12:
            return "not " + _pick(rng, ("good", "great", "fun", "nice",
                                        "good at all", "great at all"))
        word = _pick(rng, NEG_ADJ)
    if rng.random() < 0.4:
        word = _pick(rng, INTENS) + " " + word
    return word


def _pred(rng: random.Random, label: int) -> str:
    """A predicate for a thing: fixed phrases or 'was/is' + adjective."""
    if label != NEU and rng.random() < 0.5:
        return _pick(rng, ("was", "is", "was", "looks", "seems")) + " " + _adj(rng, label)
    return _pick(rng, THING_PRED[label])


def _core(rng: random.Random, label: int) -> str:
    """The opener and the sentiment-bearing clause that follows it."""
    r = rng.random()
    if r < 0.16:
        opener = _pick(rng, FEEL_OPENERS)
        text = f"{opener} {_intensify(rng, _pick(rng, FEEL[label]), label)}"
        if rng.random() < 0.5:
            text += " " + _pick(rng, FEEL_REASON[label])
        return text
    if r < 0.26:
        opener = _pick(rng, WEATHER_OPENERS)
        text = f"{opener} {_intensify(rng, _pick(rng, WEATHER[label]), label)}"
        if rng.random() < 0.5:
            text += " " + _pick(rng, WEATHER_TAIL[label])
        return text
    if r < 0.36:
        opener = _pick(rng, ACTIVITY_OPENERS)
        verdict = _pick(rng, ACTIVITY_VERDICT[label])
        sep = " " if verdict.startswith(CONNECTIVES) else _pick(rng, (", ", ". ", " - "))
        return f"{opener} {_pick(rng, DOERS)} {_pick(rng, ACTIVITIES)}{sep}{verdict}"
    if r < 0.58:
        opener = _pick(rng, CLAUSE_OPENERS)
        if rng.random() < 0.7:
            subject = _thing(rng)
            pred = _pred(rng, label)
        else:
            subject = _pick(rng, PEOPLE)
            pred = _pick(rng, PERSON_PRED[label])
        sep = ", " if opener in ("Honestly", "Not gonna lie", "Real talk", "Guess what",
                                 "In other news", "Meanwhile", "Btw", "Imo", "Tbh",
                                 "Omg", "Oh and") and rng.random() < 0.6 else " "
        text = f"{opener}{sep}{subject} {pred}"
        if rng.random() < 0.3:
            text += " " + _pick(rng, TIMES)
        return text
    if r < 0.74:
        opener = _pick(rng, OBJECT_OPENER_LIST)
        kinds = OBJECT_OPENERS[opener]
        obj = _thing(rng, kinds)
        if label == POS and rng.random() < 0.3 and "food" in kinds:
            verdict = "and it was " + _pick(rng, FOOD_POS)
        elif label == NEG and rng.random() < 0.3 and "food" in kinds:
            verdict = "and it was " + _pick(rng, FOOD_NEG)
        elif label != NEU and rng.random() < 0.35:
            verdict = "and it was " + _adj(rng, label)
        else:
            verdict = _pick(rng, OBJECT_VERDICT[label])
        if rng.random() < 0.25:
            obj += " " + _pick(rng, PLACES)
        sep = " "
        if not verdict.startswith(CONNECTIVES):  # "worst one yet" needs a pause first
            sep = _pick(rng, (", ", ". ", " - ", "... "))
        return f"{opener} {obj}{sep}{verdict}"
    if r < 0.82:
        return f"{_pick(rng, PERSON_OPENERS)} {_pick(rng, PERSON_PRED[label])}"
    if r < 0.92:
        subject = _pick(rng, THING_OPENERS)
        return f"{subject} {_pred(rng, label)}"
    if r < 0.97:
        noun = _pick(rng, NEW_NOUNS)
        return f"{NEW_OPENER} {noun} {_pred(rng, label)}"
    return f"{GAME_OPENER} {_pick(rng, GAME_CONT[label])}"


def _intensify(rng: random.Random, phrase: str, label: int) -> str:
    # Only single sentiment words take an intensifier ("so tired", "really lovely").
    if label != NEU and " " not in phrase and rng.random() < 0.3:
        return _pick(rng, INTENS) + " " + phrase
    return phrase


def _second_clause(rng: random.Random, label: int) -> str:
    """An extra sentence with the same label, for variety and length."""
    r = rng.random()
    if r < 0.4:
        return f"{_pick(rng, ('And', 'Also', 'Plus', 'Oh and'))} {_thing(rng)} {_pred(rng, label)}"
    if r < 0.7:
        return f"{_pick(rng, PEOPLE).capitalize()} {_pick(rng, PERSON_PRED[label])}"
    feel = _pick(rng, FEEL[label])
    return f"{_pick(rng, ('Now I feel', 'Still', 'Now I am'))} {feel}"


def _typos(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    for i, w in enumerate(words):
        if w in TYPO_WORDS and rng.random() < 0.4:
            words[i] = _pick(rng, TYPOS[w])
    return " ".join(words)


def _one_tweet(rng: random.Random, label: int) -> str:
    text = _core(rng, label)
    if label != NEU and rng.random() < 0.06:
        # Mixed feelings, softened by "kinda", so the label's clause still dominates.
        other = NEG if label == POS else POS
        text += f", even though {_thing(rng)} was kinda {_pick(rng, POS_ADJ if other == POS else NEG_ADJ)}"
    if rng.random() < 0.35:
        text += _pick(rng, (". ", "! ", "... ", ", ")) + _second_clause(rng, label)
    if rng.random() < 0.35:
        text += _pick(rng, (". ", " ", "... ", ", ")) + _pick(rng, TAILS[label])
    if rng.random() < 0.12:
        text += " " + _pick(rng, PLACES_TIMES)
    if len(text.split()) < 9:  # keep most tweets 10-25 words
        text += _pick(rng, (". ", ", ", " - ")) + _second_clause(rng, label)
    if rng.random() < 0.3:  # some people type carefully, some don't
        text = _typos(rng, text)
    style = rng.random()
    if style < 0.3:
        text = text.lower()
    ends = ("", ".", "!", "!!", "...", "!!!", "") if label != NEU else ("", ".", "", "?", "...")
    text += _pick(rng, ends)
    if rng.random() < 0.15:
        text = _pick(rng, MENTIONS) + " " + text
    elif rng.random() < 0.08:
        text += " " + _pick(rng, ("cc", "with", "w/")) + " " + _pick(rng, MENTIONS)
    if rng.random() < 0.3:
        text += " " + " ".join(_pick(rng, EMOJI[label]) for _ in range(_pick(rng, (1, 1, 2))))
    if rng.random() < 0.25:
        tags = HASHTAGS[label] if rng.random() < 0.5 else HASHTAGS[NEU]
        text += " " + _pick(rng, tags)
    words = text.split()
    if len(words) < 6:
        words += _pick(rng, TAILS[label]).split()
    return " ".join(words[:40])


def generate_tweets(n: int = 60_000, seed: int = 0) -> list[Tweet]:
    """``n`` synthetic labelled tweets, deterministic in ``seed``.

    Labels cycle 0, 1, 2 so the raw generation is balanced; a few texts repeat
    (``split_tweets`` removes duplicates before splitting).
    """
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(seed)
    return [Tweet(_one_tweet(rng, i % 3), i % 3) for i in range(n)]


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------

def _dedupe(tweets) -> list[Tweet]:
    """First occurrence of each text wins, order kept."""
    seen, out = set(), []
    for t in tweets:
        if t.text not in seen:
            seen.add(t.text)
            out.append(t)
    return out


def split_tweets(tweets, val_frac: float = 0.05, test_frac: float = 0.05,
                 seed: int = 0) -> dict[str, list[Tweet]]:
    """Dedupe by text, shuffle with ``seed``, cut into train/val/test.

    Deduping first is what guarantees no text is shared across splits.
    """
    check_frac("val_frac", val_frac)
    check_frac("test_frac", test_frac)
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"val_frac + test_frac must be < 1, got {val_frac + test_frac!r}")
    unique = _dedupe(tweets)
    random.Random(seed).shuffle(unique)
    n_val = int(round(len(unique) * val_frac))
    n_test = int(round(len(unique) * test_frac))
    return {
        "train": unique[n_val + n_test:],
        "val": unique[:n_val],
        "test": unique[n_val:n_val + n_test],
    }


# ---------------------------------------------------------------------------
# Hugging Face / local files in the mteb/tweet_sentiment_extraction schema
# ---------------------------------------------------------------------------

def _row_to_tweet(row: dict) -> Tweet | None:
    """One row (text, label and/or label_text) as a Tweet; None for empty text."""
    text = row.get("text")
    if text is None or not str(text).strip():
        return None  # the real train split has an empty row
    # Real tweets carry leading spaces and double spaces; one space keeps
    # prompt/completion splitting on words exact.
    text = " ".join(str(text).split())
    label = row.get("label")
    label_text = row.get("label_text")
    if label is None or label == "":
        if label_text not in LABELS:
            raise ValueError(f"row has no usable label: {row!r}")
        label = LABELS.index(label_text)
    label = int(label)
    if label not in (0, 1, 2):
        raise ValueError(f"label must be 0, 1 or 2, got {label!r} in {row!r}")
    if label_text not in (None, "") and label_text != LABELS[label]:
        raise ValueError(f"label {label} does not match label_text {label_text!r}")
    return Tweet(text, label)


def _rows_to_tweets(rows) -> list[Tweet]:
    return [t for t in map(_row_to_tweet, rows) if t is not None]


DATASETS_HINT = ("loading mteb/tweet_sentiment_extraction needs the Hugging Face 'datasets' package: "
                 "pip install datasets  (or use source='synthetic', or data_dir= with local jsonl/csv files)")


def load_hf_tweets(name: str = "mteb/tweet_sentiment_extraction",
                   data_dir: str | None = None, use_datasets: bool | None = None,
                   ) -> dict[str, list[Tweet]]:
    """Train and test splits of the real tweet corpus (keys "train", "test").

    ``data_dir`` points at local ``train``/``test`` files in the same schema
    (``.jsonl``, ``.json`` or ``.csv``). They are read with
    ``datasets.load_dataset("json"/"csv", data_files=...)`` when ``datasets``
    is installed, else with a tiny pure-Python reader (``use_datasets`` forces
    one or the other). Without ``data_dir``, ``name`` is loaded from the Hub
    (or the local Hugging Face cache) and ``datasets`` is required.
    """
    rows = load_rows(name, data_dir, ("train", "test"), required=("train", "test"), use_datasets=use_datasets,
                     hint=DATASETS_HINT)
    return {split: _rows_to_tweets(rows[split]) for split in ("train", "test")}


SOURCES = ("synthetic", "hf")


def load_tweets(source: str = "synthetic", n: int = 60_000, seed: int = 0,
                data_dir: str | None = None, val_frac: float = 0.05,
                test_frac: float = 0.05) -> dict[str, list[Tweet]]:
    """Train/val/test splits with no text shared across them.

    "synthetic": ``generate_tweets(n, seed)`` then ``split_tweets``.
    "hf": ``load_hf_tweets`` (Hub, cache, or ``data_dir``); the real test split
    is kept, val is carved from train, and texts repeated across splits are
    dropped from train/val. ``n`` is ignored for "hf".
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    check_frac("val_frac", val_frac)
    check_frac("test_frac", test_frac)
    if source == "synthetic":
        return split_tweets(generate_tweets(n, seed), val_frac, test_frac, seed)
    hf = load_hf_tweets(data_dir=data_dir)
    test = _dedupe(hf["test"])
    test_texts = {t.text for t in test}
    train = [t for t in _dedupe(hf["train"]) if t.text not in test_texts]
    carved = split_tweets(train, val_frac=val_frac, test_frac=0.0, seed=seed)
    return {"train": carved["train"], "val": carved["val"], "test": test}


# ---------------------------------------------------------------------------
# Prompts for SFT and RL
# ---------------------------------------------------------------------------

def prompt_completion_pairs(tweets, n_prompt_words=(2, 4),
                            seed: int = 0) -> list[tuple[str, str]]:
    """SFT pairs: (first k words, the rest with its leading space).

    k is drawn per tweet from ``n_prompt_words`` (inclusive) and capped so the
    completion keeps at least one word; ``prompt + completion == text``.
    Tweets of a single word give no pair.
    """
    lo, hi = n_prompt_words
    if not (1 <= lo <= hi):
        raise ValueError(f"n_prompt_words must be (lo, hi) with 1 <= lo <= hi, got {n_prompt_words!r}")
    rng = random.Random(seed)
    pairs = []
    for t in tweets:
        words = t.text.split(" ")
        k = min(rng.randint(lo, hi), len(words) - 1)
        if k < 1:
            continue
        pairs.append((" ".join(words[:k]), " " + " ".join(words[k:])))
    return pairs


def heldout_prompts(n: int | None = None) -> list[str]:
    """The first ``n`` held-out openers (all by default): prompts no training tweet starts with."""
    n = len(HELDOUT_OPENERS) if n is None else n
    if not isinstance(n, int) or not 1 <= n <= len(HELDOUT_OPENERS):
        raise ValueError(f"n must be an integer in [1, {len(HELDOUT_OPENERS)}], got {n!r}")
    return list(HELDOUT_OPENERS[:n])


def eval_prompts(n: int = 64, seed: int = 0) -> list[str]:
    """A fixed prompt set for RL evaluation: the story prompts, then openers.

    Openers carry no sentiment words, so any positivity in a completion comes
    from the model. Fixed for a given ``(n, seed)``, never resampled during
    training. ``n`` is at most ``len(OPENERS)``.
    """
    if not isinstance(n, int) or not 1 <= n <= len(OPENERS):
        raise ValueError(f"n must be an integer in [1, {len(OPENERS)}], got {n!r}")
    rest = [o for o in OPENERS if o not in RL_PROMPTS]
    random.Random(seed).shuffle(rest)
    return (list(RL_PROMPTS) + rest)[:n]


def corpus_stats(splits: dict[str, list[Tweet]], raw=None) -> dict:
    """Sizes, label counts per split, mean words per tweet.

    ``duplicate_rate`` (fraction of the raw generation that repeats an
    earlier text) needs the raw list, so pass ``raw=generate_tweets(...)``;
    it is None otherwise.
    """
    stats = {"sizes": {}, "label_counts": {}, "mean_words": {}}
    for name, tweets in splits.items():
        stats["sizes"][name] = len(tweets)
        stats["label_counts"][name] = {lab: sum(t.label == i for t in tweets)
                                       for i, lab in enumerate(LABELS)}
        stats["mean_words"][name] = (sum(len(t.text.split()) for t in tweets) / len(tweets)
                                     if tweets else 0.0)
    stats["total"] = sum(stats["sizes"].values())
    stats["duplicate_rate"] = None
    if raw is not None:
        raw = list(raw)
        stats["duplicate_rate"] = 1.0 - len({t.text for t in raw}) / len(raw) if raw else 0.0
    return stats
