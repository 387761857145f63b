"""The independent judge: VADER scores, labels, positive rate, agreement."""

import numpy as np
import pytest

from rlhf_edu.sentiment import judge
from rlhf_edu.sentiment.corpus import Tweet


def test_compound_scores_have_the_right_sign_type_and_range():
    s = judge.vader_compound(["What a wonderful day, I love it!", "This is awful, I hate it.",
                              "The bus leaves at 9."])
    assert s.dtype == np.float64 and s.shape == (3,)
    assert s[0] > 0.5 and s[1] < -0.5 and s[2] == 0.0
    assert np.all(np.abs(s) <= 1.0)


def test_negation_and_emoji_are_understood():
    s = judge.vader_compound(["not bad at all", "not happy", "ok :)", "the bus 😢"])
    assert s[0] > 0 and s[1] < 0 and s[2] > 0 and s[3] < 0


def test_one_shared_analyzer(monkeypatch):
    # The lexicon is loaded once, however often the judge is called.
    import vaderSentiment.vaderSentiment as vs

    built = []

    class Counting(vs.SentimentIntensityAnalyzer):
        def __init__(self, *a, **kw):
            built.append(1)
            super().__init__(*a, **kw)

    monkeypatch.setattr(vs, "SentimentIntensityAnalyzer", Counting)
    judge.analyzer.cache_clear()
    try:
        for texts in (["hi"], ["hello"], ["a", "b"]):
            judge.vader_compound(texts)
        assert len(built) == 1
    finally:
        judge.analyzer.cache_clear()  # the next caller builds the real one


def test_labels_and_positive_rate_use_the_thresholds():
    texts = ["great", "terrible", "table", "good good", "bad"]
    scores = judge.vader_compound(texts)
    labels = judge.judge_label(texts)
    assert labels.tolist() == [2, 0, 1, 2, 0]
    assert labels.dtype == np.int64
    expected = np.where(scores >= judge.POSITIVE_THRESHOLD, 2,
                        np.where(scores <= -judge.POSITIVE_THRESHOLD, 0, 1))
    assert (labels == expected).all()
    assert judge.judge_positive_rate(texts) == pytest.approx(2 / 5)


def test_empty_input():
    assert judge.vader_compound([]).shape == (0,)
    assert judge.judge_label([]).shape == (0,)
    with pytest.raises(ValueError):
        judge.judge_positive_rate([])
    with pytest.raises(ValueError):
        judge.judge_agreement([])


def test_a_bare_string_is_refused():
    with pytest.raises(TypeError):
        judge.vader_compound("I love it")


def test_agreement_counts_and_confusion():
    tweets = [Tweet("I love this, amazing", 2), Tweet("I hate this, awful", 0),
              Tweet("I hate this, awful", 2), Tweet("The meeting is at 3", 1),
              Tweet("What a lovely day", 1)]
    out = judge.judge_agreement(tweets)
    assert out["n_pos_neg"] == 3 and out["pos_neg_agreement"] == pytest.approx(2 / 3)
    assert out["n_neutral"] == 2 and out["neutral_agreement"] == pytest.approx(1 / 2)
    assert out["three_way_agreement"] == pytest.approx(3 / 5)
    expected = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1]])
    assert (out["confusion"] == expected).all()
    assert out["confusion"].sum() == len(tweets)
