"""The sentiment task's evaluation, reported by notebooks 07-10 and ``rlhf-edu sentiment``.

On a fixed held-out prompt set, sample completions (seeded) and report:

- judge: VADER positive rate (compound >= 0.05) and mean compound; the judge
  never trains anything, so it is the non-circular measure of success;
- reward-model score (the proxy the policy was optimised for);
- KL to the reference, nats per completion, both k1 and k3 estimates;
- diversity: distinct-1 / distinct-2 over all completions, and repetition
  (share of words that repeat an earlier word of the same completion);
- perplexity of the completions under the reference (fluency as the start saw it);
- mean completion length in tokens;
- real-word rate: share of the completions' words that occur in the training tweets
  (``words.real_word_rate``), so "does the micro model write words?" is a number.
"""

from __future__ import annotations

import math

from .. import words
from ..evaluation import distinct_n, repetition_rate, sample_rollout
from ..evaluation import metrics_table as table
from ..rollout import Rollout
from . import judge, pipeline


def rollout_metrics(ro: Rollout, vocabulary: frozenset[str] | None = None) -> dict:
    """The metrics of one rollout; ``vocabulary``: the training tweets' words (default: the default setup's)."""
    vocabulary = pipeline.vocabulary() if vocabulary is None else vocabulary
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
        "real_word_rate": words.real_word_rate(ro.completions, vocabulary),
    }



def evaluate(policy, reference, reward_model, tokenizer, prompts: list[str], max_new_tokens: int = 24,
             samples_per_prompt: int = 4, temperature: float = 1.0, seed: int = 1234,
             vocabulary: frozenset[str] | None = None):
    """Sample ``samples_per_prompt`` completions per prompt (seeded) and measure them.

    Returns (metrics dict, rollout) so callers can show the samples too.
    """
    ro = sample_rollout(policy, reference, reward_model, tokenizer, prompts, max_new_tokens,
                                   samples_per_prompt, temperature, seed)
    return rollout_metrics(ro, vocabulary), ro


def evaluate_sets(models: dict, reference, reward_model, tokenizer, sets: dict[str, list[str]],
                  max_new_tokens: int = 24, vocabulary: frozenset[str] | None = None) -> dict[str, dict]:
    """Every model on every prompt set (same sampling seed): {set: {model: (metrics, rollout)}}.

    ``sets``: e.g. ``pipeline.prompt_sets()``, held-out prompts (the headline) and training prompts.
    """
    return {label: {name: evaluate(m, reference, reward_model, tokenizer, prompts, max_new_tokens,
                                   vocabulary=vocabulary) for name, m in models.items()}
            for label, prompts in sets.items()}


def judge_by_prompt(ro: Rollout, samples_per_prompt: int = 4):
    """The judge's positive rate of each prompt's completions (consecutive rows per prompt, as
    ``evaluate`` samples them): one row of the (seeds, prompts) table ``stats.mean_ci`` reads."""
    compound = judge.vader_compound(ro.texts)
    if len(compound) % samples_per_prompt:
        raise ValueError(f"{len(compound)} completions do not split into prompts of {samples_per_prompt}")
    return (compound >= judge.POSITIVE_THRESHOLD).reshape(-1, samples_per_prompt).mean(1)


def compare_policies(models: dict, reference, reward_model, tokenizer, prompts: list[str], max_new_tokens: int = 24,
                     vocabulary: frozenset[str] | None = None) -> dict[str, dict]:
    """Evaluate several policies on the same prompts with the same sampling seed: {name: metrics}."""
    return {name: evaluate(m, reference, reward_model, tokenizer, prompts, max_new_tokens, vocabulary=vocabulary)[0]
            for name, m in models.items()}


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
    "real_word_rate": "real-word rate",
}


def metrics_table(columns: dict[str, dict]) -> str:
    """SFT vs RL, one row per metric."""
    return table(columns, METRIC_LABELS)
