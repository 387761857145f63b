"""The tweet corpus: synthetic generator, splits, local/HF loader, prompts."""

import csv
import json
import os
import re
from collections import Counter

import pytest

from rlhf_edu.sentiment import corpus as tweet_corpus
from rlhf_edu.sentiment.corpus import RL_PROMPTS, Tweet

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "tweets")


@pytest.fixture(scope="module")
def corpus():
    # Its speed is measured by bench/, not asserted here: timed tests flake on shared machines.
    return tweet_corpus.generate_tweets()


@pytest.fixture(scope="module")
def splits(corpus):
    return tweet_corpus.split_tweets(corpus)


# --- generation ------------------------------------------------------------

def test_generation_is_deterministic_in_the_seed():
    a = tweet_corpus.generate_tweets(1000, seed=1)
    assert a == tweet_corpus.generate_tweets(1000, seed=1)
    b = tweet_corpus.generate_tweets(1000, seed=2)
    assert sum(x.text != y.text for x, y in zip(a, b)) > 950


def test_size_balance_and_duplicates(corpus, splits):
    assert len(corpus) == 60_000
    stats = tweet_corpus.corpus_stats(splits, raw=corpus)
    assert stats["total"] >= 50_000
    assert stats["duplicate_rate"] < 0.01
    counts = Counter(t.label for t in corpus)
    assert set(counts) == {0, 1, 2}
    assert max(counts.values()) - min(counts.values()) <= 1  # labels cycle
    for name in ("train", "val", "test"):
        per_label = stats["label_counts"][name]
        assert min(per_label.values()) > 0.28 * stats["sizes"][name]


def test_tweets_are_well_formed(corpus):
    for t in corpus[:5000]:
        assert isinstance(t, Tweet) and t.label in (0, 1, 2)
        assert t.text == t.text.strip() and "  " not in t.text
    lengths = [len(t.text.split()) for t in corpus]
    assert min(lengths) >= 6 and max(lengths) <= 40
    assert sum(10 <= n <= 25 for n in lengths) / len(lengths) > 0.8


def test_splits_share_no_text(splits):
    texts = {name: {t.text for t in tweets} for name, tweets in splits.items()}
    assert len(texts["train"]) == len(splits["train"])  # deduped within a split too
    assert not texts["train"] & texts["val"]
    assert not texts["train"] & texts["test"]
    assert not texts["val"] & texts["test"]
    assert 0.04 < len(splits["val"]) / sum(map(len, splits.values())) < 0.06


def test_split_dedupes_injected_duplicates():
    tweets = tweet_corpus.generate_tweets(600, seed=3)
    doubled = tweets + tweets[::-1]
    out = tweet_corpus.split_tweets(doubled, val_frac=0.2, test_frac=0.2)
    all_texts = [t.text for s in out.values() for t in s]
    assert len(all_texts) == len(set(all_texts)) == len({t.text for t in tweets})


def test_variety(corpus):
    texts = [t.text for t in corpus[:12_000]]
    lower = [t.lower() for t in texts]
    def share(pattern):
        return sum(bool(re.search(pattern, t)) for t in lower) / len(lower)
    assert share(r"\bnot (bad|happy|good|great|fun)\b") > 0.02   # negation
    assert share(r"(^|\s)@\w+") > 0.1                            # mentions
    assert share(r"(^|\s)#\w+") > 0.1                            # hashtags
    assert share(r"[\U0001F300-\U0001FAFF]|:\)|:\(|<3") > 0.1   # emoji and emoticons
    assert share(r"\b(so|really|very|super|totally|absolutely|sooo)\b") > 0.2
    assert share(r"\b(teh|tmrw|u|ur|rly|abt|bc|cuz|tho)\b") > 0.02  # typos and slang
    first_two = Counter(" ".join(t.split()[:2]) for t in texts)
    assert len(first_two) > 120
    words = {w for t in lower for w in re.findall(r"[a-z']+", t)}
    assert 700 < len(words) < 5000   # rich, but small enough for a tiny model


def test_every_opener_occurs_with_all_three_labels(corpus):
    seen = {o.lower(): set() for o in tweet_corpus.OPENERS}
    for t in corpus:
        words = t.text.lower().replace(",", "").split()
        if words[0].startswith("@"):
            words = words[1:]
        for k in range(1, 7):  # openers are 1-6 words
            if " ".join(words[:k]) in seen:
                seen[" ".join(words[:k])].add(t.label)
    for o in RL_PROMPTS:
        assert seen[o.lower()] == {0, 1, 2}, o
    assert sum(labels == {0, 1, 2} for labels in seen.values()) >= 0.95 * len(seen)
    assert len(tweet_corpus.OPENERS) >= 60


def test_judge_agrees_on_a_sample(corpus):
    from rlhf_edu.sentiment.judge import judge_agreement
    result = judge_agreement(corpus[:3000])
    assert result["pos_neg_agreement"] >= 0.9
    assert result["neutral_agreement"] >= 0.8


# --- bad input ---------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: tweet_corpus.generate_tweets(0), "n"),
    (lambda: tweet_corpus.generate_tweets(-5), "n"),
    (lambda: tweet_corpus.load_tweets("twitter"), "source"),
    (lambda: tweet_corpus.load_tweets(n=0), "n"),
    (lambda: tweet_corpus.split_tweets([], val_frac=1.0), "val_frac"),
    (lambda: tweet_corpus.split_tweets([], test_frac=-0.1), "test_frac"),
    (lambda: tweet_corpus.split_tweets([], val_frac=0.6, test_frac=0.5), "val_frac"),
    (lambda: tweet_corpus.eval_prompts(0), "n"),
    (lambda: tweet_corpus.prompt_completion_pairs([], n_prompt_words=(3, 2)), "n_prompt_words"),
])
def test_bad_input_raises_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --- loader on the local fixture ----------------------------------------------

def test_fixture_loader_schema_and_counts():
    out = tweet_corpus.load_hf_tweets(data_dir=FIXTURE, use_datasets=False)
    assert set(out) == {"train", "test"}
    assert len(out["train"]) == len(out["test"]) == 30
    for tweets in out.values():
        assert Counter(t.label for t in tweets) == {0: 10, 1: 10, 2: 10}
        assert all(isinstance(t, Tweet) and t.text == " ".join(t.text.split()) for t in tweets)
    assert out["train"][0].text == "Sooo SAD the holidays are over already!!!"  # whitespace normalised


def test_datasets_reader_agrees_with_the_pure_python_one():
    pytest.importorskip("datasets")  # the same path as load_dataset("mteb/...")
    assert (tweet_corpus.load_hf_tweets(data_dir=FIXTURE, use_datasets=False)
            == tweet_corpus.load_hf_tweets(data_dir=FIXTURE, use_datasets=True))


def test_load_tweets_hf_carves_val_and_drops_shared_text():
    out = tweet_corpus.load_tweets("hf", data_dir=FIXTURE, val_frac=0.2)
    assert len(out["test"]) == 30
    # One fixture train text is also in test, so it is dropped from train/val.
    assert len(out["train"]) + len(out["val"]) == 29
    assert len(out["val"]) == 6
    test_texts = {t.text for t in out["test"]}
    assert not test_texts & {t.text for t in out["train"] + out["val"]}


def test_csv_reader_and_label_text_only(tmp_path):
    rows = [json.loads(line) for line in open(os.path.join(FIXTURE, "test.jsonl"))]
    for split in ("train", "test"):
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["text", "label_text"])
            w.writeheader()
            w.writerows({"text": r["text"], "label_text": r["label_text"]} for r in rows)
    out = tweet_corpus.load_hf_tweets(data_dir=str(tmp_path), use_datasets=False)
    assert [t.label for t in out["test"]] == [r["label"] for r in rows]


def test_loader_rejects_inconsistent_labels_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        tweet_corpus.load_hf_tweets(data_dir=str(tmp_path))
    for split in ("train", "test"):
        row = {"text": "hi", "label": 2, "label_text": "negative"}
        (tmp_path / f"{split}.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="label_text"):
        tweet_corpus.load_hf_tweets(data_dir=str(tmp_path), use_datasets=False)


def test_hub_loader_without_datasets_says_how_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__
    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("no datasets")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ImportError, match="pip install datasets"):
        tweet_corpus.load_hf_tweets()
    # The local fixture still loads, through the pure-Python reader.
    assert len(tweet_corpus.load_hf_tweets(data_dir=FIXTURE)["train"]) == 30


# --- prompts ---------------------------------------------------------------------

def test_prompt_completion_pairs_rebuild_the_text():
    tweets = tweet_corpus.generate_tweets(500, seed=4)
    pairs = tweet_corpus.prompt_completion_pairs(tweets, n_prompt_words=(2, 4), seed=0)
    assert len(pairs) == len(tweets)
    for (prompt, completion), t in zip(pairs, tweets):
        assert prompt + completion == t.text
        assert completion.startswith(" ") and 2 <= len(prompt.split(" ")) <= 4
    assert pairs == tweet_corpus.prompt_completion_pairs(tweets, seed=0)
    assert Counter(len(p.split(" ")) for p, _ in pairs).keys() == {2, 3, 4}
    assert tweet_corpus.prompt_completion_pairs([Tweet("one", 1)]) == []


def test_eval_prompts_are_fixed_openers_without_sentiment():
    from rlhf_edu.sentiment.judge import vader_compound
    prompts = tweet_corpus.eval_prompts()
    assert len(prompts) == 64 == len(set(prompts))
    assert tuple(prompts[:3]) == RL_PROMPTS
    assert prompts == tweet_corpus.eval_prompts()
    assert set(prompts) <= set(tweet_corpus.OPENERS)
    # VADER hears sentiment in "friend" and "honestly"; every other prompt is silent.
    scores = dict(zip(prompts, vader_compound(prompts)))
    assert [p for p, s in scores.items() if s != 0] <= ["My friend told me", "Honestly"]
    assert sorted(p for p, s in scores.items() if s != 0) == sorted(
        p for p in prompts if p in ("My friend told me", "Honestly"))


def test_held_out_prompts_are_disjoint_from_training_by_construction():
    # Judged where the policy never trained: no training tweet opens with a held-out prompt's words, no
    # held-out prompt starts or extends an RL training prompt, every word is one the model has seen, and
    # the judge finds no sentiment in the prompt itself.
    from rlhf_edu.sentiment import judge, pipeline

    s = pipeline.SentimentSetup()
    openings = [t.text.lower().split(" ") for t in pipeline.corpus(s)["train"]]
    rl_prompts = [p.lower() for p in pipeline.rl_prompts(s)]
    vocabulary = pipeline.vocabulary(s)
    held = tweet_corpus.heldout_prompts()
    assert len(held) == len(set(held)) == len(tweet_corpus.HELDOUT_OPENERS)
    for prompt in held:
        words = prompt.lower().split(" ")
        assert not any(o[:len(words)] == words for o in openings), prompt
        assert not any(p.startswith(prompt.lower()) or prompt.lower().startswith(p) for p in rl_prompts), prompt
        assert set(words) <= vocabulary, (prompt, set(words) - vocabulary)
    assert (judge.vader_compound(held) == 0).all()
    assert not set(held) & set(tweet_corpus.eval_prompts(len(tweet_corpus.OPENERS)))
    with pytest.raises(ValueError, match="n must be"):
        tweet_corpus.heldout_prompts(len(tweet_corpus.HELDOUT_OPENERS) + 1)
