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


def test_packed_pairs_score_as_each_sequence_alone():
    from rlhf_edu.model import left_pad
    from rlhf_edu.reward_model import pair_rows

    rm = tiny_rm()
    chosen = [[3, 4, 5, 6, 7, 1], [3, 9, 1], [8, 8, 8, 2, 1], [5, 1]]
    rejected = [[3, 4, 5, 9, 1], [3, 9, 1], [7, 1], [5, 6, 7, 8, 9, 10, 11, 1]]  # a long, an equal, a no-share pair
    ids, sees, positions, last_c, last_r = pair_rows(chosen, rejected, pad_id=0)
    # Shared prefix once: [3, 4, 5] + [6, 7, 1] + [9, 1]; equal pairs keep their last token apart.
    assert ids[0, :8].tolist() == [3, 4, 5, 6, 7, 1, 9, 1] and positions[0, :8].tolist() == [0, 1, 2, 3, 4, 5, 3, 4]
    assert ids[1, :4].tolist() == [3, 9, 1, 1] and (last_c[1], last_r[1]) == (2, 3)
    assert not sees[0, 6, 3:6].any() and sees[0, 6, :3].all()  # rejected's rest never sees chosen's rest
    r_c, r_r = rm.pair_scores(chosen, rejected, pad_id=0)
    alone = rm.raw_score(*left_pad(chosen + rejected, 0))
    torch.testing.assert_close(torch.cat([r_c, r_r]), alone, atol=1e-5, rtol=1e-5)
    # Gradients agree too: training on packed rows is training on the pairs.
    from rlhf_edu import formulas

    grads = []
    for packed in (True, False):
        rm.zero_grad()
        if packed:
            a, b = rm.pair_scores(chosen, rejected, pad_id=0)
        else:
            s = rm.raw_score(*left_pad(chosen + rejected, 0))
            a, b = s[:4], s[4:]
        formulas.reward_model_loss(a, b).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in rm.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_packed_rows_are_checked():
    from rlhf_edu.reward_model import pair_rows

    rm = tiny_rm()
    with pytest.raises(ValueError, match="as many chosen as rejected"):
        pair_rows([[1, 2]], [], pad_id=0)
    with pytest.raises(ValueError, match="none of them empty"):
        pair_rows([[1, 2]], [[]], pad_id=0)
    ids, sees, positions, _, _ = pair_rows([[1, 2, 3]], [[1, 2, 4]], pad_id=0)
    with pytest.raises(ValueError, match="needs position_ids"):
        rm.backbone(ids, attention_mask=sees)
    with pytest.raises(ValueError, match="outside the context"):
        rm.backbone(ids, attention_mask=sees, position_ids=positions + 16)
    with pytest.raises(ValueError, match="needs a"):
        rm.backbone(ids, attention_mask=sees[:, :-1, :-1], position_ids=positions)


def test_packed_rows_may_be_longer_than_the_context():
    # Two 12-token texts sharing 2 tokens make a 22-token row; the model's context is 16.
    from rlhf_edu.model import left_pad
    from rlhf_edu.reward_model import pair_rows

    rm = tiny_rm()
    chosen, rejected = [[3, 4] + list(range(5, 15)) + [1]], [[3, 4] + list(range(15, 25)) + [1]]
    ids, _, _, _, _ = pair_rows(chosen, rejected, 0)
    assert ids.shape[1] > rm.config.block_size
    r_c, r_r = rm.pair_scores(chosen, rejected, pad_id=0)
    torch.testing.assert_close(torch.cat([r_c, r_r]), rm.raw_score(*left_pad(chosen + rejected, 0)),
                               atol=1e-5, rtol=1e-5)
