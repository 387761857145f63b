"""The metrics every notebook and the CLI report, computed one way only.

On a fixed held-out prompt set, sample completions (seeded) and report:

- judge: VADER positive rate (compound >= 0.05) and mean compound; the judge
  never trains anything, so it is the non-circular measure of success;
- reward-model score (the proxy the policy was optimised for);
- KL to the reference, nats per completion, both k1 and k3 estimates;
- diversity: distinct-1 / distinct-2 over all completions, and repetition
  (share of tokens that repeat an earlier token of the same completion);
- perplexity of the completions under the reference (fluency as the start saw it);
- mean completion length in tokens.
"""

from __future__ import annotations

import math

import torch

from . import judge
from .rollout import Rollout, collect_rollout


def distinct_n(texts: list[str], n: int) -> float:
    """Unique word n-grams / all word n-grams across ``texts`` (0 when there are none)."""
    grams = [tuple(words[i:i + n]) for t in texts for words in [t.split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(texts: list[str]) -> float:
    """Share of words that already appeared earlier in the same text."""
    repeats = total = 0
    for t in texts:
        words = t.lower().split()
        repeats += len(words) - len(set(words))
        total += len(words)
    return repeats / total if total else 0.0


def rollout_metrics(ro: Rollout) -> dict:
    mask = ro.response_mask.float()
    n_tokens = mask.sum().clamp(min=1)
    compound = judge.vader_compound(ro.texts)
    return {
        "judge_positive_rate": float((compound >= judge.POSITIVE_THRESHOLD).mean()),
        "judge_compound": float(compound.mean()),
        "rm_score": ro.scores.mean().item(),
        "kl_k1": ro.kl_k1.sum(1).mean().item(),
        "kl_k3": ro.kl_k3.sum(1).mean().item(),
        "distinct_1": distinct_n(ro.completions, 1),
        "distinct_2": distinct_n(ro.completions, 2),
        "repetition": repetition_rate(ro.completions),
        "ref_perplexity": math.exp(-(ro.ref_logprobs * mask).sum().item() / n_tokens.item()),
        "length": ro.lengths.float().mean().item(),
    }


@torch.no_grad()
def evaluate(policy, reference, reward_model, tokenizer, prompts: list[str], max_new_tokens: int = 24,
             samples_per_prompt: int = 4, temperature: float = 1.0, seed: int = 1234):
    """Sample ``samples_per_prompt`` completions per prompt (seeded) and measure them.

    Returns (metrics dict, rollout) so callers can show the samples too.
    """
    if not prompts:
        raise ValueError("prompts must not be empty")
    batch = [p for p in prompts for _ in range(samples_per_prompt)]
    g = torch.Generator().manual_seed(seed)
    ro = collect_rollout(policy, reference, reward_model, tokenizer, batch, max_new_tokens, temperature, g)
    return rollout_metrics(ro), ro


METRIC_LABELS = {
    "judge_positive_rate": "judge positive rate",
    "judge_compound": "judge mean compound",
    "rm_score": "reward-model score",
    "kl_k1": "KL to reference (k1, nats)",
    "kl_k3": "KL to reference (k3, nats)",
    "distinct_1": "distinct-1",
    "distinct_2": "distinct-2",
    "repetition": "repetition",
    "ref_perplexity": "perplexity under reference",
    "length": "length (tokens)",
}


def metrics_table(columns: dict[str, dict]) -> str:
    """A plain-text table: one row per metric, one column per model."""
    names = list(columns)
    width = max(len(v) for v in METRIC_LABELS.values())
    col = max(12, *(len(n) for n in names)) + 2
    lines = [" " * width + "".join(f"{n:>{col}}" for n in names)]
    for key, label in METRIC_LABELS.items():
        if all(key in columns[n] for n in names):
            lines.append(f"{label:<{width}}" + "".join(f"{columns[n][key]:>{col}.3f}" for n in names))
    return "\n".join(lines)


@torch.no_grad()
def sample_texts(model, tokenizer, prompts: list[str], max_new_tokens: int = 24, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0) -> list[str]:
    """Prompt + sampled completion, as text (seeded, batched, KV cache)."""
    from .model import generate

    gen = generate(model, tokenizer.encode_batch(prompts), max_new_tokens, tokenizer.eos_id, tokenizer.pad_id,
                   temperature=temperature, top_k=top_k, generator=torch.Generator().manual_seed(seed))
    return [p + tokenizer.decode(r[m.bool()].tolist()) for p, r, m in zip(prompts, gen.responses, gen.response_mask)]


def compare_policies(models: dict, reference, reward_model, tokenizer, prompts: list[str]) -> dict[str, dict]:
    """Evaluate several policies on the same prompts with the same sampling seed: {name: metrics}."""
    return {name: evaluate(m, reference, reward_model, tokenizer, prompts)[0] for name, m in models.items()}


def side_by_side(models: dict, tokenizer, prompts: list[str], seed: int = 5) -> str:
    """Completions of each model for the same prompts and seed, one block per prompt."""
    samples = {name: sample_texts(m, tokenizer, prompts, seed=seed) for name, m in models.items()}
    width = max(len(n) for n in models)
    blocks = []
    for i in range(len(prompts)):
        blocks.append("\n".join(f"{name + ':':<{width + 1}} {samples[name][i]}" for name in models))
    return "\n\n".join(blocks)
