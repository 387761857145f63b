"""The checks of notebooks 04-05: the importance ratio, PPO's clip, the per-token KL and the KL penalty.

Expected outputs come from ``rlhf_edu.formulas``; see ``nb01_03.py`` for how a check is declared.
"""

from __future__ import annotations

import math

import torch

from .. import examples
from .. import formulas as F
from .grading import Bug, Case, exercise
from .inputs import F64, generator, grad_of, randn, right_mask, tensor, uniform, with_pad_junk

# ---------------------------------------------------------------- notebook 04

@exercise(
    "04", "logp_new, logp_old", "logp_new, logp_old: tensors of the same shape -> ratio pi_new / pi_old, same shape",
    r"""
**The importance ratio from log-probs.** Write `importance_ratio(logp_new, logp_old)`:
$r = \pi_{\text{new}}(a \mid s) / \pi_{\text{old}}(a \mid s)$, elementwise, from the two log-probabilities,
the way a training loop does it. It must work for tiny probabilities too ($\log \pi = -800$).
""",
    [Bug(lambda n, o: torch.exp(o - n), "r = pi_new / pi_old = exp(logp_new - logp_old): new over old"),
     Bug(lambda n, o: n.exp() / o.exp(),
         "exp(-800) underflows to 0 and 0 / 0 = nan: subtract the log-probs first, then exp"),
     Bug(lambda n, o: n / o,
         "subtract the log-probs, then exponentiate: r = exp(logp_new - logp_old), not logp_new / logp_old"),
     Bug(lambda n, o: n - o, "logp_new - logp_old is log r: exponentiate it")],
)
def importance_ratio():
    g = generator(401)
    old = uniform(8, g, -5.0, -0.1)
    new = (old + randn(8, g, 0.3)).clamp(max=-1e-3)
    cases = [
        ("the story: pi_new = 0.45, pi_old = 0.3", tensor(math.log(0.45)), tensor(math.log(0.3)), "0.45 / 0.3 = 1.5"),
        ("the exploding case: pi_new = 0.5, pi_old = 0.05", tensor(math.log(0.5)), tensor(math.log(0.05)),
         "0.5 / 0.05 = 10"),
        ("a batch of 8 tokens", new, old, "elementwise: one ratio per token"),
        ("the same policy: ratio exactly 1", old, old.clone(), "equal log-probs give r = 1"),
        ("tiny probabilities: log pi_new = -800, log pi_old = -801", tensor([-800.0]), tensor([-801.0]),
         "exp(-800) underflows to 0: subtract the log-probs first (r = e here)"),
    ]
    return [Case(n, {"logp_new": a, "logp_old": b}, F.importance_ratio_from_logprobs(a, b), h) for n, a, b, h in cases]


def _ppo_obj_with_grad(fn, ratio, advantage, epsilon):
    leaf = ratio.requires_grad_(True)
    obj = fn(leaf, advantage, epsilon)
    return obj.detach(), grad_of(obj, leaf)


def _ppo_obj_ref(r, a, eps):
    return F.ppo_clip_objective(r, a, eps).objective


@exercise(
    "04", "ratio, advantage, epsilon=0.2",
    "ratio, advantage: tensors of the same shape, epsilon: float -> objective, same shape",
    r"""
**PPO's clipped objective.** Write `ppo_clip_objective(ratio, advantage, epsilon=0.2)`: elementwise
$\min\big(r A,\ \mathrm{clip}(r, 1-\epsilon, 1+\epsilon)\, A\big)$, the quantity PPO *maximises*.
Use the `epsilon` you are given. Where the clipped term wins, the gradient with respect to $r$ must be 0.
""",
    [Bug(lambda r, a, e: torch.clamp(r, 1 - e, 1 + e) * a,
         "take the min of r * A and clip(r) * A: the clip caps a gain, but r = 1.5, A = -1 must still give -1.5"),
     Bug(lambda r, a, e: r * a, "clip the ratio to [1 - epsilon, 1 + epsilon]: r = 10, A = 2 must give 2.4, not 20"),
     Bug(lambda r, a, e: torch.maximum(r * a, torch.clamp(r, 1 - e, 1 + e) * a),
         "min, not max: PPO keeps the more pessimistic of the two terms"),
     Bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r, 0.8, 1.2) * a),
         "use the epsilon argument, not a fixed 0.2"),
     Bug(lambda r, a, e: torch.minimum(r * a, torch.clamp(r * a, 1 - e, 1 + e)),
         "clip the ratio r to [1 - epsilon, 1 + epsilon], then multiply by A (don't clip the product)")],
)
def ppo_clip_objective():
    g = generator(402)
    cases = [
        ("the story: r = 1.5, A = +2", tensor(1.5), tensor(2.0), 0.2,
         "clip(1.5) * 2 = 2.4 is below 1.5 * 2 = 3: the min picks 2.4"),
        ("the story: r = 0.5, A = -1", tensor(0.5), tensor(-1.0), 0.2,
         "clip(0.5) * -1 = -0.8 is below -0.5: the min picks -0.8"),
        ("the exploding ratio: r = 10, A = +2", tensor(10.0), tensor(2.0), 0.2,
         "the clip caps the gain at 1.2 * 2 = 2.4"),
        ("r = 1.5, A = -1: the min keeps the worse, unclipped term", tensor(1.5), tensor(-1.0), 0.2,
         "r * A = -1.5 is below clip(r) * A = -1.2, so the min keeps -1.5"),
        ("r = 0.5, A = +1", tensor(0.5), tensor(1.0), 0.2,
         "r * A = 0.5 is below clip(r) * A = 0.8, so the min keeps 0.5"),
        ("ratios far outside the band (0.01 and 100), both signs", tensor([0.01, 0.01, 100.0, 100.0]),
         tensor([1.0, -1.0, 1.0, -1.0]), 0.2, "min(r * A, clip(r) * A) elementwise: [0.01, -0.8, 1.2, -100]"),
        ("a batch of 10 tokens, epsilon = 0.1", uniform(10, g, 0.0, 3.0), randn(10, g), 0.1,
         "use the epsilon argument"),
    ]
    out = [Case(n, {"ratio": r, "advantage": a, "epsilon": e}, _ppo_obj_ref(r, a, e), h) for n, r, a, e, h in cases]
    r, a = tensor([1.5, 0.5, 1.5, 0.5]), tensor([2.0, 2.0, -1.0, -1.0])
    out.append(Case("the gradient: 0 where the clipped term wins", {"ratio": r, "advantage": a, "epsilon": 0.2},
                    _ppo_obj_with_grad(_ppo_obj_ref, r.clone(), a, 0.2), run=_ppo_obj_with_grad,
                    labels=("objective", "d objective / d ratio"),
                    hint="where the min picks the clipped term the objective is constant in r: its gradient is 0"))
    return out


# ---------------------------------------------------------------- notebook 05

def _story_kl_inputs():
    return torch.log(tensor(examples.KL_PI)), torch.log(tensor(examples.KL_REF))


@exercise(
    "05", "logp, logp_ref", "logp, logp_ref: tensors of the same shape (sampled tokens) -> k1 per token, same shape",
    r"""
**Per-token KL, k1.** Write `kl_k1(logp, logp_ref)`: the single-sample estimate
$k_1 = \log\pi(y_t) - \log\pi_{\text{ref}}(y_t)$ for every sampled token, elementwise.
""",
    [Bug(lambda lp, lr: lr - lp, "k1 = log pi - log pi_ref: the policy's log-prob first"),
     Bug(lambda lp, lr: (lp - lr).abs(), "one token's k1 may be negative (only its average is a KL): don't take abs"),
     Bug(lambda lp, lr: 0.5 * (lp - lr) ** 2, "that is k2 (half the squared difference); k1 is the plain difference"),
     Bug(lambda lp, lr: lp.exp() / lr.exp(), "k1 is a difference of log-probs, not a ratio of probabilities")],
)
def kl_k1():
    g = generator(501)
    lp, lr = _story_kl_inputs()
    ref_b = uniform((3, 5), g, -6.0, -0.05)
    cases = [
        ("the story's 3 words: pi = [0.6, 0.3, 0.1], pi_ref = [0.4, 0.4, 0.2]", lp, lr,
         "k1 = log pi - log pi_ref per word: log(0.6 / 0.4) = 0.405 for 'great'"),
        ("a batch: 3 replies x 5 tokens", (ref_b + randn((3, 5), g, 0.5)).clamp(max=-1e-3), ref_b, "elementwise"),
        ("the same model: 0 everywhere", ref_b, ref_b.clone(), "equal log-probs give k1 = 0"),
        ("far apart: log pi = -0.01, log pi_ref = -30", tensor([-0.01]), tensor([-30.0]), "k1 = -0.01 - (-30) = 29.99"),
    ]
    return [Case(n, {"logp": a, "logp_ref": b}, F.per_token_kl_k1(a, b), h) for n, a, b, h in cases]


@exercise(
    "05", "logp, logp_ref", "logp, logp_ref: tensors of the same shape (sampled tokens) -> k3 per token, same shape",
    r"""
**Per-token KL, k3.** Write `kl_k3(logp, logp_ref)`: $k_3 = (\rho - 1) - \log\rho$ with
$\rho = \pi_{\text{ref}}(y_t) / \pi(y_t)$, elementwise. It is never negative. Compute $\log\rho$ from the
log-probs (probabilities as small as $e^{-800}$ must work).
""",
    [Bug(lambda lp, lr: torch.expm1(lp - lr) - (lp - lr),
         "rho = pi_ref / pi, so log rho = logp_ref - logp (not the other way)"),
     Bug(lambda lp, lr: (lr.exp() / lp.exp() - 1) - torch.log(lr.exp() / lp.exp()),
         "exp(-800) underflows to 0: compute log rho = logp_ref - logp first, then rho = exp(log rho)"),
     Bug(lambda lp, lr: (lr - lp).exp() - (lr - lp), "k3 = (rho - 1) - log rho: it is 0 when the two models agree"),
     Bug(lambda lp, lr: lp - lr, "that is k1; k3 = (rho - 1) - log rho with rho = pi_ref / pi, never negative")],
)
def kl_k3():
    g = generator(502)
    lp, lr = _story_kl_inputs()
    ref_b = uniform((3, 5), g, -6.0, -0.05)
    cases = [
        ("the story's 3 words: pi = [0.6, 0.3, 0.1], pi_ref = [0.4, 0.4, 0.2]", lp, lr,
         "rho = pi_ref / pi = 0.4 / 0.6 for 'great': k3 = (rho - 1) - log rho = 0.072"),
        ("a batch: 3 replies x 5 tokens", (ref_b + randn((3, 5), g, 0.5)).clamp(max=-1e-3), ref_b, "elementwise"),
        ("the same model: 0 everywhere", ref_b, ref_b.clone(), "rho = 1 gives k3 = 0"),
        ("tiny probabilities: log pi = -800, log pi_ref = -801", tensor([-800.0]), tensor([-801.0]),
         "exp(-800) underflows to 0: use log rho = logp_ref - logp = -1, rho = exp(-1)"),
        ("pi far above pi_ref: log pi = -0.01, log pi_ref = -30", tensor([-0.01]), tensor([-30.0]),
         "rho is about e^-30: k3 = (rho - 1) - log rho = 28.99"),
        ("pi_ref far above pi: log pi = -30, log pi_ref = -0.01", tensor([-30.0]), tensor([-0.01]),
         "rho is about e^30: k3 is large (1.05e13) but finite"),
    ]
    return [Case(n, {"logp": a, "logp_ref": b}, F.kl_k3(a, b), h) for n, a, b, h in cases]


def _kl_reward_ref(score, logp, logp_ref, mask, beta):
    return F.kl_penalised_reward(score, ((logp - logp_ref) * mask).sum(-1), beta)




@exercise(
    "05", "score, logp, logp_ref, mask, beta",
    "score: (B,), logp, logp_ref, mask: (B, T), beta: float -> (B,) penalised reward",
    r"""
**The KL-penalised reward.** Write `kl_penalised_reward(score, logp, logp_ref, mask, beta)`: for each
of $B$ completions, $R = r_{\text{RM}} - \beta \sum_t k_1$, with $k_1$ the per-token KL of the sampled
tokens. `mask` (float, 1 for real tokens, 0 for the pads after the end-of-text token) says which tokens
belong to the completion: the log-probs at pads are junk and must not count.
""",
    [Bug(lambda s, lp, lr, m, b: s - b * (lp - lr).sum(-1),
         "pads are not part of the completion: multiply the per-token KL by the mask before summing"),
     Bug(lambda s, lp, lr, m, b: s + b * ((lp - lr) * m).sum(-1), "the KL is a penalty: subtract beta * KL"),
     Bug(lambda s, lp, lr, m, b: s - b * ((lp - lr) * m).sum(-1) / m.sum(-1),
         "the penalty uses the KL of the whole completion: sum over its tokens, don't average"),
     Bug(lambda s, lp, lr, m, b: s - b * (((lr - lp).exp() - 1 - (lr - lp)) * m).sum(-1),
         "use k1 = log pi - log pi_ref per token, as the training loops do")],
)
def kl_penalised_reward():
    g = generator(503)
    # The story's two cases: KL 0.8 (over 4 real tokens, then a pad) and KL 15 (5 tokens), beta = 0.1.
    mask = right_mask([4, 5], 5)
    k1 = tensor([[0.3, 0.1, 0.2, 0.2, 0.0], [3.0, 3.0, 3.0, 3.0, 3.0]])
    ref = torch.stack([uniform(5, g, -3.0, -0.5), uniform(5, g, -8.0, -4.0)])
    lp = ref + k1
    lp, ref = with_pad_junk(lp, mask, g, -0.5, -0.1), with_pad_junk(ref, mask, g, -9.0, -6.0)
    cases = [("the story: score 3.5, KL 0.8 then 15, beta = 0.1 (a pad after the first)",
              tensor([3.5, 3.5]), lp, ref, mask, 0.1,
              "3.5 - 0.1 * 0.8 = 3.42 and 3.5 - 0.1 * 15 = 2.0; the pad adds nothing")]
    m = right_mask([6, 3, 1, 4], 6)  # row 3 is just EOS: every later column is a pad
    ref = uniform((4, 6), g, -6.0, -0.05)
    lp = (ref + randn((4, 6), g, 0.5)).clamp(max=-1e-3)
    score = randn(4, g)
    lp, ref = with_pad_junk(lp, m, g, -0.5, -0.1), with_pad_junk(ref, m, g, -9.0, -6.0)
    cases.append(("4 completions with pads after EOS (one is just EOS), beta = 0.05", score, lp, ref, m, 0.05,
                  "sum the per-token KL over real tokens only (mask = 1)"))
    cases.append(("beta = 0: the score alone", score, lp, ref, m, 0.0, "with beta = 0, R = score"))
    m3 = torch.ones(3, 4, dtype=F64)
    ref = uniform((3, 4), g, -6.0, -0.05)
    score = randn(3, g)
    lp = (ref + randn((3, 4), g, 0.5)).clamp(max=-1e-3)
    cases.append(("3 completions, no pads, beta = 0.2", score, lp, ref, m3, 0.2,
                  "R = score - beta * sum_t (logp - logp_ref)"))
    return [Case(n, {"score": s, "logp": a, "logp_ref": b, "mask": mk, "beta": bt}, _kl_reward_ref(s, a, b, mk, bt), h)
            for n, s, a, b, mk, bt, h in cases]
