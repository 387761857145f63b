"""What every RL trainer shares, so that each trainer file shows only its algorithm.

- ``RLConfig``: the settings every RL (and DPO) config has, checked once: sampling length and
  temperature, learning rate and its schedule, the KL coefficient beta, gradient clipping, seed;
- the masked statistics and the leave-one-out baseline the losses use (``masked_mean``,
  ``whiten``, ``explained_variance``, ``leave_one_out``);
- the scaffold of a loop: ``freeze`` the reference and reward model, ``pick_prompts`` (k
  consecutive rows per prompt), ``learning_rate`` / ``set_lr`` (linear decay), ``optimizer_step``
  (zero_grad, backward, clip, step), ``log_record`` (the keys every sampling trainer logs) and
  ``report`` (progress bar, history, callback, and a warning when the run leaves the healthy ranges);
- the health of a run: ``approx_kl`` (how far one iteration moved the policy), the healthy ranges
  of approx-KL and the clip fraction (``HEALTHY_MAX``, ``HEALTHY_FIRST_HALF``; their sources are in
  ``docs/ppo-checklist.md``) and ``health`` (a run's log read against them).

The loops themselves stay in ``ppo.py``, ``policy_gradient.py``, ``rloo.py``, ``grpo.py`` and
``dpo.py``: read any of them top to bottom.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass
class RLConfig:
    """Settings every RL trainer has. Each algorithm's config adds its own (and may change a default)."""

    max_new_tokens: int = 24       # must agree with the task's setup (the setups check)
    temperature: float = 1.0       # used for sampling *and* every log-prob (policy and reference)
    lr: float = 3e-4
    anneal_lr: bool = True         # linear decay to 0 over the run
    # Linear warm-up over the first iterations: Adam's first steps move every weight by about lr
    # whatever its gradient, so a trainer that takes one large step per batch starts too hot without it.
    warmup_iterations: int = 0
    beta: float = 0.1              # KL coefficient: how far from the reference the policy may go
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self):
        checks = [("max_new_tokens", self.max_new_tokens >= 1, ">= 1"), ("temperature", self.temperature > 0, "> 0"),
                  ("lr", self.lr > 0, "> 0"), ("beta", self.beta >= 0, ">= 0"),
                  ("max_grad_norm", self.max_grad_norm > 0, "> 0"),
                  ("warmup_iterations", self.warmup_iterations >= 0, ">= 0")]
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"{name} must be {rule}, got {getattr(self, name)}")


# ---------------------------------------------------------------- masked statistics and baselines

def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x, mask, shift_mean=True):
    """Normalise over real tokens only; pads stay 0 and do not affect the statistics."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask


def explained_variance(pred, target, mask) -> float:
    var_y = masked_mean((target - masked_mean(target, mask)) ** 2, mask)
    resid = target - pred
    var_r = masked_mean((resid - masked_mean(resid, mask)) ** 2, mask)
    return float("nan") if var_y == 0 else (1 - var_r / var_y).item()


def leave_one_out(scores, k):
    """Each score minus the mean of the other k - 1 scores of its group (groups: consecutive rows of k)."""
    if k == 1:
        return scores
    if k < 1 or len(scores) % k:
        raise ValueError(f"{len(scores)} scores do not split into groups of {k}")
    groups = scores.view(-1, k)
    others = (groups.sum(1, keepdim=True) - groups) / (k - 1)
    return (groups - others).reshape(-1)


# ---------------------------------------------------------------- the scaffold of a loop

def freeze(*models):
    """Eval mode (dropout off) and no gradients, for the reference and the reward model (None is skipped)."""
    for m in models:
        if m is not None:
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def pick_prompts(prompts: list[str], n: int, k: int, generator: torch.Generator) -> list[str]:
    """``n`` prompts drawn with replacement, each repeated ``k`` times in consecutive rows (a group)."""
    picked = torch.randint(0, len(prompts), (n,), generator=generator).tolist()
    return [prompts[i] for i in picked for _ in range(k)]


def learning_rate(cfg: RLConfig, step: int, total: int) -> float:
    """``cfg.lr``, decayed linearly to 0 over ``total`` steps when ``cfg.anneal_lr``, and during the first
    ``cfg.warmup_iterations`` steps scaled by (step + 1) / (warmup_iterations + 1)."""
    lr = cfg.lr * (1 - step / total) if cfg.anneal_lr else cfg.lr
    if step < cfg.warmup_iterations:
        lr *= (step + 1) / (cfg.warmup_iterations + 1)
    return lr


def set_lr(opt, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def optimizer_step(opt, loss, parameters, max_grad_norm: float) -> None:
    """One gradient step: zero the old gradients, backward, clip the gradient norm, step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(parameters, max_grad_norm)
    opt.step()


def log_record(it: int, ro, beta: float, lr: float, t_start: float, t_update: float, **extra) -> dict:
    """The keys every sampling trainer logs for an iteration, then the algorithm's own (``extra``).

    KL is per completion (summed over its tokens), k1 and k3; ``total_reward`` = score - beta * KL (k1).
    """
    now = time.perf_counter()
    kl = ro.kl_k1.sum(1)
    return {"iteration": it, "score": ro.scores.mean().item(), "kl_k1": kl.mean().item(),
            "kl_k3": ro.kl_k3.sum(1).mean().item(), "total_reward": (ro.scores - beta * kl).mean().item(),
            "length": ro.lengths.float().mean().item(), "tokens": int(ro.lengths.sum()), "lr": lr, "beta": beta,
            "seconds": now - t_start, "seconds_generation": ro.seconds["generation"],
            "seconds_scoring": ro.seconds["scoring"], "seconds_update": now - t_update, **extra}


def report(bar, history: list, log: dict, callback=None, batch=None) -> None:
    """Keep the iteration's log, show score and KL on the progress bar, call ``callback(log, batch)``.

    Warns (``UnhealthyRunWarning``, once per diagnostic and run) when the log leaves the healthy ranges.
    """
    history.append(log)
    bar.set_postfix(score=f"{log['score']:.2f}", kl=f"{log['kl_k1']:.2f}")
    warn_if_unhealthy(history, bar.total)
    if callback is not None:
        callback(log, batch)


def progress_bar(total: int, desc: str, progress: bool):
    """A text bar: a saved notebook keeps its last state (a widget bar saves "0%")."""
    from tqdm import tqdm

    return tqdm(range(total), desc=desc, disable=not progress)


# ---------------------------------------------------------------- the health of a run

# Healthy ranges of the two update diagnostics (what they mean and the sources: docs/ppo-checklist.md).
# PPO and GRPO log both as means over the iteration's minibatches, each measured when its step began
# (before it): clip_frac, the share of real tokens whose ratio pi_new / pi_old was outside
# [1 - eps, 1 + eps]; approx_kl, k3 between the sampling policy and the policy so far, per token.
# One-step trainers (policy gradient, RLOO) log approx_kl after their step.
# Every iteration should stay under HEALTHY_MAX; over the first half of a run, before an annealed
# learning rate has shrunk the steps (a whole-run mean hides a hot start), the means under HEALTHY_FIRST_HALF.
HEALTHY_MAX = {"clip_frac": 0.3, "approx_kl": 0.05}
HEALTHY_FIRST_HALF = {"clip_frac": 0.15, "approx_kl": 0.02}
DIAGNOSTIC_NAMES = {"clip_frac": "clip fraction", "approx_kl": "approx-KL"}
ADVICE = "the learning rate is probably too high (or too many epochs reuse each batch)"


class UnhealthyRunWarning(UserWarning):
    """A run's clip fraction or approx-KL left the healthy ranges (``HEALTHY_MAX``, ``HEALTHY_FIRST_HALF``)."""


def approx_kl(new_logp, old_logp, mask) -> float:
    """k3 estimate of KL(pi_old || pi_new) per real token: the mean of (r - 1) - log r, r = pi_new / pi_old.

    Each term is >= 0; the same estimator PPO and GRPO log from their ratios. Policy gradient and RLOO
    take one step per batch and log it after the step: how far that iteration moved the policy.
    """
    log_ratio = (new_logp - old_logp) * mask
    return masked_mean(torch.expm1(log_ratio) - log_ratio, mask).item()


def approx_kl_to_sampler(policy, ro, temperature: float = 1.0) -> float:
    """``approx_kl`` between the policy that sampled rollout ``ro`` and ``policy`` as it is now, on ``ro``'s
    tokens: what one-step trainers log after their step. A forward pass without gradient, no randomness."""
    from .model import response_logprobs

    with torch.no_grad():
        new_logp = response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len, temperature)
    return approx_kl(new_logp, ro.logprobs, ro.response_mask.float())


def health(history: list[dict], total: int | None = None) -> dict[str, dict]:
    """A run's diagnostics against the healthy ranges: {key: {max, at, first_half_mean, healthy}}.

    Only the keys the run logs (PPO and GRPO: both; policy gradient and RLOO: approx-KL). ``total``:
    the run's planned iterations (default: as many as logged); the first half is its first total // 2.
    """
    out = {}
    half = max(1, (total or len(history)) // 2)
    for key, limit in HEALTHY_MAX.items():
        values = [h[key] for h in history if key in h]
        if not values:
            continue
        first = values[:half]
        peak = max(values)
        mean = sum(first) / len(first)
        out[key] = {"max": peak, "at": values.index(peak), "first_half_mean": mean,
                    "healthy": peak <= limit and mean <= HEALTHY_FIRST_HALF[key]}
    return out


def health_report(history: list[dict], total: int | None = None) -> str:
    """``health`` in words, one line per diagnostic."""
    lines = []
    for key, h in health(history, total).items():
        verdict = "healthy" if h["healthy"] else "OUTSIDE the healthy range"
        lines.append(f"{DIAGNOSTIC_NAMES[key]}: max {h['max']:.3f} (iteration {h['at']}; healthy <= "
                     f"{HEALTHY_MAX[key]}), first-half mean {h['first_half_mean']:.3f} (healthy <= "
                     f"{HEALTHY_FIRST_HALF[key]}): {verdict}")
    return "\n".join(lines)


def new_health_warnings(history: list[dict], total: int | None = None) -> list[str]:
    """What to warn about after the newest log, in words: a diagnostic leaving ``HEALTHY_MAX`` for the first
    time in the run, and, when the first half of ``total`` iterations ends, a mean above ``HEALTHY_FIRST_HALF``."""
    log, messages = history[-1], []
    for key, limit in HEALTHY_MAX.items():
        if key in log and log[key] > limit and all(h[key] <= limit for h in history[:-1]):
            messages.append(f"{DIAGNOSTIC_NAMES[key]} {log[key]:.3f} at iteration {log['iteration']} (healthy: <= "
                            f"{limit} every iteration): {ADVICE}")
    if total and total >= 2 and len(history) == total // 2:  # a one-iteration run has no first half to judge
        for key, limit in HEALTHY_FIRST_HALF.items():
            if key in log:
                mean = sum(h[key] for h in history) / len(history)
                if mean > limit:
                    messages.append(f"mean {DIAGNOSTIC_NAMES[key]} {mean:.3f} over the first {len(history)} "
                                    f"iterations (healthy: <= {limit}): {ADVICE}")
    return messages


def health_warnings(history: list[dict], total: int | None = None) -> list[str]:
    """Every warning a run's trainer gave (or would give), replayed from its log: for a run loaded from a cache."""
    return [m for i in range(len(history)) for m in new_health_warnings(history[:i + 1], total)]


def warn_if_unhealthy(history: list[dict], total: int | None = None) -> None:
    """``warnings.warn`` each of ``new_health_warnings`` (``report`` calls this after every iteration)."""
    for message in new_health_warnings(history, total):
        warnings.warn(message, UnhealthyRunWarning, stacklevel=3)
