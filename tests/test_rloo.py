"""RLOO: the leave-one-out baseline (PPO's), KL in the reward, the frozen reference, bad settings."""

import math

import pytest
import torch
from test_grpo import PROMPTS, PromptOnlyReward
from tiny import TOK, tiny

from rlhf_edu.model import frozen_copy
from rlhf_edu.ppo import leave_one_out
from rlhf_edu.reward_model import RewardModel
from rlhf_edu.rloo import RLOOConfig, rloo_advantages, train_rloo


def tiny_cfg(**kw):
    base = dict(iterations=2, prompts_per_iteration=2, samples_per_prompt=4, max_new_tokens=6, lr=1e-3)
    base.update(kw)
    return RLOOConfig(**base)


def test_advantages_are_ppos_leave_one_out_baseline_of_the_kl_penalised_reward():
    scores = torch.tensor([1.0, 2.0, 6.0, 10.0, 10.0, 13.0])
    kl = torch.tensor([0.5, 0.0, 2.0, 1.0, 3.0, 0.0])
    adv = rloo_advantages(scores, kl, beta=0.1, k=3)
    reward = scores - 0.1 * kl
    by_hand = [reward[i] - sum(reward[j] for j in range(3 * (i // 3), 3 * (i // 3) + 3) if j != i) / 2
               for i in range(6)]
    assert adv.tolist() == pytest.approx([float(x) for x in by_hand])
    assert torch.equal(adv, leave_one_out(reward, 3))


def test_prompt_only_scores_give_no_update_and_the_reference_never_moves():
    # With beta = 0 the advantage is the score minus the other samples' mean: 0 for a prompt-only score.
    policy = tiny()
    reference = frozen_copy(policy)
    start = {k: v.clone() for k, v in policy.state_dict().items()}
    _, hist = train_rloo(policy, reference, PromptOnlyReward(), TOK, PROMPTS, tiny_cfg(iterations=1, beta=0.0),
                         progress=False)
    assert hist[0]["loss"] == 0.0 and hist[0]["score"] > 0
    for k, v in start.items():
        assert torch.equal(v, policy.state_dict()[k]), k


def test_training_logs_and_keeps_the_reference_frozen():
    policy = tiny()
    reference = frozen_copy(policy)
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    _, hist = train_rloo(policy, reference, RewardModel(tiny(seed=1)), TOK, PROMPTS, tiny_cfg(iterations=3),
                         progress=False)
    for k, v in before.items():
        assert torch.equal(v, reference.state_dict()[k]), k
    assert hist[0]["kl_k1"] == 0.0 and hist[-1]["kl_k3"] > 0
    for h in hist:
        for key in ("iteration", "score", "kl_k1", "kl_k3", "total_reward", "loss", "length", "tokens", "seconds"):
            assert key in h and math.isfinite(h[key]), key
        assert h["total_reward"] == pytest.approx(h["score"] - 0.1 * h["kl_k1"], abs=1e-5)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="samples_per_prompt"):
        RLOOConfig(samples_per_prompt=1)
    with pytest.raises(ValueError, match="beta"):
        RLOOConfig(beta=-0.1)
    with pytest.raises(ValueError, match="lr"):
        RLOOConfig(lr=0.0)


def test_the_update_is_the_policy_gradient_loss_of_notebook_08(monkeypatch):
    # RLOO's loss is pg_loss (tested in test_policy_gradient.py: sign, generated tokens only,
    # temperature): check that train_rloo hands it the leave-one-out advantages and the temperature.
    import rlhf_edu.rloo as rloo_module
    from rlhf_edu.policy_gradient import pg_loss

    seen = []

    def spy(policy, ro, advantages, temperature=1.0):
        loss = pg_loss(policy, ro, advantages, temperature)
        seen.append((advantages.clone(), temperature, ro, loss.item()))
        return loss

    monkeypatch.setattr(rloo_module, "pg_loss", spy)
    _, hist = train_rloo(tiny(), frozen_copy(tiny()), RewardModel(tiny(seed=1)), TOK, PROMPTS,
                         tiny_cfg(iterations=1, temperature=0.7), progress=False)
    (adv, temperature, ro, loss), = seen
    assert temperature == 0.7 and hist[0]["loss"] == loss  # the very loss that was minimised, sign included
    assert torch.allclose(adv, rloo_advantages(ro.scores, ro.kl_k1.sum(1), 0.1, 4))
