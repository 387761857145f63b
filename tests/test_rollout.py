"""Rollouts: the KL estimates they report, the reference's temperature, scores read at real tokens."""

import math

import pytest
import torch
from tiny import PROMPTS, TOK, tiny

from rlhf_edu.model import frozen_copy
from rlhf_edu.reward_model import RewardModel
from rlhf_edu.rollout import Rollout, collect_rollout


def test_kl_estimates_of_a_hand_built_rollout():
    # pi = 0.5, ref = 0.25 and pi = 0.2, ref = 0.4; the third token is a pad (log-probs 0, as
    # collect_rollout stores them). Catches k1 or k3 taken the wrong way round (both still vanish
    # when pi = ref, so the PPO test of a frozen start cannot see it).
    mask = torch.tensor([[1, 1, 0]])
    logp = torch.tensor([[math.log(0.5), math.log(0.2), 0.0]])
    ref = torch.tensor([[math.log(0.25), math.log(0.4), 0.0]])
    ro = Rollout(torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.long), 1, mask, logp, ref,
                 torch.zeros(1), [""], [""])
    assert ro.kl_k1.tolist()[0] == pytest.approx([math.log(2), -math.log(2), 0.0])
    # k3 = (rho - 1) - log rho with rho = ref / pi: 0.5 and 2
    assert ro.kl_k3.tolist()[0] == pytest.approx([-0.5 + math.log(2), 1.0 - math.log(2), 0.0])


def test_reference_logprobs_use_the_sampling_temperature():
    # Reference = policy: every log-prob and both KL estimates must be exactly 0 at any temperature.
    # Catches the reference scored at T = 1 while the policy is scored at T.
    policy = tiny()
    ro = collect_rollout(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS, 6, 0.7,
                         torch.Generator().manual_seed(0))
    assert torch.equal(ro.ref_logprobs, ro.logprobs)
    assert (ro.kl_k1 == 0).all() and (ro.kl_k3 == 0).all()


def test_score_is_the_reward_models_score_of_the_text_alone():
    # Rows that end early are right-padded after their EOS. Catches pads counted as real tokens
    # (the score read at a pad, after the text) and scores read at a fixed column.
    policy, rm = tiny(), RewardModel(tiny(seed=1))
    ro = collect_rollout(policy, frozen_copy(policy), rm, TOK, PROMPTS * 2, 12, 1.0, torch.Generator().manual_seed(1))
    ended_early = ro.response_mask[:, -1] == 0
    assert ended_early.any() and not ended_early.all()  # both kinds, or the test proves nothing
    responses = ro.sequences[:, ro.prompt_len:]
    assert (responses[ro.response_mask == 0] == TOK.pad_id).all()
    assert torch.equal(ro.attention_mask[:, ro.prompt_len:], ro.response_mask)
    for i, prompt in enumerate(PROMPTS * 2):
        text = torch.tensor([TOK.encode(prompt) + responses[i][ro.response_mask[i].bool()].tolist()])
        alone = rm(text, torch.ones_like(text))
        assert ro.scores[i].item() == pytest.approx(alone.item(), abs=1e-5)


def test_no_eos_penalty_replaces_only_the_scores_of_completions_that_never_end():
    policy, rm = tiny(), RewardModel(tiny(seed=1))
    args = (policy, frozen_copy(policy), rm, TOK, PROMPTS * 2, 12, 1.0)
    plain = collect_rollout(*args, torch.Generator().manual_seed(1))
    penalised = collect_rollout(*args, torch.Generator().manual_seed(1), no_eos_penalty=-7.0)
    ended = ((plain.sequences[:, plain.prompt_len:] == TOK.eos_id) & plain.response_mask.bool()).any(1)
    assert ended.any() and not ended.all()
    assert torch.equal(penalised.scores[ended], plain.scores[ended])
    assert (penalised.scores[~ended] == -7.0).all()
