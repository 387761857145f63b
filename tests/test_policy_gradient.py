"""The vanilla policy-gradient loop: its advantages, its loss, and what one step does."""

import copy

import pytest
import torch
from tiny import PROMPTS, TOK, tiny

from rlhf_edu.model import frozen_copy
from rlhf_edu.policy_gradient import PGConfig, pg_loss, sequence_advantages, train_policy_gradient
from rlhf_edu.rollout import Rollout


def test_sequence_advantages_subtract_the_mean_then_divide_by_the_std():
    r = torch.tensor([1.0, 2.0, 3.0, 6.0])  # mean 3, sample std sqrt(14 / 3)
    want = torch.tensor([-2.0, -1.0, 0.0, 3.0])
    assert torch.allclose(sequence_advantages(r, normalise=False), want)
    assert torch.allclose(sequence_advantages(r), want / (14 / 3) ** 0.5)
    assert torch.equal(sequence_advantages(r, baseline=False, normalise=False), r)
    assert sequence_advantages(torch.tensor([5.0]), baseline=False).tolist() == [5.0]  # one sample: no std


def _seq_logp_alone(policy, tokens, prompt_len, temperature):
    """log pi(response | prompt) of one unpadded row, straight from the logits."""
    logits, _ = policy(torch.tensor([tokens]))
    logp = torch.log_softmax(logits[0, :-1] / temperature, -1).gather(1, torch.tensor(tokens[1:])[:, None])
    return logp[prompt_len - 1:].sum()


def test_pg_loss_counts_the_generated_tokens_only_at_the_sampling_temperature():
    # Row 0: left-padded prompt, a 2-token response, then 2 pads (which hold real token ids here: a loss
    # that reads them changes). Catches a sum over padding, a flipped sign, the temperature left out.
    policy = tiny().eval()
    pad = TOK.pad_id
    seqs = torch.tensor([[pad, 3, 4, 5, 27, 9, 9], [1, 2, 3, 7, 8, 9, 27]])
    attn = torch.tensor([[0, 1, 1, 1, 1, 0, 0], [1] * 7])
    ro = Rollout(seqs, attn, 3, attn[:, 3:], None, None, None, [], [])
    adv = torch.tensor([1.5, -0.5])
    got = pg_loss(policy, ro, adv, temperature=0.7)
    want = -(1.5 * _seq_logp_alone(policy, [3, 4, 5, 27], 2, 0.7)
             - 0.5 * _seq_logp_alone(policy, [1, 2, 3, 7, 8, 9, 27], 3, 0.7)) / 2
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


class Scores(torch.nn.Module):
    """Scores completions by how many 'a's they hold: a reward the policy can chase."""

    def forward(self, sequences, attention_mask):
        return ((sequences == TOK.chars.index("a")) & attention_mask.bool()).sum(1).float()


def test_one_step_raises_the_log_prob_of_the_better_completions_and_the_log_is_right():
    policy = tiny()
    start = copy.deepcopy(policy)
    cfg = PGConfig(iterations=2, batch_size=8, max_new_tokens=6, temperature=0.7, lr=1e-3, beta=0.5)
    seen = []

    def callback(log, ro):  # called after the step: the policy has just moved
        with torch.no_grad():
            seen.append((ro, pg_loss(policy, ro, sequence_advantages(ro.scores - cfg.beta * ro.kl_k1.sum(1)),
                                     cfg.temperature).item()))

    _, hist = train_policy_gradient(policy, frozen_copy(policy), Scores(), TOK, PROMPTS, cfg, progress=False,
                                    callback=callback)
    ro, loss_after = seen[0]
    adv = sequence_advantages(ro.scores)  # policy = reference at the first step: KL = 0
    assert adv.abs().sum() > 0
    with torch.no_grad():
        loss_before = pg_loss(start, ro, adv, cfg.temperature).item()
    # The logged loss is the loss at the sampling temperature, with baselined, normalised advantages;
    # the step lowers it, i.e. raises sum_i A_i log pi(y_i). Catches a flipped sign or a lost temperature.
    assert hist[0]["loss"] == pytest.approx(loss_before, rel=1e-5)
    assert loss_after < loss_before
    # The reward is score - beta * KL (k1, summed over tokens). Catches the KL sign and beta ignored.
    for h, (ro, _) in zip(hist, seen):
        kl = ro.kl_k1.sum(1)
        assert h["kl_k1"] == pytest.approx(kl.mean().item(), abs=1e-7)
        assert h["total_reward"] == pytest.approx((ro.scores - 0.5 * kl).mean().item(), abs=1e-7)
    assert abs(hist[1]["kl_k1"]) > 1e-4  # the policy moved, so the KL term mattered
