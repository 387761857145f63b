"""Reward model: score at the last real token, pairs, training signal, calibration."""

import copy

import pytest
import torch

from rlhf_edu.model import GPT, GPTConfig
from rlhf_edu.reward_model import RewardModel, encode_for_rm, last_real_index, preference_pairs
from rlhf_edu.sentiment.corpus import Tweet


def tiny_rm():
    torch.manual_seed(0)
    return RewardModel(GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, d_model=16))).eval()


def test_last_real_index_for_left_and_right_padding():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]])
    assert last_real_index(mask).tolist() == [3, 2, 3]
    with pytest.raises(ValueError, match="no real token"):
        last_real_index(torch.tensor([[0, 0]]))


def test_score_ignores_whatever_sits_in_pad_positions():
    rm = tiny_rm()
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    a = rm(ids, mask)
    b = rm(torch.tensor([[5, 6, 7, 9, 9]]), mask)
    assert torch.allclose(a, b, atol=1e-6)
    # and it is the score of the text alone, unpadded
    assert torch.allclose(a, rm(torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long)), atol=1e-5)


class Tok:
    eos_id, pad_id = 0, 1

    def encode(self, text):
        return [2 + (ord(c) % 28) for c in text]


def test_long_texts_keep_their_end_where_the_score_is_read():
    # The score is read at the last token, the EOS: a text cut to fit must lose its start, not its EOS.
    ids, mask = encode_for_rm(Tok(), ["abcdefgh", "ab"], block_size=4)
    f, g, h, a, b = Tok().encode("fghab")
    assert ids.tolist() == [[f, g, h, 0], [1, a, b, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [0, 1, 1, 1]]


def test_preference_pairs_prefer_the_more_positive_label():
    tweets = [Tweet(f"neg {i}", 0) for i in range(5)] + [Tweet(f"neu {i}", 1) for i in range(5)] + \
             [Tweet(f"pos {i}", 2) for i in range(5)]
    order = {"neg": 0, "neu": 1, "pos": 2}
    pairs = preference_pairs(tweets, 30, seed=0)
    assert len(pairs) == 30
    assert all(order[c.split()[0]] > order[r.split()[0]] for c, r in pairs)
    kinds = {(c.split()[0], r.split()[0]) for c, r in pairs}
    assert kinds == {("pos", "neg"), ("pos", "neu"), ("neu", "neg")}
    with pytest.raises(ValueError, match="all three labels"):
        preference_pairs(tweets[:5], 3)


def test_bradley_terry_training_learns_a_simple_preference():
    from rlhf_edu.reward_model import RMTrainConfig, pairwise_accuracy, train_reward_model

    pairs = [("ab" * (1 + i % 3), "yz" * (1 + i % 4)) for i in range(40)]
    rm = tiny_rm()
    hist = train_reward_model(rm, Tok(), pairs, RMTrainConfig(steps=40, batch_size=8, lr=3e-3), progress=False)
    assert sum(hist["loss"][-5:]) / 5 < sum(hist["loss"][:5]) / 5
    assert pairwise_accuracy(rm, Tok(), pairs) == 1.0


def test_head_init_does_not_depend_on_the_global_rng():
    # It did: a reward model trained in a notebook (after other sampling) differed from the CLI's.
    backbone = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, d_model=16))
    torch.manual_seed(1)
    a = RewardModel(copy.deepcopy(backbone)).head.weight
    torch.manual_seed(2)
    torch.rand(5)
    b = RewardModel(copy.deepcopy(backbone)).head.weight
    assert torch.equal(a, b)
    assert not torch.equal(a, RewardModel(copy.deepcopy(backbone), seed=1).head.weight)
