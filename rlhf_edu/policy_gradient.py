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
  (``ppo.leave_one_out``) is the unbiased version;
- we sample from the full softmax (no top-k) so the log-probs we train on are
  those of the distribution that produced the samples (on-policy);
- one gradient step per batch of fresh samples (PPO, next, reuses each batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import time

import torch

from . import formulas
from .model import GPT, response_logprobs
from .rollout import collect_rollout
from .optim import adamw


@dataclass
class PGConfig:
    # As many rollout batches as PPO gets (PPOConfig.iterations). With the current SFT model (notebook
    # 08, seeds 0-2): judge positive rate 0.95-0.99 (SFT 0.47), KL 5.1-8.8 nats.
    iterations: int = 60
    batch_size: int = 32
    max_new_tokens: int = 24
    temperature: float = 1.0
    lr: float = 3e-4             # with an earlier SFT model, 1e-3 collapsed to ~4-token completions
    beta: float = 0.1
    baseline: bool = True        # subtract the batch-mean reward
    normalise: bool = True       # divide advantages by their std (a common, scale-free choice)
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


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
    from tqdm import tqdm  # text bars: a saved notebook keeps their last state (a widget bar saves "0%")

    torch.manual_seed(cfg.seed)
    for m in (reference, reward_model):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    opt = adamw(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    for it in tqdm(range(cfg.iterations), desc="policy gradient", disable=not progress):
        t_start = time.perf_counter()
        batch = [prompts[i] for i in torch.randint(0, len(prompts), (cfg.batch_size,), generator=gen)]
        ro = collect_rollout(policy, reference, reward_model, tokenizer, batch, cfg.max_new_tokens,
                             cfg.temperature, gen)
        kl = ro.kl_k1.sum(1)
        rewards = formulas.kl_penalised_reward(ro.scores, kl, cfg.beta)  # constants: rollout ran under no_grad
        adv = sequence_advantages(rewards, cfg.baseline, cfg.normalise)
        policy.eval()  # dropout off: the log-probs must be those of the sampling policy
        loss = pg_loss(policy, ro, adv, cfg.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
        opt.step()
        log = {"iteration": it, "score": ro.scores.mean().item(), "kl_k1": kl.mean().item(),
               "kl_k3": ro.kl_k3.sum(1).mean().item(), "total_reward": rewards.mean().item(),
               "loss": loss.item(), "length": ro.lengths.float().mean().item(),
               "tokens": int(ro.lengths.sum()), "seconds": time.perf_counter() - t_start}
        history.append(log)
        if callback is not None:
            callback(log, ro)
    policy.eval()
    return policy, history
