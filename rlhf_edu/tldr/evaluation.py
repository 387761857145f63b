"""The TL;DR task's evaluation, reported by notebook 11 and ``rlhf-edu summarize``.

ROUGE against the reference summaries; the reward model's score; the KL to the SFT model; length
and how often a summary ends; and, on the synthetic posts, the fact judge (``judge.py``): fact
coverage and hallucination rate. ``rm_judge_agreement`` asks whether the reward model ranks the
policy's *own* summaries as the judge does.
"""

from __future__ import annotations

import torch

from ..evaluation import metrics_table as table
from ..evaluation import sample_rollout
from ..rollout import collect_rollout
from . import judge


def rouge(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-scores (Google's ``rouge-score`` package, Porter stemming)."""
    from rouge_score import rouge_scorer

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        raise ValueError("nothing to score")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for p, r in zip(predictions, references):
        for k, s in scorer.score(r, p).items():
            totals[k] += s.fmeasure
    return {k: v / len(predictions) for k, v in totals.items()}


def evaluate(policy, reference, reward_model, tok, prompts: list[str], references: list[str], posts=None,
             max_new_tokens: int = 24, seed: int = 1234) -> tuple[dict, list[str]]:
    """Sample one summary per prompt (seeded, full distribution) and measure it.

    Returns (metrics, summaries). ``posts`` (synthetic ``Post`` objects) adds the
    judge's fact coverage and hallucination rate; real data has no key facts.
    """
    ro = sample_rollout(policy, reference, reward_model, tok, prompts, max_new_tokens, seed=seed)
    outs = [c.strip() for c in ro.completions]
    eos = ((ro.sequences[:, ro.prompt_len:] == tok.eos_id) & ro.response_mask.bool()).any(1)
    metrics = {
        **rouge(outs, [r.strip() for r in references]),
        "rm_score": ro.scores.mean().item(),
        "kl_k1": ro.kl_k1.sum(1).mean().item(),
        "length": ro.lengths.float().mean().item(),
        "ended_with_eos": eos.float().mean().item(),
    }
    if posts is not None:
        j = judge.judge_summaries(posts, outs)
        metrics.update(coverage=j["coverage"], hallucination_rate=j["hallucination_rate"], words=j["mean_words"])
    return metrics, outs


@torch.no_grad()
def rm_judge_agreement(policy, reward_model, tok, posts, samples_per_post: int = 8, max_new_tokens: int = 24,
                       seed: int = 4321) -> dict:
    """Does the reward model rank the *policy's own* summaries as the judge does?

    Held-out accuracy on generated comparisons says how well the reward model separates the kinds
    of good and bad summaries we wrote; PPO instead asks it to rank the policy's samples. So:
    ``samples_per_post`` summaries per post, and for every two of the same post that the judge
    tells apart by facts (coverage minus hallucination), is the reward model's order the same?
    Returns {"agreement", "pairs", and the same split into "coverage_*" (more facts, no more
    hallucination) and "hallucination_*" (same coverage, only one hallucinates)}.
    """
    posts = list(posts)
    k = samples_per_post
    if k < 2 or not posts:
        raise ValueError(f"need posts and samples_per_post >= 2, got {len(posts)} posts, {k}")
    g = torch.Generator().manual_seed(seed)
    ro = collect_rollout(policy, policy, reward_model, tok, [p.prompt for p in posts for _ in range(k)],
                         max_new_tokens, 1.0, g)
    scores = ro.scores.view(len(posts), k).tolist()
    counts = {"all": [0, 0], "coverage": [0, 0], "hallucination": [0, 0]}
    for i, post in enumerate(posts):
        outs = ro.completions[i * k:(i + 1) * k]
        cov = [judge.fact_coverage(post, o) for o in outs]
        hal = [judge.hallucination(post, o) for o in outs]
        for a in range(k):
            for b in range(k):
                if cov[a] - hal[a] <= cov[b] - hal[b]:
                    continue  # the judge does not prefer a to b
                kinds = ["all"]
                if cov[a] > cov[b] and hal[a] <= hal[b]:
                    kinds.append("coverage")
                elif cov[a] == cov[b]:
                    kinds.append("hallucination")
                for kind in kinds:
                    counts[kind][0] += scores[i][a] > scores[i][b]
                    counts[kind][1] += 1
    out = {"agreement": counts["all"][0] / max(1, counts["all"][1]), "pairs": counts["all"][1]}
    for kind in ("coverage", "hallucination"):
        out[f"{kind}_agreement"] = counts[kind][0] / max(1, counts[kind][1])
        out[f"{kind}_pairs"] = counts[kind][1]
    return out


METRIC_LABELS = {
    "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rm_score": "reward-model score",
    "coverage": "judge: fact coverage", "hallucination_rate": "judge: hallucination rate",
    "kl_k1": "KL to SFT (nats)", "length": "summary tokens", "words": "summary words",
    "ended_with_eos": "ended with EOS",
}


def metrics_table(columns: dict[str, dict]) -> str:
    """SFT vs PPO, one row per metric."""
    return table(columns, METRIC_LABELS, label_width=28, col_width=10)
