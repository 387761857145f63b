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
  (``rl.leave_one_out``, the baseline PPO uses with several samples per prompt). It does not depend
  on y_i, so the estimate stays unbiased, and it removes what the prompt alone explains;
- one gradient step per batch on -mean_i A_i log pi(y_i | x) (on-policy: no ratio, no clipping,
  no value network).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .model import GPT
from .optim import adamw
from .policy_gradient import pg_loss
from .rl import (
    RLConfig,
    approx_kl_to_sampler,
    freeze,
    learning_rate,
    leave_one_out,
    log_record,
    optimizer_step,
    pick_prompts,
    progress_bar,
    report,
    set_lr,
)
from .rollout import collect_rollout


@dataclass
class RLOOConfig(RLConfig):
    iterations: int = 60           # 60 x 8 prompts x 4 samples = 1,920 completions, PPO's budget
    prompts_per_iteration: int = 8
    samples_per_prompt: int = 4    # k
    lr: float = 5e-4               # measured against 3e-4, 1e-3 and 2e-3: docs/tuning-notes.md
    anneal_lr: bool = False        # one step per batch at a constant learning rate, like policy gradient
    warmup_iterations: int = 5     # without it the first step alone moved the policy an approx-KL of 0.31
    # beta: the KL coefficient, in the reward (PPO's value)

    @property
    def batch_size(self) -> int:
        return self.prompts_per_iteration * self.samples_per_prompt

    def __post_init__(self):
        super().__post_init__()
        if self.samples_per_prompt < 2:
            raise ValueError(f"samples_per_prompt must be >= 2 (the baseline is the other samples' mean), "
                             f"got {self.samples_per_prompt}")
        if self.prompts_per_iteration < 1 or self.iterations < 1:
            raise ValueError(f"prompts_per_iteration and iterations must be >= 1, got "
                             f"{self.prompts_per_iteration} and {self.iterations}")


def rloo_advantages(scores: torch.Tensor, kl: torch.Tensor, beta: float, k: int) -> torch.Tensor:
    """R_i - mean of the other k - 1 rewards of the group, with R = score - beta * KL (per completion)."""
    return leave_one_out(scores - beta * kl, k)


def train_rloo(policy: GPT, reference: GPT, reward_model, tokenizer, prompts: list[str], cfg: RLOOConfig,
               progress: bool = True, callback=None):
    """Run RLOO. ``policy`` is updated in place; ``reference`` must be a frozen copy of the start.

    Returns (policy, list of per-iteration log dicts), like ``train_ppo``.
    """
    torch.manual_seed(cfg.seed)
    freeze(reference, reward_model)
    policy.eval()  # dropout off: the log-probs must be those of the sampling policy
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    k = cfg.samples_per_prompt
    history = []
    bar = progress_bar(cfg.iterations, "RLOO", progress)
    for it in bar:
        t_start = time.perf_counter()
        lr = learning_rate(cfg, it, cfg.iterations)
        set_lr(opt, lr)
        batch_prompts = pick_prompts(prompts, cfg.prompts_per_iteration, k, gen)  # k consecutive rows per prompt
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch_prompts, cfg.max_new_tokens,
                             cfg.temperature, gen)
        t_update = time.perf_counter()
        advantages = rloo_advantages(ro.scores, ro.kl_k1.sum(1), cfg.beta, k)  # constants: rollout ran under no_grad
        # REINFORCE: the policy-gradient loss of notebook 08, generated tokens only, sampling temperature.
        loss = pg_loss(policy, ro, advantages, cfg.temperature)
        optimizer_step(opt, loss, policy.parameters(), cfg.max_grad_norm)
        log = log_record(it, ro, cfg.beta, lr, t_start, t_update, loss=loss.item(),
                         approx_kl=approx_kl_to_sampler(policy, ro, cfg.temperature))  # how far the step moved it
        report(bar, history, log, callback, ro)
    policy.eval()
    return policy, history
