"""Measuring a policy, the parts every task shares: sample seeded, measure, tabulate.

Each task says *what* it measures on a rollout (``sentiment/metrics.py``: the VADER judge,
diversity, perplexity; ``tldr/metrics.py``: ROUGE and the fact judge); the sampling, the text
metrics and the table are here, written once.
"""

from __future__ import annotations

import torch

from .model import generate
from .rollout import Rollout, collect_rollout


@torch.no_grad()
def sample_rollout(policy, reference, reward_model, tokenizer, prompts: list[str], max_new_tokens: int = 24,
                   samples_per_prompt: int = 1, temperature: float = 1.0, seed: int = 1234) -> Rollout:
    """``samples_per_prompt`` completions per prompt, from the full distribution, seeded.

    Seeded the same way for every policy, so two policies are compared on the same prompts
    and the same random draws.
    """
    if not prompts:
        raise ValueError("prompts must not be empty")
    batch = [p for p in prompts for _ in range(samples_per_prompt)]
    g = torch.Generator().manual_seed(seed)
    return collect_rollout(policy, reference, reward_model, tokenizer, batch, max_new_tokens, temperature, g)


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


def metrics_table(columns: dict[str, dict], labels: dict[str, str], label_width: int | None = None,
                  col_width: int | None = None) -> str:
    """A plain-text table: one row per metric of ``labels`` that every column has, one column per model."""
    names = list(columns)
    width = label_width or max(len(v) for v in labels.values())
    col = col_width or max(12, *(len(n) for n in names)) + 2
    lines = [" " * width + "".join(f"{n:>{col}}" for n in names)]
    for key, label in labels.items():
        if all(key in columns[n] for n in names):
            lines.append(f"{label:<{width}}" + "".join(f"{columns[n][key]:>{col}.3f}" for n in names))
    return "\n".join(lines)


@torch.no_grad()
def sample_texts(model, tokenizer, prompts: list[str], max_new_tokens: int = 24, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0, sep: str = "") -> list[str]:
    """Prompt + sampled completion, as text (seeded, batched, KV cache).

    ``sep`` goes between them, for printing: ``sep=SEPARATOR`` shows "Today I feel ▸ scared", and a
    completion that does not start with a space (the model glued a word onto the prompt) shows as
    "Today I feel ▸Apparently". Leave it empty for text that is scored (judge, reward model).
    """
    gen = generate(model, tokenizer.encode_batch(prompts), max_new_tokens, tokenizer.eos_id, tokenizer.pad_id,
                   temperature=temperature, top_k=top_k, generator=torch.Generator().manual_seed(seed))
    glue = " " + sep if sep else ""
    return [p + glue + tokenizer.decode(r[m.bool()].tolist())
            for p, r, m in zip(prompts, gen.responses, gen.response_mask)]


SEPARATOR = "\u25b8"  # "▸": where the prompt ends and the model's completion begins


def shown(text: str, completion: str) -> str:
    """``prompt + completion`` -> "prompt ▸completion", for printing (``text`` ends with ``completion``)."""
    if not text.endswith(completion):
        raise ValueError(f"{text!r} does not end with its completion {completion!r}")
    return text[:len(text) - len(completion)] + " " + SEPARATOR + completion


def side_by_side(models: dict, tokenizer, prompts: list[str], seed: int = 5, max_new_tokens: int = 24) -> str:
    """Completions of each model for the same prompts and seed, one block per prompt."""
    samples = {name: sample_texts(m, tokenizer, prompts, max_new_tokens, seed=seed, sep=SEPARATOR)
               for name, m in models.items()}
    width = max(len(n) for n in models)
    blocks = []
    for i in range(len(prompts)):
        blocks.append("\n".join(f"{name + ':':<{width + 1}} {samples[name][i]}" for name in models))
    return "\n\n".join(blocks)
