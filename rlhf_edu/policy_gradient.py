"""Stage 4, first version: RLHF with the vanilla policy-gradient (REINFORCE) loop.

The loop as the story tells it, with its loose ends tied:

- the reward of a completion is ``score - beta * sum_t KL_t`` against the
  frozen reference; it is a *constant* to the update (computed under no_grad);
- only the log-probs of the *generated* tokens enter the loss, never the prompt's;
- a completion has one reward, given at its end, and gamma = 1: its return at
  every token is that same number. "Discounted returns over a batch" would mix
  different completions' rewards together, which is wrong;
- a baseline (the batch's mean reward) is subtracted: it cuts the gradient's
  variance. The mean includes each sample's own reward, so the expected
  gradient shrinks by 1 - 1/N (N = batch size); the leave-one-out mean
  (``rl.leave_one_out``) is the unbiased version;
- we sample from the full softmax (no top-k) so the log-probs we train on are
  those of the distribution that produced the samples (on-policy);
- one gradient step per batch of fresh samples (PPO, next, reuses each batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from . import formulas
from .model import GPT, response_logprobs
from .optim import adamw
from .rl import (
    RLConfig,
    approx_kl_to_sampler,
    freeze,
    learning_rate,
    log_record,
    optimizer_step,
    pick_prompts,
    progress_bar,
    report,
    set_lr,
)
from .rollout import collect_rollout


@dataclass
class PGConfig(RLConfig):
    iterations: int = 60         # as many rollout batches as PPO gets (PPOConfig.iterations)
    batch_size: int = 32
    anneal_lr: bool = False      # one step per batch at a constant learning rate, as the story tells it
    warmup_iterations: int = 3   # Adam's first step is its largest: warm up into it (approx-KL 0.056 -> 0.003)
    baseline: bool = True        # subtract the batch-mean reward
    normalise: bool = True       # divide advantages by their std (a common, scale-free choice)

    def __post_init__(self):
        super().__post_init__()
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"iterations and batch_size must be >= 1, got {self.iterations} and {self.batch_size}")


def sequence_advantages(rewards: torch.Tensor, baseline: bool = True, normalise: bool = True) -> torch.Tensor:
    adv = rewards - rewards.mean() if baseline else rewards.clone()
    if normalise and len(adv) > 1:
        adv = adv / adv.std().clamp(min=1e-6)
    return adv


def pg_loss(policy: GPT, ro, advantages: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """-mean_i A_i * log pi(y_i | x_i), the log-prob summed over generated tokens only."""
    logp = response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len, temperature)
    seq_logp = (logp * ro.response_mask).sum(1)
    return -formulas.policy_gradient_surrogate(seq_logp, advantages).mean()


def train_policy_gradient(policy: GPT, reference: GPT, reward_model, tokenizer, prompts: list[str],
                          cfg: PGConfig, progress: bool = True, callback=None):
    """Update ``policy`` in place. Returns (policy, list of per-iteration log dicts), like ``train_ppo``."""
    torch.manual_seed(cfg.seed)
    freeze(reference, reward_model)
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    bar = progress_bar(cfg.iterations, "policy gradient", progress)
    for it in bar:
        t_start = time.perf_counter()
        lr = learning_rate(cfg, it, cfg.iterations)
        set_lr(opt, lr)
        batch = pick_prompts(prompts, cfg.batch_size, 1, gen)
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch, cfg.max_new_tokens,
                             cfg.temperature, gen)
        t_update = time.perf_counter()
        kl = ro.kl_k1.sum(1)
        rewards = formulas.kl_penalised_reward(ro.scores, kl, cfg.beta)  # constants: rollout ran under no_grad
        adv = sequence_advantages(rewards, cfg.baseline, cfg.normalise)
        policy.eval()  # dropout off: the log-probs must be those of the sampling policy
        loss = pg_loss(policy, ro, adv, cfg.temperature)
        optimizer_step(opt, loss, policy.parameters(), cfg.max_grad_norm)
        # total_reward: the rewards this update used, as computed above (not recomputed for the log);
        # approx_kl: how far this one step moved the policy from the one that sampled the batch
        log = log_record(it, ro, cfg.beta, lr, t_start, t_update, loss=loss.item(), total_reward=rewards.mean().item(),
                         approx_kl=approx_kl_to_sampler(policy, ro, cfg.temperature))
        report(bar, history, log, callback, ro)
    policy.eval()
    return policy, history
