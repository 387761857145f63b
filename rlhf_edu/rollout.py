"""What both RL loops share: sample completions, then score them.

A rollout batch holds, for every response token: the policy's log-prob when
it was sampled, the frozen reference's log-prob, the per-token KL estimate,
and the reward model's score for the whole text (read at its last real
token). Everything here runs without gradients: rewards are constants to the
policy update (the reward must be *detached*).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from . import formulas
from .model import GPT, generate, response_logprobs
from .reward_model import RewardModel


def truncate_after_eos(tokens: torch.Tensor, eos_id: int, pad_id: int):
    """[a, EOS, b] -> [a, EOS, PAD]; returns (tokens, mask) with mask 1 up to and including the first EOS."""
    is_eos = tokens == eos_id
    after = (is_eos.long().cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
    return tokens.masked_fill(after, pad_id), (~after).long()


@dataclass
class Rollout:
    sequences: torch.Tensor      # (B, P+R) left-padded prompt + response
    attention_mask: torch.Tensor  # (B, P+R)
    prompt_len: int
    response_mask: torch.Tensor  # (B, R) 1 for real response tokens (up to and incl. EOS)
    logprobs: torch.Tensor       # (B, R) policy log-probs, recomputed exactly as the update will
    ref_logprobs: torch.Tensor   # (B, R) frozen reference
    scores: torch.Tensor         # (B,) reward-model score of each full text
    texts: list[str]             # prompt + completion, decoded
    completions: list[str]       # completion only
    seconds: dict = field(default_factory=dict)

    @property
    def kl_k1(self) -> torch.Tensor:
        """Per-token k1 = log pi - log pi_ref (masked)."""
        return formulas.per_token_kl_k1(self.logprobs, self.ref_logprobs) * self.response_mask

    @property
    def kl_k3(self) -> torch.Tensor:
        """Per-token k3 = (rho - 1) - log rho, rho = pi_ref / pi (masked, always >= 0)."""
        return formulas.kl_k3(self.logprobs, self.ref_logprobs) * self.response_mask

    @property
    def lengths(self) -> torch.Tensor:
        return self.response_mask.sum(1)


@torch.no_grad()
def collect_rollout(policy: GPT, reference: GPT, reward_model: RewardModel, tokenizer, prompts: list[str],
                    max_new_tokens: int, temperature: float = 1.0, generator: torch.Generator | None = None,
                    no_eos_penalty: float | None = None) -> Rollout:
    """Sample one completion per prompt from the *full* distribution (no top-k / top-p: on-policy)."""
    t0 = time.perf_counter()
    prompt_ids = tokenizer.encode_batch(prompts)
    gen = generate(policy, prompt_ids, max_new_tokens, tokenizer.eos_id, tokenizer.pad_id,
                   temperature=temperature, generator=generator)
    t1 = time.perf_counter()
    policy.eval()
    reference.eval()
    logprobs = response_logprobs(policy, gen, temperature=temperature) * gen.response_mask
    ref_logprobs = response_logprobs(reference, gen, temperature=temperature) * gen.response_mask
    scores = reward_model(gen.sequences, gen.attention_mask)
    if no_eos_penalty is not None:
        ended = ((gen.responses == tokenizer.eos_id) & gen.response_mask.bool()).any(1)
        scores = torch.where(ended, scores, torch.full_like(scores, no_eos_penalty))
    t2 = time.perf_counter()
    completions = [tokenizer.decode(r[m.bool()].tolist()) for r, m in zip(gen.responses, gen.response_mask)]
    texts = [p + c for p, c in zip(prompts, completions)]
    return Rollout(gen.sequences, gen.attention_mask, gen.prompt_len, gen.response_mask, logprobs,
                   ref_logprobs, scores, texts, completions,
                   {"generation": t1 - t0, "scoring": t2 - t1})
