"""GRPO: group advantages, the first ratio, the KL in the loss, the frozen reference, bad settings."""

import math

import pytest
import torch
from tiny import TOK, tiny

from rlhf_edu.grpo import GRPOConfig, group_advantages, grpo_loss, train_grpo
from rlhf_edu.model import frozen_copy
from rlhf_edu.reward_model import RewardModel

PROMPTS = ["hello", "the cat", "a", "good day"]


def tiny_cfg(**kw):
    base = dict(iterations=2, prompts_per_iteration=2, group_size=4, minibatch_size=4, max_new_tokens=6, epochs=2,
                lr=1e-3)
    base.update(kw)
    return GRPOConfig(**base)


def test_group_advantages_have_zero_mean_per_group_and_zero_for_a_constant_group():
    scores = torch.tensor([1.0, 2.0, 6.0, 3.0, 0.1, 0.1, 0.1, 0.1, -5.0, 5.0, -5.0, 5.0])
    adv = group_advantages(scores, 4, eps=1e-4)
    groups = adv.view(3, 4)
    assert torch.allclose(groups.sum(1), torch.zeros(3), atol=1e-5)
    assert torch.equal(groups[1], torch.zeros(4))  # all equal: exactly 0, not 0/0
    assert torch.isfinite(adv).all()
    g = scores[:4]  # by hand: population std
    assert torch.allclose(groups[0], (g - g.mean()) / (g.std(correction=0) + 1e-4))
    assert groups[2].tolist() == pytest.approx([-1.0, 1.0, -1.0, 1.0], abs=1e-4)
    shifted = scores + torch.tensor([100.0] * 4 + [0.0] * 4 + [-7.0] * 4)  # easier/harder prompts change nothing
    assert torch.allclose(group_advantages(shifted, 4), adv, atol=1e-5)
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(scores, 5)


def test_loss_is_the_clipped_objective_minus_beta_k3_averaged_per_completion():
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    old = torch.tensor([[-1.0, -2.0, 0.0], [-0.5, -1.0, -1.5]])
    new = old + torch.tensor([[0.1, -0.1, 0.0], [0.5, 0.0, -0.05]])
    ref = old - 0.2
    adv = torch.tensor([1.0, -2.0])
    loss, stats = grpo_loss(new, old, ref, adv, mask, clip_eps=0.2, beta=0.5)
    per_seq = []
    for i in range(2):
        n = int(mask[i].sum())
        terms = []
        for t in range(n):
            r = math.exp(new[i, t] - old[i, t])
            a = float(adv[i])
            obj = min(r * a, max(min(r, 1.2), 0.8) * a)
            d = float(ref[i, t] - new[i, t])
            terms.append(obj - 0.5 * (math.exp(d) - d - 1))
        per_seq.append(sum(terms) / n)
    assert loss.item() == pytest.approx(-sum(per_seq) / 2, rel=1e-5)
    assert stats["kl_loss"] > 0


def test_first_minibatch_ratio_is_one_and_the_reference_never_moves():
    policy = tiny()
    reference = frozen_copy(policy)
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    _, hist = train_grpo(policy, reference, RewardModel(tiny(seed=1)), TOK, PROMPTS, tiny_cfg(iterations=3),
                         progress=False)
    for k, v in before.items():
        assert torch.equal(v, reference.state_dict()[k]), k
    for h in hist:
        assert h["ratio_first_minibatch"] == pytest.approx(1.0, abs=1e-6)
        for key in ("iteration", "score", "kl_k1", "kl_k3", "length", "tokens", "seconds", "loss", "clip_frac",
                    "approx_kl", "kl_loss", "zero_advantage_groups"):
            assert key in h and math.isfinite(h[key]), key
    assert hist[0]["kl_k1"] == 0.0 and hist[0]["kl_k3"] == 0.0  # policy == reference before any update
    assert hist[-1]["kl_k3"] > 0
    assert all(h["tokens"] > 0 for h in hist)


class PromptOnlyReward(torch.nn.Module):
    """Scores the prompt alone (its first real token's id): every group is constant."""

    def forward(self, sequences, attention_mask):
        first = attention_mask.long().argmax(1)
        return sequences[torch.arange(len(sequences)), first].float()


def test_constant_groups_teach_nothing():
    # Every advantage is 0 and, at the start, KL = 0: the first step leaves the policy as it was.
    policy = tiny()
    start = {k: v.clone() for k, v in policy.state_dict().items()}
    _, hist = train_grpo(policy, frozen_copy(policy), PromptOnlyReward(), TOK, PROMPTS,
                         tiny_cfg(iterations=1, epochs=1, minibatch_size=8), progress=False)
    assert hist[0]["zero_advantage_groups"] == 1.0 and hist[0]["loss"] == 0.0
    for k, v in start.items():
        assert torch.equal(v, policy.state_dict()[k]), k


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="beta"):
        GRPOConfig(beta=-0.01)
    with pytest.raises(ValueError, match="clip_eps"):
        GRPOConfig(clip_eps=1.5)
    with pytest.raises(ValueError, match="minibatch_size"):
        GRPOConfig(prompts_per_iteration=3, group_size=3, minibatch_size=4)


def test_the_clip_zeroes_the_gradient_of_tokens_past_the_band():
    # Ratio e^1 = 2.7 with A > 0, and e^-1 = 0.37 with A < 0: both clipped, no gradient (beta = 0).
    new = torch.tensor([[1.0, -1.0, 0.05]], requires_grad=True)
    old = torch.zeros(1, 3)
    mask = torch.ones(1, 3)
    for adv, clipped in ((1.0, [0]), (-1.0, [1])):
        new.grad = None
        loss, stats = grpo_loss(new, old, old.clone(), torch.tensor([adv]), mask, clip_eps=0.2, beta=0.0)
        loss.backward()
        assert all(new.grad[0, i] == 0 for i in clipped), new.grad
        assert new.grad[0, 2] != 0  # a ratio inside the band still gets its gradient
