"""What every RL trainer shares, so that each trainer file shows only its algorithm.

- ``RLConfig``: the settings every RL (and DPO) config has, checked once: sampling length and
  temperature, learning rate and its schedule, the KL coefficient beta, gradient clipping, seed;
- the masked statistics and the leave-one-out baseline the losses use (``masked_mean``,
  ``whiten``, ``explained_variance``, ``leave_one_out``);
- the scaffold of a loop: ``freeze`` the reference and reward model, ``pick_prompts`` (k
  consecutive rows per prompt), ``learning_rate`` / ``set_lr`` (linear decay), ``optimizer_step``
  (zero_grad, backward, clip, step), ``log_record`` (the keys every sampling trainer logs) and
  ``report`` (progress bar, history, callback).

The loops themselves stay in ``ppo.py``, ``policy_gradient.py``, ``rloo.py``, ``grpo.py`` and
``dpo.py``: read any of them top to bottom.
"""

from __future__ import annotations

import time
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
    beta: float = 0.1              # KL coefficient: how far from the reference the policy may go
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self):
        checks = [("max_new_tokens", self.max_new_tokens >= 1, ">= 1"), ("temperature", self.temperature > 0, "> 0"),
                  ("lr", self.lr > 0, "> 0"), ("beta", self.beta >= 0, ">= 0"),
                  ("max_grad_norm", self.max_grad_norm > 0, "> 0")]
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
    """``cfg.lr``, decayed linearly to 0 over ``total`` steps when ``cfg.anneal_lr``."""
    return cfg.lr * (1 - step / total) if cfg.anneal_lr else cfg.lr


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
    """Keep the iteration's log, show score and KL on the progress bar, call ``callback(log, batch)``."""
    history.append(log)
    bar.set_postfix(score=f"{log['score']:.2f}", kl=f"{log['kl_k1']:.2f}")
    if callback is not None:
        callback(log, batch)


def progress_bar(total: int, desc: str, progress: bool):
    """A text bar: a saved notebook keeps its last state (a widget bar saves "0%")."""
    from tqdm import tqdm

    return tqdm(range(total), desc=desc, disable=not progress)
