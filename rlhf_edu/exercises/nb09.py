"""The checks of notebook 09: per-token rewards, GAE, whitening, PPO's two losses, the leave-one-out baseline.

Expected outputs come from ``rlhf_edu.ppo`` (``token_rewards``, ``gae``, ``whiten``, ``ppo_losses``,
``leave_one_out``) on the same tensors, with junk at the pads so that forgetting a mask shows.
"""

from __future__ import annotations

import torch

from ..ppo import PPOConfig
from ..ppo import gae as _pkg_gae
from ..ppo import leave_one_out as _pkg_leave_one_out
from ..ppo import ppo_losses as _pkg_ppo_losses
from ..ppo import token_rewards as _pkg_token_rewards
from ..ppo import whiten as _pkg_whiten
from .grading import Bug, Case, exercise, table
from .inputs import F64, generator, grad_of, randn, right_mask, tensor, uniform, with_pad_junk

# ---------------------------------------------------------------- notebook 09

def _rl_batch(g, lengths, R, pad_junk=True):
    """(mask, logp, ref_logp) for a batch of completions with pads after EOS; log-probs at pads are junk."""
    m = right_mask(lengths, R)
    ref = uniform((len(lengths), R), g, -6.0, -0.05)
    lp = (ref + randn(ref.shape, g, 0.5)).clamp(max=-1e-3)
    if pad_junk:
        lp, ref = with_pad_junk(lp, m, g, -0.5, -0.1), with_pad_junk(ref, m, g, -9.0, -6.0)
    return m, lp, ref


def _last_real_column(m):
    return (m.long() * torch.arange(m.shape[1])).argmax(1)


def _bug_score_last_column(s, lp, lr, m, b):
    r = -b * (lp - lr) * m
    r[:, -1] += s
    return r


def _bug_no_mask_rewards(s, lp, lr, m, b):
    r = -b * (lp - lr)
    r[torch.arange(len(s)), _last_real_column(m)] += s
    return r


def _bug_plus_beta(s, lp, lr, m, b):
    r = b * (lp - lr) * m
    r[torch.arange(len(s)), _last_real_column(m)] += s
    return r


@exercise(
    "09", "scores, logp, ref_logp, mask, beta",
    "scores: (B,), logp, ref_logp, mask: (B, R) float, beta: float -> (B, R) per-token rewards",
    r"""
**Per-token rewards.** Write `token_rewards(scores, logp, ref_logp, mask, beta)`: every real token
gets $-\beta\,(\log\pi - \log\pi_{\text{ref}})$, and the last real token of each completion (its EOS;
after it come pads) also gets the reward model's score. Pads get 0. Each row then sums to
$r_{\text{RM}} - \beta\sum_t k_1$.
""",
    [Bug(_bug_score_last_column,
         "add the score at each row's last real token (its EOS), not the last column, which can be a pad"),
     Bug(_bug_no_mask_rewards, "pads get 0: multiply the per-token KL penalty by the mask"),
     Bug(_bug_plus_beta, "the KL is a penalty: each token gets -beta * (logp - ref_logp)"),
     Bug(lambda s, lp, lr, m, b: (-b * (lp - lr) + s[:, None]) * m,
         "the score comes once per completion, at its last real token, not at every token")],
)
def token_rewards():
    g = generator(901)
    cases = []
    m, lp, lr = _rl_batch(g, [3, 2], 4)
    cases.append(("2 completions, beta = 0.1, pads after EOS", tensor([1.0, -2.0]), lp, lr, m, 0.1,
                  "-beta * k1 on real tokens, + score at the last real token, 0 on pads"))
    m, lp, lr = _rl_batch(g, [6, 1, 4, 2], 6)
    cases.append(("4 completions, one just EOS, beta = 0.05", randn(4, g), lp, lr, m, 0.05,
                  "a completion that is just EOS gets its score (and its KL term) at column 0"))
    m, lp, lr = _rl_batch(g, [5, 5, 5], 5)
    cases.append(("3 completions without pads, beta = 0.2", randn(3, g), lp, lr, m, 0.2,
                  "the score goes to the last column here"))
    m, lp, lr = _rl_batch(g, [2, 4], 4)
    cases.append(("beta = 0: only the score, at the last real token", tensor([0.7, 1.3]), lp, lr, m, 0.0,
                  "with beta = 0, the only nonzero reward is the score at the last real token"))
    return table(("scores", "logp", "ref_logp", "mask", "beta"), _pkg_token_rewards, cases)


def _bug_gae_no_mask(r, v, m, gamma, lam):
    adv, last = torch.zeros_like(r), torch.zeros_like(r[:, 0])
    for t in reversed(range(r.shape[1])):
        nv = v[:, t + 1] if t + 1 < r.shape[1] else torch.zeros_like(last)
        last = r[:, t] + gamma * nv - v[:, t] + gamma * lam * last
        adv[:, t] = last
    return adv, adv + v


def _bug_gae_bootstrap_pad(r, v, m, gamma, lam):
    adv, ret = _bug_gae_no_mask(r * m, v, m, gamma, lam)
    return adv * m, ret * m


def _bug_gae_gamma_only(r, v, m, gamma, lam):
    return _pkg_gae(r, v, m, gamma, 1.0)  # A_t = delta_t + gamma * A_{t+1}: lambda forgotten


def _bug_gae_returns(r, v, m, gamma, lam):
    adv, _ = _pkg_gae(r, v, m, gamma, lam)
    return adv, adv


@exercise(
    "09", "rewards, values, mask, gamma=1.0, lam=0.95",
    "rewards, values, mask: (B, R) float, gamma, lam: float -> (advantages, returns), each (B, R)",
    r"""
**GAE.** Write `gae(rewards, values, mask, gamma=1.0, lam=0.95)`, returning `(advantages, returns)`:
$\delta_t = r_t + \gamma V_{t+1} - V_t$ with $V = 0$ after each completion's last real token (the
values at pads are junk), $A_t = \delta_t + \gamma\lambda A_{t+1}$, and returns $= A + V$. Pads get 0
in both outputs.
""",
    [Bug(_bug_gae_no_mask, "the value after the last real token is 0 (don't bootstrap from a pad), and pads get 0"),
     Bug(_bug_gae_bootstrap_pad,
         "the value after the last real token is 0: don't bootstrap from the pad's (junk) value"),
     Bug(_bug_gae_gamma_only, "A_t = delta_t + gamma * lam * A_{t+1}: use both gamma and lambda"),
     Bug(_bug_gae_returns, "returns = advantages + values (the value head's target), not the advantages alone")],
)
def gae():
    g = generator(902)
    cases = [("one completion of 3 tokens, gamma = 1, lam = 0.95", tensor([[0.0, -0.1, 1.0]]),
              tensor([[0.5, 0.2, 0.4]]), torch.ones(1, 3, dtype=F64), 1.0, 0.95,
              "delta_t = r_t + V_{t+1} - V_t (V = 0 after the end), A_t = delta_t + 0.95 A_{t+1}")]
    m = right_mask([5, 3, 6, 2], 6)
    r = randn((4, 6), g) * m
    v = with_pad_junk(randn((4, 6), g), m, g, 2.0, 5.0)
    cases.append(("4 completions with pads after EOS (values at pads are junk)", r, v, m, 1.0, 0.95,
                  "mask the next value: V = 0 after the last real token; pads get 0"))
    r, v = randn((3, 5), g), randn((3, 5), g)
    cases.append(("gamma = 0.9, lam = 0.8, no pads", r, v, torch.ones(3, 5, dtype=F64), 0.9, 0.8,
                  "A_t = delta_t + gamma * lam * A_{t+1}"))
    m = right_mask([1, 4], 4)
    r = randn((2, 4), g) * m
    v = with_pad_junk(randn((2, 4), g), m, g, 2.0, 5.0)
    cases.append(("a completion that is just EOS, the rest pads", r, v, m, 1.0, 0.95,
                  "one real token: A_0 = r_0 - V_0 (nothing after it)"))
    return table(("rewards", "values", "mask", "gamma", "lam"), _pkg_gae, cases, labels=("advantages", "returns"))


def _bug_whiten_all(x, m):
    return (x - x.mean()) * torch.rsqrt(x.var(unbiased=False) + 1e-8) * m


def _masked_stats(x, m):
    mean = (x * m).sum() / m.sum()
    var = (((x - mean) ** 2) * m).sum() / m.sum()
    return mean, var


def _bug_whiten_pads(x, m):
    mean, var = _masked_stats(x, m)
    return (x - mean) * torch.rsqrt(var + 1e-8)


def _bug_whiten_unbiased(x, m):
    mean, var = _masked_stats(x, m)
    var = var * m.sum() / (m.sum() - 1)
    return (x - mean) * torch.rsqrt(var + 1e-8) * m


def _bug_whiten_no_eps(x, m):
    mean, var = _masked_stats(x, m)
    return (x - mean) / var.sqrt() * m


@exercise(
    "09", "x, mask", "x, mask: (B, R) float -> (B, R) whitened x",
    r"""
**Whitening over real tokens.** Write `whiten(x, mask)`: subtract the mean and divide by
$\sqrt{\text{var} + 10^{-8}}$, where the mean and the variance (the mean squared deviation, divided by the
count, not count − 1) are taken over the real tokens of the whole batch only. Pads hold junk that must
not affect the statistics, and get 0 in the output.
""",
    [Bug(_bug_whiten_all, "the mean and the variance come from the real tokens only (mask = 1): pads would drag them"),
     Bug(_bug_whiten_pads, "pads get 0 after whitening: multiply by the mask"),
     Bug(_bug_whiten_unbiased, "use the plain mean of squared deviations (divide by the count, not count - 1)"),
     Bug(_bug_whiten_no_eps, "add 1e-8 to the variance before the square root, so equal values give 0, not nan"),
     Bug(lambda x, m: x * torch.rsqrt(_masked_stats(x, m)[1] + 1e-8) * m, "subtract the mean too, before dividing")],
)
def whiten():
    g = generator(903)
    m = right_mask([5, 2, 6, 1], 6)
    m2 = right_mask([3, 1], 4)
    m3 = right_mask([3, 2], 3)
    cases = [
        ("one completion of 5 tokens, no pads", randn((1, 5), g, 2.0) + 1, torch.ones(1, 5, dtype=F64),
         "(x - mean) / sqrt(var + 1e-8)"),
        ("4 completions with pads after EOS (x at pads is junk)",
         with_pad_junk(randn((4, 6), g, 2.0), m, g, 50.0, 90.0), m,
         "mean and variance over real tokens only; pads get 0"),
        ("a completion that is just EOS", with_pad_junk(randn((2, 4), g), m2, g, 50.0, 90.0), m2,
         "a row with one real token"),
        ("all real values equal", with_pad_junk(torch.full((2, 3), 0.7, dtype=F64), m3, g, 5.0, 9.0), m3,
         "variance 0: (x - mean) * rsqrt(0 + 1e-8) = 0, not nan"),
    ]
    return table(("x", "mask"), _pkg_whiten, cases)


def _masked_mean(x, m):
    return (x * m).sum() / m.sum()


def _ppo_pol_ref(new_logp, old_logp, advantages, mask, clip_eps):
    zeros = torch.zeros_like(new_logp)
    return _pkg_ppo_losses(new_logp, old_logp, advantages, zeros, zeros, zeros, mask, PPOConfig(clip_eps=clip_eps))[0]


def _ppo_pol_grad(fn, new_logp, old_logp, advantages, mask, clip_eps):
    leaf = new_logp.requires_grad_(True)
    loss = fn(leaf, old_logp, advantages, mask, clip_eps)
    return loss.detach(), grad_of(loss, leaf)


def _pol_bug(obj_fn, reduce=_masked_mean, sign=-1.0, inverted=False):
    """A policy loss built wrongly: obj_fn(ratio, A, eps) per token, then reduce and sign."""
    def fn(new, old, a, m, eps):
        ratio = torch.exp(old - new) if inverted else torch.exp(new - old)
        return sign * reduce(obj_fn(ratio, a, eps), m)
    return fn


@exercise(
    "09", "new_logp, old_logp, advantages, mask, clip_eps=0.2",
    "new_logp, old_logp, advantages, mask: (B, R) float, clip_eps: float -> scalar loss",
    r"""
**PPO's policy loss.** Write `ppo_policy_loss(new_logp, old_logp, advantages, mask, clip_eps=0.2)`:
with $r_t = \exp(\log\pi_{\text{new}} - \log\pi_{\text{old}})$ per token, the loss is minus the mean, over
the real tokens of the batch (mask 1), of $\min(r_t A_t,\ \mathrm{clip}(r_t, 1-\epsilon, 1+\epsilon) A_t)$.
Values at pads are junk.
""",
    [Bug(_pol_bug(lambda r, a, e: torch.clamp(r, 1 - e, 1 + e) * a),
         "take the min of r * A and clip(r) * A: without it a token with r above 1 + eps and A < 0 "
         "loses its full penalty"),
     Bug(_pol_bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r, 1 - e, 1 + e) * a), reduce=lambda x, m: x.mean()),
         "average over real tokens only: sum(objective * mask) / sum(mask)"),
     Bug(_pol_bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r, 1 - e, 1 + e) * a), sign=1.0),
         "return the loss to minimise: minus the mean clipped objective"),
     Bug(_pol_bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r, 1 - e, 1 + e) * a), inverted=True),
         "r = exp(new_logp - old_logp): new over old"),
     Bug(_pol_bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r, 0.8, 1.2) * a)),
         "use clip_eps, not a fixed 0.2")],
)
def ppo_policy_loss():
    g = generator(904)

    def batch(lengths, R, spread):
        m = right_mask(lengths, R)
        old = uniform((len(lengths), R), g, -6.0, -0.5)
        new = (old + randn(old.shape, g, spread)).clamp(max=-1e-3)
        adv = randn(old.shape, g)
        return (with_pad_junk(new, m, g, -3.0, -0.1), with_pad_junk(old, m, g, -3.0, -0.1),
                with_pad_junk(adv, m, g, 5.0, 9.0), m)

    cases = [
        ("one completion, ratios inside the band", *batch([4], 4, 0.05), 0.2, "minus the mean of min(r A, clip(r) A)"),
        ("ratios far outside the band (log-ratios around +-2)", *batch([5, 5], 5, 2.0), 0.2,
         "where r leaves [0.8, 1.2] the min decides: clipped when it would gain, unclipped when it loses"),
        ("4 completions with pads after EOS (junk at pads), eps = 0.1", *batch([6, 2, 1, 4], 6, 0.3), 0.1,
         "the mean is over real tokens only; use clip_eps"),
    ]
    out = table(("new_logp", "old_logp", "advantages", "mask", "clip_eps"), _ppo_pol_ref, cases)
    new, old, adv, m = batch([5, 3, 6], 6, 0.5)
    out.append(Case("the gradient w.r.t. new_logp: 0 where the clip binds and at pads",
                    {"new_logp": new, "old_logp": old, "advantages": adv, "mask": m, "clip_eps": 0.2},
                    _ppo_pol_grad(_ppo_pol_ref, new.clone(), old, adv, m, 0.2), run=_ppo_pol_grad,
                    labels=("loss", "d loss / d new_logp"),
                    hint="the clipped branch and the pads get no gradient; "
                         "other real tokens get -r A / (number of real tokens)"))
    return out


def _ppo_val_ref(new_values, old_values, returns, mask, clip_eps):
    zeros = torch.zeros_like(new_values)
    cfg = PPOConfig(value_clip_eps=clip_eps)
    return _pkg_ppo_losses(zeros, zeros, zeros, new_values, old_values, returns, mask, cfg)[1]


def _ppo_val_grad(fn, new_values, old_values, returns, mask, clip_eps):
    leaf = new_values.requires_grad_(True)
    loss = fn(leaf, old_values, returns, mask, clip_eps)
    return loss.detach(), grad_of(loss, leaf)


def _val_bug(combine=torch.maximum, half=0.5, reduce=_masked_mean):
    def fn(v, v_old, ret, m, eps):
        v_clip = v_old + (v - v_old).clamp(-eps, eps)
        return half * reduce(combine((v - ret) ** 2, (v_clip - ret) ** 2), m)
    return fn


@exercise(
    "09", "new_values, old_values, returns, mask, clip_eps=0.2",
    "new_values, old_values, returns, mask: (B, R) float, clip_eps: float -> scalar loss",
    r"""
**PPO's value loss.** Write `ppo_value_loss(new_values, old_values, returns, mask, clip_eps=0.2)`:
with $V_{\text{clip}} = V_{\text{old}} + \mathrm{clip}(V - V_{\text{old}}, -\epsilon, \epsilon)$, the loss is
$\tfrac12$ × the mean over real tokens (mask 1) of $\max\big((V - R)^2, (V_{\text{clip}} - R)^2\big)$,
$R$ the returns. Values at pads are junk.
""",
    [Bug(_val_bug(combine=torch.minimum), "take the max of the two squared errors (the pessimistic one), not the min"),
     Bug(lambda v, vo, r, m, e: 0.5 * _masked_mean((v - r) ** 2, m),
         "clip the new value to old_values +- clip_eps and take the max of the two squared errors"),
     Bug(_val_bug(half=1.0), "the loss has a factor 1/2"),
     Bug(lambda v, vo, r, m, e: 0.5 * _masked_mean(torch.maximum((v - r) ** 2, ((v - vo).clamp(-e, e) - r) ** 2), m),
         "V_clip = V_old + clip(V - V_old, -eps, eps): add the old value back after clipping the change"),
     Bug(_val_bug(reduce=lambda x, m: x.mean()), "average over real tokens only: sum(loss * mask) / sum(mask)")],
)
def ppo_value_loss():
    g = generator(905)

    def batch(lengths, R, move):
        m = right_mask(lengths, R)
        old = randn((len(lengths), R), g)
        new = old + randn(old.shape, g, move)
        ret = old + randn(old.shape, g)
        return (with_pad_junk(new, m, g, 5.0, 9.0), with_pad_junk(old, m, g, -9.0, -5.0),
                with_pad_junk(ret, m, g, 5.0, 9.0), m)

    cases = [
        ("one completion, small moves from the old values", *batch([4], 4, 0.05), 0.2,
         "0.5 * mean of max((V - R)^2, (V_clip - R)^2)"),
        ("values moved far from the old ones (the clip binds)", *batch([5, 5], 5, 1.0), 0.2,
         "V_clip = V_old + clip(V - V_old, -eps, eps); take the larger squared error"),
        ("4 completions with pads after EOS (junk at pads), eps = 0.5", *batch([6, 2, 1, 4], 6, 0.6), 0.5,
         "the mean is over real tokens only; use clip_eps"),
    ]
    out = table(("new_values", "old_values", "returns", "mask", "clip_eps"), _ppo_val_ref, cases)
    new, old, ret, m = batch([5, 3, 6], 6, 0.5)
    inputs = {"new_values": new, "old_values": old, "returns": ret, "mask": m, "clip_eps": 0.2}
    expected = _ppo_val_grad(_ppo_val_ref, new.clone(), old, ret, m, 0.2)
    out.append(Case("the gradient w.r.t. new_values", inputs, expected, run=_ppo_val_grad,
                    labels=("loss", "d loss / d new_values"),
                    hint="pads must get no gradient; where the clipped error is the larger one, V gets none either"))
    return out


def _bug_loo_self(s, k):
    return (s.view(-1, k) - s.view(-1, k).mean(1, keepdim=True)).reshape(-1)


def _bug_loo_strided(s, k):
    groups = s.view(k, -1)
    others = (groups.sum(0, keepdim=True) - groups) / (k - 1)
    return (groups - others).reshape(-1)


def _bug_loo_batch(s, k):
    return s - (s.sum() - s) / (len(s) - 1)


def _bug_loo_k1(s, k):
    groups = s.view(-1, k)
    return (groups - (groups.sum(1, keepdim=True) - groups) / (k - 1)).reshape(-1)


@exercise(
    "09", "scores, k", "scores: (B,) with B = n_prompts * k, k: int -> (B,) scores minus their baseline",
    r"""
**The leave-one-out baseline.** Each prompt was sampled $k$ times, and its $k$ completions are consecutive
rows of `scores`. Write `leave_one_out(scores, k)`: each score minus the mean of the *other* $k-1$ scores of
its prompt (the sample itself must not be in its own baseline). With $k = 1$ there is no other sample:
return the scores unchanged.
""",
    [Bug(_bug_loo_self, "the baseline must leave the sample out: subtract the mean of the *other* k - 1 scores"),
     Bug(_bug_loo_strided, "the k completions of a prompt are consecutive rows: group with scores.view(-1, k)"),
     Bug(_bug_loo_batch, "compare each completion only with the other completions of its own prompt"),
     Bug(_bug_loo_k1, "with k = 1 there is no other sample (0 / 0 = nan): return the scores unchanged")],
)
def leave_one_out():
    g = generator(906)
    cases = [
        ("2 prompts x 3 completions: [1, 2, 3, 10, 20, 30]", tensor([1.0, 2.0, 3.0, 10.0, 20.0, 30.0]), 3,
         "compare with the other completions of its own prompt only: 1 - mean(2, 3) = -1.5, 2 - mean(1, 3) = 0, ..."),
        ("k = 2: [4, 2, 0, 0]", tensor([4.0, 2.0, 0.0, 0.0]), 2,
         "with k = 2 the baseline is the other completion's score"),
        ("k = 1: no baseline", tensor([0.3, -1.2, 2.0]), 1, "with k = 1, return the scores unchanged"),
        ("8 prompts x 4 completions", randn(32, g), 4, "groups of k consecutive rows"),
        ("prompts with very different scores: [1000, 1001, -1000, -999]", tensor([1000.0, 1001.0, -1000.0, -999.0]), 2,
         "each prompt's completions are compared only with each other: [-1, 1, -1, 1]"),
    ]
    return [Case(n, {"scores": s, "k": k}, _pkg_leave_one_out(s, k), h) for n, s, k, h in cases]
