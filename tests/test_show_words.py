"""The notebooks' source/settings display, and the real-word rate."""

import dataclasses
import html
import inspect
import re

import pytest

from rlhf_edu import ppo, show, words
from rlhf_edu.evaluation import SEPARATOR, sample_texts


def test_source_is_the_functions_own_code():
    s = show.source(ppo.gae)
    assert repr(s).startswith("# rlhf_edu.ppo.gae\ndef gae(")
    shown = html.unescape(re.sub(r"<[^>]+>", "", s._repr_html_()))  # the highlighted HTML, as text
    assert "rlhf_edu.ppo.gae" in shown and inspect.getsource(ppo.gae).strip() in shown
    with pytest.raises(TypeError):
        show.source(3)


def test_settings_one_field_a_line():
    text = show.settings(ppo.PPOConfig(beta=0.2))
    lines = text.splitlines()
    assert lines[0] == "PPOConfig"
    assert len(lines) == 1 + len(dataclasses.fields(ppo.PPOConfig))
    assert any(line.split() == ["beta", "=", "0.2"] for line in lines)
    with pytest.raises(TypeError):
        show.settings(ppo.PPOConfig)


def test_words_are_cut_as_documented():
    assert words.words("Amazing!!! I'm (ok) 😊 @mike #goodvibes ...") == ["amazing", "i'm", "ok", "@mike", "#goodvibes"]
    assert words.words("great.amazing") == ["great.amazing"]  # glued words are not split into real ones


def test_real_word_rate_counts_only_corpus_words():
    vocab = words.corpus_vocabulary(["I love my dog", "so happy today!"])
    assert words.real_word_rate(["i love it", "so dog"], vocab) == pytest.approx(4 / 5)
    assert words.real_word_rate(["😊 :)"], vocab) == 1.0  # no words: nothing to count
    # the last word of a completion cut by the token limit may be half a word: leave it out if asked
    assert words.real_word_rate(["love hap"], vocab, drop_truncated=[True]) == 1.0
    assert words.real_word_rate(["love hap"], vocab, drop_truncated=[False]) == 0.5
    with pytest.raises(ValueError):
        words.real_word_rate(["a", "b"], vocab, drop_truncated=[True])
    assert words.non_words(["love hap hap"], vocab) == {"hap": 2}


def test_samples_show_where_the_prompt_ends(tiny_policy, tok):
    plain = sample_texts(tiny_policy, tok, ["ab"], max_new_tokens=4, seed=0)[0]
    shown = sample_texts(tiny_policy, tok, ["ab"], max_new_tokens=4, seed=0, sep=SEPARATOR)[0]
    assert shown == "ab " + SEPARATOR + plain[2:]
