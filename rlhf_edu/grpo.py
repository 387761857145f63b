"""Group Relative Policy Optimisation (GRPO): PPO's clipped loss, a group of samples instead of a critic.

Shao et al., 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language
Models", equation 3 (the objective) with the outcome-supervision advantage of section 4.1.2:

    A_i = (r_i - mean(r_1..r_G)) / (std(r_1..r_G) + eps)         (G completions of one prompt)
    J = mean_i  1/|o_i| sum_t  [ min(rho_t A_i, clip(rho_t, 1-eps_c, 1+eps_c) A_i) - beta * KL_t ]
    rho_t = pi(o_t) / pi_old(o_t),   KL_t = pi_ref(o_t)/pi(o_t) - log(pi_ref(o_t)/pi(o_t)) - 1   (k3)

The loop (``train_grpo``):

1. rollout: pick ``prompts_per_iteration`` prompts and sample ``group_size`` completions of each
   (G consecutive rows), from the full distribution; score each with the reward model;
2. advantages: each score against its own group's mean and std, one number per completion, the same
   at every token. A group whose scores are all equal teaches nothing: its advantages are exactly 0
   (never 0/0). No value network: the group *is* the baseline;
3. update: ``epochs`` passes over shuffled minibatches of the clipped loss; the KL to the reference
   is a term of the *loss* (k3 per token, >= 0), not of the reward, so it does not enter the advantage;
4. log: score, KL (k1 and k3, nats per completion), length, sampled tokens and seconds.

Averaging: tokens within a completion, then completions, as in the paper (PPO here averages over all
tokens of the batch). A long completion's tokens then each weigh less: a known bias of GRPO.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from . import formulas
from .model import GPT, response_logprobs
from .optim import adamw
from .rl import RLConfig, freeze, learning_rate, log_record, optimizer_step, pick_prompts, progress_bar, report, set_lr
from .rollout import collect_rollout


@dataclass
class GRPOConfig(RLConfig):
    lr: float = 1e-4               # 3e-4 gave clip fraction 0.38 and approx-KL 0.28 in iteration 0 (rl.HEALTHY_MAX)
    iterations: int = 60           # 60 x 8 prompts x 4 samples = 1,920 completions, PPO's budget
    prompts_per_iteration: int = 8
    group_size: int = 4            # G completions per prompt
    epochs: int = 4                # passes over each rollout batch (the paper's mu)
    minibatch_size: int = 16       # completions per gradient step
    clip_eps: float = 0.2
    # KL coefficient, in the loss. The term is a per-token mean of k3, so it weighs less than PPO's KL
    # (summed over the tokens) and the two betas are not comparable. The paper's 0.04 held our small
    # model back too little (docs/tuning-notes.md).
    beta: float = 0.2
    eps: float = 1e-4              # added to the group's std

    @property
    def batch_size(self) -> int:
        return self.prompts_per_iteration * self.group_size

    def __post_init__(self):
        super().__post_init__()
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 (one completion is its own baseline: A = 0), "
                             f"got {self.group_size}")
        if self.prompts_per_iteration < 1 or self.iterations < 1:
            raise ValueError(f"prompts_per_iteration and iterations must be >= 1, got "
                             f"{self.prompts_per_iteration} and {self.iterations}")
        if not 0 < self.clip_eps < 1:
            raise ValueError(f"clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if self.epochs < 1 or self.minibatch_size < 1 or self.batch_size % self.minibatch_size:
            raise ValueError(f"batch_size (prompts_per_iteration x group_size = {self.batch_size}) must be a "
                             f"multiple of minibatch_size ({self.minibatch_size}), and epochs >= 1")


def group_advantages(scores: torch.Tensor, group_size: int, eps: float = 1e-4) -> torch.Tensor:
    """(r - group mean) / (group std + eps), groups = consecutive rows; 0 for a group of equal scores."""
    if group_size < 2 or len(scores) % group_size:
        raise ValueError(f"{len(scores)} scores do not split into groups of group_size={group_size} (>= 2)")
    groups = scores.view(-1, group_size)
    centred = groups - groups.mean(1, keepdim=True)
    std = groups.std(1, correction=0, keepdim=True)  # the group's own spread (population std)
    same = groups.amax(1, keepdim=True) == groups.amin(1, keepdim=True)
    return torch.where(same, torch.zeros_like(groups), centred / (std + eps)).reshape(-1)


def sequence_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each completion's real tokens, then over completions (the paper's 1/G sum_i 1/|o_i| sum_t)."""
    return ((x * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def grpo_loss(new_logp, old_logp, ref_logp, advantages, mask, clip_eps: float, beta: float):
    """-(clipped objective - beta * k3) for one minibatch, plus diagnostics. Advantages: one per row."""
    log_ratio = (new_logp - old_logp) * mask
    ratio = torch.exp(log_ratio)
    objective = formulas.ppo_clip_objective(ratio, advantages[:, None].expand_as(ratio), clip_eps).objective
    log_rho = (ref_logp - new_logp) * mask
    k3 = torch.expm1(log_rho) - log_rho  # >= 0; its gradient pulls pi back toward pi_ref
    loss = -sequence_mean(objective - beta * k3, mask)
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        stats = {"clip_frac": ((((ratio - 1).abs() > clip_eps).float() * mask).sum() / n).item(),
                 "approx_kl": ((((ratio - 1) - log_ratio) * mask).sum() / n).item(),
                 "ratio_mean": ((ratio * mask).sum() / n).item(),
                 "kl_loss": sequence_mean(k3, mask).item()}
    return loss, stats


def train_grpo(policy: GPT, reference: GPT, reward_model, tokenizer, prompts: list[str], cfg: GRPOConfig,
               progress: bool = True, callback=None):
    """Run GRPO. ``policy`` is updated in place; ``reference`` must be a frozen copy of the start.

    Returns (policy, list of per-iteration log dicts), like ``train_ppo``.
    """
    torch.manual_seed(cfg.seed)
    freeze(reference, reward_model)
    policy.eval()  # dropout off: the ratio must be exactly 1 before the first update
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    G = cfg.group_size
    history = []
    bar = progress_bar(cfg.iterations, "GRPO", progress)
    for it in bar:
        t_start = time.perf_counter()
        lr = learning_rate(cfg, it, cfg.iterations)
        set_lr(opt, lr)
        batch_prompts = pick_prompts(prompts, cfg.prompts_per_iteration, G, gen)  # G consecutive rows per prompt
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch_prompts, cfg.max_new_tokens,
                             cfg.temperature, gen)
        t_update = time.perf_counter()
        mask = ro.response_mask.float()
        advantages = group_advantages(ro.scores, G, cfg.eps)
        stats, first_ratio = [], None
        for _epoch in range(cfg.epochs):
            order = torch.randperm(cfg.batch_size, generator=gen)
            for start in range(0, cfg.batch_size, cfg.minibatch_size):
                mb = order[start:start + cfg.minibatch_size]
                new_logp = response_logprobs(policy, ro.sequences[mb], ro.attention_mask[mb], ro.prompt_len,
                                             cfg.temperature)
                # ro.logprobs: the sampling policy's, computed as this line computes them (pi_old).
                loss, s = grpo_loss(new_logp, ro.logprobs[mb], ro.ref_logprobs[mb], advantages[mb], mask[mb],
                                    cfg.clip_eps, cfg.beta)
                optimizer_step(opt, loss, policy.parameters(), cfg.max_grad_norm)
                if first_ratio is None:
                    first_ratio = s["ratio_mean"]
                stats.append({"loss": loss.item(), **s})
        log = log_record(it, ro, cfg.beta, lr, t_start, t_update, ratio_first_minibatch=first_ratio,
                         # share of groups whose scores were all equal: they taught nothing this iteration
                         zero_advantage_groups=(advantages.view(-1, G) == 0).all(1).float().mean().item(),
                         **{key: sum(s[key] for s in stats) / len(stats)
                            for key in ("loss", "clip_frac", "approx_kl", "kl_loss")})
        del log["total_reward"]  # score - beta * summed KL is not GRPO's objective: its KL is a per-token mean
        report(bar, history, log, callback, ro)
    policy.eval()
    return policy, history
