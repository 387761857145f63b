"""One test (at least) for every item of the PPO checklist (docs/ppo-checklist.md)."""

import copy
import dataclasses
import math

import pytest
import torch
from tiny import PROMPTS, TOK, tiny

from rlhf_edu import formulas
from rlhf_edu.model import frozen_copy, generate, response_logprobs
from rlhf_edu.ppo import (
    AdaptiveKLController,
    PolicyWithValue,
    PPOConfig,
    gae,
    gae_loop,
    leave_one_out,
    masked_mean,
    ppo_losses,
    token_rewards,
    train_ppo,
    whiten,
)
from rlhf_edu.reward_model import RewardModel, calibrate
from rlhf_edu.rollout import collect_rollout, truncate_after_eos


def tiny_cfg(**kw):
    base = dict(iterations=2, batch_size=8, minibatch_size=4, max_new_tokens=6, ppo_epochs=2, lr=1e-3)
    base.update(kw)
    return PPOConfig(**base)


# 1. reward layout
def test_score_sits_at_last_real_token_and_rows_sum_to_score_minus_beta_kl():
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float)
    logp = torch.randn(3, 5) * mask
    ref = torch.randn(3, 5) * mask
    scores = torch.tensor([2.0, -1.0, 0.5])
    r = token_rewards(scores, logp, ref, mask, beta=0.1)
    kl = ((logp - ref) * mask).sum(1)
    assert torch.allclose(r.sum(1), scores - 0.1 * kl)
    for row, last in enumerate([2, 4, 0]):
        expected = -0.1 * (logp[row, last] - ref[row, last]) + scores[row]
        assert torch.isclose(r[row, last], expected)
        assert (r[row, last + 1:] == 0).all()


# 2. KL estimators
def test_k1_and_k3_sample_means_approach_the_exact_kl():
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.5, 0.3])
    exact = formulas.exact_kl(p, q).item()
    g = torch.Generator().manual_seed(0)
    x = torch.multinomial(p, 200_000, replacement=True, generator=g)
    lp, lq = p.log()[x], q.log()[x]
    k1 = formulas.per_token_kl_k1(lp, lq)
    k3 = formulas.kl_k3(lp, lq)
    assert k1.mean().item() == pytest.approx(exact, abs=0.01)
    assert k3.mean().item() == pytest.approx(exact, abs=0.01)
    assert (k3 >= 0).all() and (k1 < 0).any()  # single k1 samples can be negative
    assert formulas.kl_k3(lp, lp).abs().max() == 0 and formulas.per_token_kl_k1(lp, lp).abs().max() == 0


# 3, 4, 5. logit alignment, temperature, sampling distribution
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_first_minibatch_ratio_is_one(temperature):
    policy = tiny()
    _, hist = train_ppo(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS,
                        tiny_cfg(iterations=1, temperature=temperature), progress=False)
    assert hist[0]["ratio_first_minibatch"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_rollout_logprobs_equal_the_samplers(temperature):
    policy = tiny()
    g = torch.Generator().manual_seed(0)
    gen = generate(policy, TOK.encode_batch(PROMPTS), 6, TOK.eos_id, TOK.pad_id, temperature=temperature,
                   generator=g)
    g = torch.Generator().manual_seed(0)
    ro = collect_rollout(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS, 6, temperature, g)
    assert torch.equal(ro.sequences, gen.sequences)
    assert torch.allclose(ro.logprobs, gen.logprobs * gen.response_mask, atol=1e-5)
    model = PolicyWithValue(policy).eval()
    new_logp, _, _ = model(ro.sequences, ro.attention_mask, ro.prompt_len, temperature)
    ratio = torch.exp((new_logp - ro.logprobs) * ro.response_mask)
    _, _, stats = ppo_losses(new_logp, ro.logprobs, torch.randn_like(ratio), torch.zeros_like(ratio),
                             torch.zeros_like(ratio), torch.zeros_like(ratio), ro.response_mask.float(),
                             PPOConfig())
    assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-6) and stats["clip_frac"] == 0.0


def test_top_k_sampling_is_off_policy_for_full_softmax_logprobs():
    policy = tiny()
    gen = generate(policy, TOK.encode_batch(PROMPTS), 6, TOK.eos_id, TOK.pad_id, top_k=3,
                   generator=torch.Generator().manual_seed(0))
    full = response_logprobs(policy, gen)
    m = gen.response_mask.bool()
    assert (full[m] < gen.logprobs[m] - 1e-4).any()  # the mismatch RL must avoid


# 6. padding
def test_left_padded_prompts_give_the_same_logprobs():
    policy = tiny()
    alone = generate(policy, [TOK.encode("good day")], 5, TOK.eos_id, TOK.pad_id,
                     generator=torch.Generator().manual_seed(3))
    seq = alone.sequences[0][alone.attention_mask[0].bool()].tolist()
    padded = torch.tensor([[TOK.pad_id] * 4 + seq])
    mask = torch.tensor([[0] * 4 + [1] * len(seq)])
    a = response_logprobs(policy, alone.sequences, alone.attention_mask, alone.prompt_len)
    b = response_logprobs(policy, padded, mask, 4 + alone.prompt_len)
    assert torch.allclose(a[0, : len(seq) - alone.prompt_len], b[0, : len(seq) - alone.prompt_len], atol=1e-5)


# 7. EOS handling
def test_truncate_after_eos_and_masked_positions_change_no_loss():
    tokens, mask = truncate_after_eos(torch.tensor([[3, TOK.eos_id, 5, 6], [1, 2, 3, 4]]), TOK.eos_id, TOK.pad_id)
    assert tokens.tolist() == [[3, TOK.eos_id, TOK.pad_id, TOK.pad_id], [1, 2, 3, 4]]
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    m = mask.float()
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(2, 4, generator=g) for _ in range(6)]
    args[0], args[1] = -args[0].abs(), -args[1].abs()
    base = ppo_losses(*args, m, PPOConfig())
    noisy = [a + (1 - m) * 7.0 for a in args]  # change only the masked positions
    other = ppo_losses(*noisy, m, PPOConfig())
    assert torch.allclose(base[0], other[0]) and torch.allclose(base[1], other[1])


# 8. reward normalisation
def test_calibrated_scores_have_mean_zero_std_one():
    rm = RewardModel(tiny(seed=1))
    gen = generate(tiny(), TOK.encode_batch(PROMPTS * 16), 6, TOK.eos_id, TOK.pad_id,
                   generator=torch.Generator().manual_seed(0))
    calibrate(rm, gen.sequences, gen.attention_mask)
    s = rm(gen.sequences, gen.attention_mask)
    assert s.mean().item() == pytest.approx(0.0, abs=1e-5) and s.std().item() == pytest.approx(1.0, abs=1e-4)


# 9. whitening
def test_whitening_is_unit_variance_over_real_tokens_and_ignores_pads():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float)
    x = torch.tensor([[1.0, 2.0, 3.0, 99.0], [4.0, 5.0, -50.0, 0.0]])
    w = whiten(x, mask)
    real = w[mask.bool()]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert (real ** 2).mean().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(whiten(x * mask, mask), w) and (w[~mask.bool()] == 0).all()


# 10. GAE
def test_gae_special_cases_and_vectorised_equals_loop():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(3, 6, generator=g), torch.randn(3, 6, generator=g)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], dtype=torch.float)
    r, v = r * mask, v * mask
    for lam in (0.0, 0.5, 0.95, 1.0):
        a, ret = gae(r, v, mask, 1.0, lam)
        b, ret_b = gae_loop(r, v, mask, 1.0, lam)
        assert torch.allclose(a, b, atol=1e-5) and torch.allclose(ret, ret_b, atol=1e-5)
    a1, ret1 = gae(r, v, mask, 1.0, 1.0)
    reward_to_go = torch.flip(torch.cumsum(torch.flip(r, [1]), 1), [1]) * mask
    assert torch.allclose(a1, reward_to_go - v, atol=1e-5)  # lambda = 1: sum of rewards - V
    assert torch.allclose(ret1, reward_to_go, atol=1e-5)
    a0, _ = gae(r, v, mask, 1.0, 0.0)
    next_v = torch.cat([v[:, 1:] * mask[:, 1:], torch.zeros(3, 1)], 1)
    assert torch.allclose(a0, (r + next_v - v) * mask, atol=1e-6)  # lambda = 0: the TD error


# 11. heads
def test_value_head_starts_at_exactly_zero_and_reward_head_bias_is_zero():
    model = PolicyWithValue(tiny()).eval()
    gen = generate(model.policy, TOK.encode_batch(PROMPTS), 6, TOK.eos_id, TOK.pad_id)
    _, _, values = model(gen.sequences, gen.attention_mask, gen.prompt_len)
    assert (values == 0).all()
    rm = RewardModel(tiny())
    assert rm.head.bias.item() == 0.0 and rm.head.weight.abs().max() < 1.0


def test_value_of_response_token_t_is_read_before_token_t():
    # V_t is the value of the state the policy acted in: prompt + response tokens < t. Changing
    # response token 0 must leave V_0 alone and move V_1. Catches the head read one position late
    # (it would see the action it judges) or early.
    model = PolicyWithValue(tiny()).eval()
    torch.nn.init.normal_(model.value_head.weight)
    seqs = torch.tensor([[TOK.pad_id, 3, 4, 5, 6, 7], [1, 2, 3, 8, 9, 10]])
    attn = torch.tensor([[0, 1, 1, 1, 1, 1], [1] * 6])
    other = seqs.clone()
    other[:, 3] = 20  # response token 0 (prompt_len = 3)
    with torch.no_grad():
        v = model(seqs, attn, 3)[2]
        w = model(other, attn, 3)[2]
    assert v.shape == (2, 3)
    assert torch.equal(v[:, 0], w[:, 0]) and (v[:, 1] != w[:, 1]).all()


# 12, 13. value clipping and policy clipping give zero gradient when they bind
def test_value_clip_gives_zero_gradient_when_it_binds():
    m = torch.ones(1, 1)
    new_v = torch.tensor([[1.0]], requires_grad=True)
    old_v, ret = torch.tensor([[0.0]]), torch.tensor([[3.0]])  # new - old = 1 > 0.2: clipped; clipped error larger
    _, vf, _ = ppo_losses(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), new_v, old_v, ret, m,
                          PPOConfig(value_clip_eps=0.2))
    vf.backward()
    assert new_v.grad.item() == 0.0


@pytest.mark.parametrize("ratio,adv,zero", [(1.5, 2.0, True), (0.5, -1.0, True), (1.5, -1.0, False),
                                            (0.5, 2.0, False), (1.0, 1.0, False)])
def test_policy_clip_gradient(ratio, adv, zero):
    new_logp = torch.tensor([[math.log(ratio) - 1.0]], requires_grad=True)
    pg, _, _ = ppo_losses(new_logp, torch.tensor([[-1.0]]), torch.tensor([[adv]]), torch.zeros(1, 1),
                          torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), PPOConfig(clip_eps=0.2))
    pg.backward()
    assert (new_logp.grad.item() == 0.0) == zero


# 14, 16, 18, 19. entropy logged, KL early stop, frozen reference, annealed learning rate
def test_training_logs_everything_and_keeps_the_reference_frozen():
    policy = tiny()
    reference = frozen_copy(policy)
    before = copy.deepcopy(reference.state_dict())
    _, hist = train_ppo(policy, reference, RewardModel(tiny(seed=1)), TOK, PROMPTS, tiny_cfg(iterations=3),
                        progress=False)
    for k, v in before.items():
        assert torch.equal(v, reference.state_dict()[k]), k
    assert hist[0]["kl_k1"] == 0.0 and hist[0]["kl_k3"] == 0.0  # policy == reference before any update
    assert any(h["kl_k3"] > 0 for h in hist[1:])
    for h in hist:
        for key in ("score", "kl_k1", "kl_k3", "total_reward", "policy_loss", "value_loss", "entropy",
                    "clip_frac", "approx_kl", "explained_variance", "lr", "beta"):
            assert key in h and (key == "explained_variance" or math.isfinite(h[key])), key
        assert h["entropy"] > 0
    lrs = [h["lr"] for h in hist]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]


def test_kl_early_stop_after_the_first_epoch():
    policy = tiny()
    _, hist = train_ppo(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS,
                        tiny_cfg(iterations=1, ppo_epochs=4, lr=1e-2, target_approx_kl=1e-12), progress=False)
    assert hist[0]["epochs_run"] == 1


class ZeroReward(torch.nn.Module):
    def forward(self, sequences, attention_mask):
        return torch.zeros(len(sequences))


def test_entropy_bonus_raises_the_entropy():
    # No score and beta = 0: advantages and value targets are 0, so the entropy term is the only force.
    # A peaked start (large embeddings) gives it a clear gradient. Catches the bonus's sign flipped.
    policy = tiny()
    with torch.no_grad():
        policy.wte.weight.mul_(50)
    gen = generate(policy, TOK.encode_batch(PROMPTS), 6, TOK.eos_id, TOK.pad_id,
                   generator=torch.Generator().manual_seed(0))

    def entropy(m):
        with torch.no_grad():
            return masked_mean(response_logprobs(m, gen, return_entropy=True)[1], gen.response_mask.float()).item()

    before = entropy(policy)
    train_ppo(policy, frozen_copy(policy), ZeroReward(), TOK, PROMPTS,
              tiny_cfg(iterations=1, beta=0.0, entropy_coef=1.0, lr=1e-3), progress=False)
    assert entropy(policy) > before + 1e-3


def test_value_and_policy_losses_see_the_advantages_and_returns_gae_gives():
    # train_ppo's wiring, at the first minibatch of two iterations (one minibatch per iteration, so the
    # logged losses are that minibatch's, before its step): the critic's target is gae's return of the
    # penalised, leave-one-out rewards with this config's gamma and lambda, *not* whitened; the policy
    # loss at ratio 1 is minus the mean whitened advantage, 0 unless rows and advantages are mismatched.
    cfg = tiny_cfg(iterations=2, ppo_epochs=1, minibatch_size=8, samples_per_prompt=2, gamma=0.9, lam=0.8,
                   beta=0.5, lr=1e-2)
    rm, seen = RewardModel(tiny(seed=1)), []
    policy = tiny()
    _, hist = train_ppo(policy, frozen_copy(policy), rm, TOK, PROMPTS, cfg, progress=False,
                        callback=lambda log, ro: seen.append(ro))
    # The same first iteration alone: the model as the second iteration found it (lr is cfg.lr in both).
    policy = tiny()
    after_one, _ = train_ppo(policy, frozen_copy(policy), rm, TOK, PROMPTS, dataclasses.replace(cfg, iterations=1),
                             progress=False)
    for it, ro in enumerate(seen):
        mask = ro.response_mask.float()
        values = torch.zeros_like(mask)  # the value head starts at 0
        if it:
            with torch.no_grad():
                values = after_one(ro.sequences, ro.attention_mask, ro.prompt_len)[2] * mask
        kl = ro.kl_k1.sum(1)
        assert (kl.abs().max() > 1e-3) == (it == 1)  # the second rollout has a KL to penalise
        rewards = token_rewards(leave_one_out(ro.scores, 2), ro.logprobs, ro.ref_logprobs, mask, cfg.beta)
        _, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        vf_loss = 0.5 * masked_mean((values - returns) ** 2, mask).item()  # V = V_old: no clipping yet
        assert hist[it]["value_loss"] == pytest.approx(vf_loss, rel=1e-5)
        assert hist[it]["policy_loss"] == pytest.approx(0.0, abs=1e-5)


# 15. adaptive KL controller
def test_adaptive_kl_controller_moves_beta_by_a_bounded_factor():
    up = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    assert up.update(kl=100.0, n_steps=64) == pytest.approx(0.1 * (1 + 0.2 * 64 / 10_000))
    down = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    assert down.update(kl=0.0, n_steps=64) == pytest.approx(0.1 * (1 - 0.2 * 64 / 10_000))
    same = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    assert same.update(kl=6.0, n_steps=64) == pytest.approx(0.1)


# 17. dropout off
def test_dropout_is_off_during_rl():
    policy = tiny(dropout=0.3)
    model = PolicyWithValue(policy)
    gen = generate(policy, TOK.encode_batch(PROMPTS), 6, TOK.eos_id, TOK.pad_id)
    model.eval()
    a = model(gen.sequences, gen.attention_mask, gen.prompt_len)[0]
    b = model(gen.sequences, gen.attention_mask, gen.prompt_len)[0]
    assert torch.equal(a, b)
    _, hist = train_ppo(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS,
                        tiny_cfg(iterations=1), progress=False)
    assert hist[0]["ratio_first_minibatch"] == pytest.approx(1.0, abs=1e-6)


def test_bad_ppo_config_raises():
    with pytest.raises(ValueError, match="clip_eps"):
        PPOConfig(clip_eps=1.5)
    with pytest.raises(ValueError, match="beta"):
        PPOConfig(beta=-0.1)
    with pytest.raises(ValueError, match="minibatch_size"):
        PPOConfig(batch_size=10, minibatch_size=4)
    with pytest.raises(ValueError, match="samples_per_prompt"):
        PPOConfig(batch_size=8, minibatch_size=4, samples_per_prompt=3)
    with pytest.raises(ValueError, match="samples_per_prompt"):
        PPOConfig(samples_per_prompt=0)


# Several completions per prompt: the leave-one-out baseline (not in the checklist; our summarisation run uses it)
def test_leave_one_out_removes_what_the_prompt_alone_explains():
    scores = torch.tensor([1.0, 2.0, 6.0, 10.0, 10.0, 13.0])
    out = leave_one_out(scores, 3)
    want = [1 - (2 + 6) / 2, 2 - (1 + 6) / 2, 6 - (1 + 2) / 2, 10 - 11.5, 10 - 11.5, 13 - 10]
    assert out.tolist() == pytest.approx(want)
    assert out.view(2, 3).sum(1).tolist() == pytest.approx([0.0, 0.0])  # each group sums to zero
    shifted = scores + torch.tensor([5.0] * 3 + [-7.0] * 3)  # an "easier" and a "harder" prompt
    assert torch.allclose(leave_one_out(shifted, 3), out)
    assert torch.equal(leave_one_out(scores, 1), scores)  # k = 1: the scores as they are
    with pytest.raises(ValueError, match="groups of 4"):
        leave_one_out(scores, 4)


class PromptOnlyReward(torch.nn.Module):
    """A reward model that scores the prompt alone: its first real token's id."""

    def forward(self, sequences, attention_mask):
        first = attention_mask.long().argmax(1)
        return sequences[torch.arange(len(sequences)), first].float()


def test_leave_one_out_baseline_reaches_the_update():
    # Scores that depend only on the prompt say nothing about the completions: with the baseline
    # every advantage is 0 in the first iteration (V = 0, KL = 0), so both losses are exactly 0.
    policy = tiny()
    _, hist = train_ppo(policy, frozen_copy(policy), PromptOnlyReward(), TOK, PROMPTS,
                        tiny_cfg(iterations=1, samples_per_prompt=4), progress=False)
    assert hist[0]["policy_loss"] == 0.0 and hist[0]["value_loss"] == 0.0
    assert hist[0]["score"] > 0  # the raw score is what gets logged
    policy = tiny()
    _, hist = train_ppo(policy, frozen_copy(policy), PromptOnlyReward(), TOK, PROMPTS,
                        tiny_cfg(iterations=1, samples_per_prompt=1), progress=False)
    assert hist[0]["value_loss"] > 0  # without it, the prompt's score is all there is to learn


def test_samples_per_prompt_samples_each_prompt_k_times_in_a_row():
    seen = []
    policy = tiny()
    cfg = tiny_cfg(iterations=2, samples_per_prompt=4)
    _, hist = train_ppo(policy, frozen_copy(policy), RewardModel(tiny(seed=1)), TOK, PROMPTS, cfg,
                        progress=False, callback=lambda log, ro: seen.append(ro))
    assert hist[0]["ratio_first_minibatch"] == pytest.approx(1.0, abs=1e-6)
    for ro in seen:
        prompts = [next(p for p in sorted(PROMPTS, key=len, reverse=True) if t.startswith(p)) for t in ro.texts]
        groups = [prompts[i:i + 4] for i in range(0, len(prompts), 4)]
        assert all(len(set(g)) == 1 for g in groups), groups
