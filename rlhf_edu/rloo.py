"""REINFORCE Leave-One-Out (RLOO): k samples per prompt, each judged against the other k - 1.

Ahmadian et al., 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from
Human Feedback in LLMs", equation 6 (the RLOO estimator, from Kool et al., 2019):

    grad J = 1/k sum_i [ R(y_i, x) - 1/(k-1) sum_{j != i} R(y_j, x) ] grad log pi(y_i | x)
    R(y, x) = score(x, y) - beta * sum_t (log pi(y_t) - log pi_ref(y_t))          (KL in the reward)

The loop (``train_rloo``), the vanilla policy-gradient loop with a better baseline:

- rollout: ``prompts_per_iteration`` prompts, ``samples_per_prompt`` completions of each (k
  consecutive rows), sampled from the full distribution;
- reward: the whole completion is one action: score - beta * KL (k1, summed over its tokens), a
  constant to the update;
- advantage: the reward minus the mean reward of the *other* k - 1 completions of the same prompt
  (``ppo.leave_one_out``, the baseline PPO uses with several samples per prompt). It does not depend
  on y_i, so the estimate stays unbiased, and it removes what the prompt alone explains;
- one gradient step per batch on -mean_i A_i log pi(y_i | x) (on-policy: no ratio, no clipping,
  no value network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .model import GPT
from .policy_gradient import pg_loss
from .optim import adamw
from .ppo import leave_one_out
from .rollout import collect_rollout


@dataclass
class RLOOConfig:
    iterations: int = 60           # 60 x 8 prompts x 4 samples = 1,920 completions, PPO's budget
    prompts_per_iteration: int = 8
    samples_per_prompt: int = 4    # k
    max_new_tokens: int = 24
    temperature: float = 1.0       # used for sampling *and* every log-prob, as in PPO
    # Full size: 3e-4 reached judge 0.72 at KL 4.9; 5e-4 0.82 at KL 9.5 (seed 1: 0.86 at 7.7); 1e-3 and
    # 2e-3 collapsed to 3-4 token completions ("... better!!", "... best life") the reward model likes.
    lr: float = 5e-4
    beta: float = 0.1              # KL coefficient, in the reward (PPO's value)
    max_grad_norm: float = 1.0
    seed: int = 0

    @property
    def batch_size(self) -> int:
        return self.prompts_per_iteration * self.samples_per_prompt

    def __post_init__(self):
        if self.samples_per_prompt < 2:
            raise ValueError(f"samples_per_prompt must be >= 2 (the baseline is the other samples' mean), "
                             f"got {self.samples_per_prompt}")
        if self.prompts_per_iteration < 1:
            raise ValueError(f"prompts_per_iteration must be >= 1, got {self.prompts_per_iteration}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


def rloo_advantages(scores: torch.Tensor, kl: torch.Tensor, beta: float, k: int) -> torch.Tensor:
    """R_i - mean of the other k - 1 rewards of the group, with R = score - beta * KL (per completion)."""
    return leave_one_out(scores - beta * kl, k)


def train_rloo(policy: GPT, reference: GPT, reward_model, tokenizer, prompts: list[str], cfg: RLOOConfig,
               progress: bool = True, callback=None):
    """Run RLOO. ``policy`` is updated in place; ``reference`` must be a frozen copy of the start.

    Returns (policy, list of per-iteration log dicts), like ``train_ppo``.
    """
    from tqdm import tqdm  # text bars: a saved notebook keeps their last state (a widget bar saves "0%")

    torch.manual_seed(cfg.seed)
    for m in (reference, reward_model):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    policy.eval()  # dropout off: the log-probs must be those of the sampling policy
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    k = cfg.samples_per_prompt
    history = []
    bar = tqdm(range(cfg.iterations), desc="RLOO", disable=not progress)
    for it in bar:
        t_start = time.perf_counter()
        picked = torch.randint(0, len(prompts), (cfg.prompts_per_iteration,), generator=gen).tolist()
        batch_prompts = [prompts[i] for i in picked for _ in range(k)]  # k consecutive rows per prompt
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch_prompts, cfg.max_new_tokens,
                             cfg.temperature, gen)
        t_update = time.perf_counter()
        kl = ro.kl_k1.sum(1)
        advantages = rloo_advantages(ro.scores, kl, cfg.beta, k)  # constants: the rollout ran under no_grad
        # REINFORCE: the policy-gradient loss of notebook 08, generated tokens only, sampling temperature.
        loss = pg_loss(policy, ro, advantages, cfg.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        opt.step()
        now = time.perf_counter()
        log = {
            "iteration": it,
            "score": ro.scores.mean().item(),
            "kl_k1": kl.mean().item(),
            "kl_k3": ro.kl_k3.sum(1).mean().item(),
            "total_reward": (ro.scores - cfg.beta * kl).mean().item(),
            "loss": loss.item(),
            "length": ro.lengths.float().mean().item(),
            "tokens": int(ro.lengths.sum()),
            "lr": cfg.lr,
            "beta": cfg.beta,
            "seconds": now - t_start,
            "seconds_generation": ro.seconds["generation"],
            "seconds_scoring": ro.seconds["scoring"],
            "seconds_update": now - t_update,
        }
        history.append(log)
        bar.set_postfix(score=f"{log['score']:.2f}", kl=f"{log['kl_k1']:.2f}")
        if callback is not None:
            callback(log, ro)
    policy.eval()
    return policy, history
