"""The formulas of the RLHF story, one small function each.

Every function accepts Python numbers (or lists of them, where a sequence is
meant) and torch tensors. Python in gives Python out; tensors in give tensors
out, batched over leading axes and differentiable where that makes sense.
Python inputs are computed in float64 so worked numbers are exact to print.

Bad input raises ``ValueError`` naming the argument, e.g.
``token_probs must be in (0, 1], got 1.3``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

Number = float | int
ArrayLike = Number | list | tuple | torch.Tensor


# ---------------------------------------------------------------------------
# validation helpers (shared by every formula)
# ---------------------------------------------------------------------------

def _tensor(name: str, x: ArrayLike) -> torch.Tensor:
    """Turn x into a float tensor and check it is finite."""
    if isinstance(x, torch.Tensor):
        t = x if x.is_floating_point() else x.to(torch.float64)
    elif isinstance(x, (bool, str)) or x is None:
        raise ValueError(f"{name} must be a number, list of numbers or tensor, got {x!r}")
    else:
        try:
            t = torch.tensor(x, dtype=torch.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} must be a number, list of numbers or tensor, got {x!r}") from e
    if not torch.isfinite(t).all():
        bad = t[~torch.isfinite(t)].flatten()[0].item()
        raise ValueError(f"{name} must be finite, got {bad}")
    return t


def _first_bad(t: torch.Tensor, ok: torch.Tensor) -> float:
    return t.detach()[~ok].flatten()[0].item()


def _check_range(name: str, t: torch.Tensor, low: float, high: float,
                 low_open: bool, high_open: bool) -> None:
    """Raise if any value of t falls outside the interval (or [) low, high (or ])."""
    ok = (t > low) if low_open else (t >= low)
    ok = ok & ((t < high) if high_open else (t <= high))
    if not ok.all():
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {_first_bad(t, ok):g}")


def _check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    # A plain number (0-d) goes with anything; two batches must match exactly,
    # because silent broadcasting of mismatched batches hides real bugs.
    if a.dim() and b.dim() and a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b} must have the same shape, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def _pair(name_a: str, a: ArrayLike, name_b: str, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    ta, tb = _tensor(name_a, a), _tensor(name_b, b)
    _check_same_shape(name_a, ta, name_b, tb)
    dtype = torch.promote_types(ta.dtype, tb.dtype)
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        # a plain number follows the tensor's dtype (float32 stays float32)
        dtype = ta.dtype if isinstance(a, torch.Tensor) else tb.dtype
    return ta.to(dtype), tb.to(dtype)


def _scalar(name: str, x: Number, low: float, high: float, low_open: bool, high_open: bool) -> float:
    """A hyper-parameter such as epsilon, beta or gamma: one finite Python number."""
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{name} must be a number, got {x!r}")
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    _check_range(name, torch.tensor(float(x), dtype=torch.float64), low, high, low_open, high_open)
    return float(x)


def _out(t: torch.Tensor, *inputs: ArrayLike):
    """Return a Python number (or list) when no input was a tensor."""
    if any(isinstance(x, torch.Tensor) for x in inputs):
        return t
    return t.item() if t.dim() == 0 else t.tolist()


# ---------------------------------------------------------------------------
# 1. a sentence is a sequence of actions
# ---------------------------------------------------------------------------

def _check_not_empty(name: str, t: torch.Tensor) -> None:
    # An empty sum is 0 and an empty product 1: a "sentence" of no tokens would get probability 1.
    if t.ndim == 0 or t.shape[-1] == 0:
        raise ValueError(f"{name} must hold at least one token's value on its last axis, got shape {tuple(t.shape)}")


def sequence_logprob(token_logprobs: ArrayLike):
    """log pi(y|x) = sum_t log pi(y_t | x, y_<t), summed over the last axis."""
    lp = _tensor("token_logprobs", token_logprobs)
    _check_not_empty("token_logprobs", lp)
    _check_range("token_logprobs", lp, -math.inf, 0.0, low_open=True, high_open=False)
    return _out(lp.sum(-1), token_logprobs)


def sequence_prob(token_probs: ArrayLike):
    """pi(y|x) = prod_t pi(y_t | x, y_<t), over the last axis."""
    p = _tensor("token_probs", token_probs)
    _check_not_empty("token_probs", p)
    _check_range("token_probs", p, 0.0, 1.0, low_open=True, high_open=False)
    return _out(p.prod(-1), token_probs)


def sequence_prob_from_logprobs(token_logprobs: ArrayLike):
    """pi(y|x) = exp(sum_t log pi(y_t | ...)): the same number, reached by adding."""
    lp = _tensor("token_logprobs", token_logprobs)
    _check_not_empty("token_logprobs", lp)
    _check_range("token_logprobs", lp, -math.inf, 0.0, low_open=True, high_open=False)
    return _out(lp.sum(-1).exp(), token_logprobs)


def discounted_returns(rewards: ArrayLike, gamma: float = 1.0):
    """G_t = r_t + gamma * G_{t+1}, computed backwards over the last axis.

    Works on a 1-D sequence or a batch ``[..., T]``. In RLHF the reward usually
    arrives only at the last token, so G_t = gamma^(T-1-t) * R.
    """
    r = _tensor("rewards", rewards)
    gamma = _scalar("gamma", gamma, 0.0, 1.0, low_open=False, high_open=False)
    if r.dim() == 0:
        raise ValueError("rewards must have at least one axis (time), got a single number")
    returns, running = [], torch.zeros_like(r[..., 0])
    for t in reversed(range(r.shape[-1])):
        running = r[..., t] + gamma * running
        returns.append(running)
    return _out(torch.stack(returns[::-1], dim=-1), rewards)


# ---------------------------------------------------------------------------
# 2. rewards from preferences: Bradley-Terry
# ---------------------------------------------------------------------------

def sigmoid(x: ArrayLike):
    """sigma(x) = 1 / (1 + e^-x)."""
    return _out(torch.sigmoid(_tensor("x", x)), x)


def bradley_terry_prob(r_chosen: ArrayLike, r_rejected: ArrayLike):
    """P(chosen > rejected) = sigma(r_chosen - r_rejected)."""
    rc, rr = _pair("r_chosen", r_chosen, "r_rejected", r_rejected)
    return _out(torch.sigmoid(rc - rr), r_chosen, r_rejected)


def reward_model_loss(r_chosen: ArrayLike, r_rejected: ArrayLike):
    """L = -log sigma(r_chosen - r_rejected), one value per pair (take .mean() yourself).

    Computed with logsigmoid: the naive log(sigmoid(-1000)) is log(0) = -inf,
    while logsigmoid(-1000) = -1000, so a gap of -1000 gives a loss of 1000.
    """
    rc, rr = _pair("r_chosen", r_chosen, "r_rejected", r_rejected)
    return _out(-torch.nn.functional.logsigmoid(rc - rr), r_chosen, r_rejected)


# ---------------------------------------------------------------------------
# 3. policy gradient
# ---------------------------------------------------------------------------

def policy_gradient_surrogate(logp: ArrayLike, advantage: ArrayLike):
    """J = log pi(a|s) * A, whose gradient is A * grad log pi(a|s) (REINFORCE).

    Maximise it (minimise -J). The advantage is a fixed weight, not something
    to differentiate, so a tensor advantage is detached.
    """
    lp, adv = _pair("logp", logp, "advantage", advantage)
    _check_range("logp", lp, -math.inf, 0.0, low_open=True, high_open=False)
    return _out(lp * adv.detach(), logp, advantage)


# ---------------------------------------------------------------------------
# 4. importance sampling and PPO
# ---------------------------------------------------------------------------

def importance_ratio(prob_new: ArrayLike, prob_old: ArrayLike):
    """r = pi_new(a|s) / pi_old(a|s)."""
    pn, po = _pair("prob_new", prob_new, "prob_old", prob_old)
    _check_range("prob_new", pn, 0.0, 1.0, low_open=True, high_open=False)
    _check_range("prob_old", po, 0.0, 1.0, low_open=True, high_open=False)
    return _out(pn / po, prob_new, prob_old)


def importance_ratio_from_logprobs(logp_new: ArrayLike, logp_old: ArrayLike):
    """r = exp(log pi_new - log pi_old): how a training loop computes the ratio."""
    ln, lo = _pair("logp_new", logp_new, "logp_old", logp_old)
    _check_range("logp_new", ln, -math.inf, 0.0, low_open=True, high_open=False)
    _check_range("logp_old", lo, -math.inf, 0.0, low_open=True, high_open=False)
    return _out(torch.exp(ln - lo), logp_new, logp_old)


class PPOTerms(NamedTuple):
    unclipped: ArrayLike  # r * A
    clipped: ArrayLike    # clip(r, 1-eps, 1+eps) * A
    objective: ArrayLike  # min of the two: what PPO maximises


def ppo_clip_objective(ratio: ArrayLike, advantage: ArrayLike, epsilon: float = 0.2) -> PPOTerms:
    """L = min(r * A, clip(r, 1 - eps, 1 + eps) * A), elementwise.

    Returns all three terms so you can see which one the min picked. When it
    picks the clipped term, that term does not depend on the policy, so its
    gradient is exactly zero: PPO stops pushing that action.
    """
    r, adv = _pair("ratio", ratio, "advantage", advantage)
    epsilon = _scalar("epsilon", epsilon, 0.0, 1.0, low_open=True, high_open=True)
    _check_range("ratio", r, 0.0, math.inf, low_open=False, high_open=True)
    adv = adv.detach()  # the advantage is a fixed weight, as in policy_gradient_surrogate
    unclipped = r * adv
    clipped = torch.clamp(r, 1.0 - epsilon, 1.0 + epsilon) * adv
    objective = torch.minimum(unclipped, clipped)
    return PPOTerms(*(_out(t, ratio, advantage) for t in (unclipped, clipped, objective)))


# ---------------------------------------------------------------------------
# 5. the KL penalty
# ---------------------------------------------------------------------------

def kl_penalised_reward(reward: ArrayLike, kl: ArrayLike, beta: float):
    """R_total = R - beta * KL(pi || pi_ref)."""
    r, k = _pair("reward", reward, "kl", kl)
    beta = _scalar("beta", beta, 0.0, math.inf, low_open=False, high_open=True)
    return _out(r - beta * k, reward, kl)


def per_token_kl_k1(logp: ArrayLike, logp_ref: ArrayLike):
    """k1 = log pi(y_t) - log pi_ref(y_t) for the sampled token.

    An unbiased single-sample estimate of KL(pi || pi_ref): right on average,
    but one token's value can be negative although KL itself never is.
    """
    lp, lr = _pair("logp", logp, "logp_ref", logp_ref)
    _check_range("logp", lp, -math.inf, 0.0, low_open=True, high_open=False)
    _check_range("logp_ref", lr, -math.inf, 0.0, low_open=True, high_open=False)
    return _out(lp - lr, logp, logp_ref)


def kl_k3(logp: ArrayLike, logp_ref: ArrayLike):
    """k3 = (rho - 1) - log rho with rho = pi_ref(y_t) / pi(y_t).

    Also unbiased (E[rho] = 1 under pi), and never negative because
    log rho <= rho - 1. Computed as expm1(d) - d with d = log rho for accuracy.
    """
    lp, lr = _pair("logp", logp, "logp_ref", logp_ref)
    _check_range("logp", lp, -math.inf, 0.0, low_open=True, high_open=False)
    _check_range("logp_ref", lr, -math.inf, 0.0, low_open=True, high_open=False)
    log_rho = lr - lp
    return _out(torch.expm1(log_rho) - log_rho, logp, logp_ref)


def exact_kl(p: ArrayLike, q: ArrayLike):
    """KL(p || q) = sum_i p_i log(p_i / q_i) over the last axis (0 log 0 = 0)."""
    tp, tq = _pair("p", p, "q", q)
    _check_range("p", tp, 0.0, 1.0, low_open=False, high_open=False)
    _check_range("q", tq, 0.0, 1.0, low_open=True, high_open=False)
    if tp.dim() == 0 or tq.dim() == 0:
        raise ValueError("p and q must be distributions (lists or tensors), got a single number")
    for name, t in (("p", tp), ("q", tq)):
        total = t.sum(-1)
        ok = torch.isclose(total, torch.ones_like(total), atol=1e-6)
        if not ok.all():
            raise ValueError(f"{name} must sum to 1 over its last axis, got {_first_bad(total, ok):.6g}")
    # xlogy(p, p) is 0 where p is 0, which is the convention 0 log 0 = 0.
    return _out((torch.xlogy(tp, tp) - torch.xlogy(tp, tq)).sum(-1), p, q)
