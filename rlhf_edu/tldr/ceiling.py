"""A reward model's ceiling: best-of-n from the SFT model, picked by that reward model, judged by facts.

Best-of-n is the most KL-efficient use of a reward model that Gao et al. (2022) measured: sample n
summaries of a post from the SFT model and keep the one the reward model scores highest. If the best of
16, picked by a reward model, covers no more of the post's facts than SFT's own summaries, PPO on that
reward model has nothing to climb towards: the limit is the reward model, not the RL.

- ``sample``: one seeded rollout of ``n`` SFT summaries per held-out post, shared by every reward model
  (so the reward models differ only in what they pick), its texts cached as JSON;
- ``judged``: the fact judge's coverage and hallucination of every sample;
- ``agreement``: how often a reward model orders two samples of a post as the labeller without noise;
- ``ceiling``: per reward model and k, each post's *expected* best-of-k coverage and hallucination over
  every k-subset of its n samples (``best_of_n.subset_weights``: less variance than one subset).
"""

from __future__ import annotations

import json

import numpy as np
import torch

from .. import best_of_n as bo
from .. import stages
from . import judge
from . import pipeline as sm
from .rounds import facts_value

KS = (1, 4, 16)


def sample(s: sm.SummarySetup | None = None, n: int = max(KS), seed: int = 2468) -> dict:
    """{"n", "posts": held-out post count, "sequences", "attention_mask", "summaries"}: n SFT summaries a post.

    The token tensors stay in memory (the reward models score them). The summaries are also written to the
    cache, and a later call checks that it sampled the same ones: a changed sampler cannot pass silently.
    """
    s = s or sm.setup()
    sft, _ = sm.sft_model(s, progress=False)
    rm, _ = sm.reward_model(s, progress=False)  # the rollout's own scores; ``scores`` reads every model's
    tok, posts = sm.tokenizer(s), sm.test_posts(s)
    ro = bo.sample_best_of_n(sft, rm, tok, [p.prompt for p in posts], n, s.max_new_tokens, seed=seed).rollout
    summaries = [c.strip() for c in ro.completions]
    folder = stages.stage_dir("summ-best-of-n", stages.stage_settings(s, sm.STAGE_FIELDS["rm"]), len(posts), n, seed)
    path = folder / "summaries.json"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summaries))
    elif json.loads(path.read_text()) != summaries:
        raise RuntimeError(f"{path}: the cached summaries differ from a fresh sample with the same seed")
    return {"n": n, "posts": len(posts), "sequences": ro.sequences, "attention_mask": ro.attention_mask,
            "summaries": summaries}


@torch.no_grad()
def scores(reward_model, samples: dict, batch_size: int = 256) -> np.ndarray:
    """The reward model's score of every sample, (posts * n,), read as the rollout reads it."""
    reward_model.eval()
    seq, mask = samples["sequences"], samples["attention_mask"]
    return torch.cat([reward_model(seq[i:i + batch_size], mask[i:i + batch_size])
                      for i in range(0, len(seq), batch_size)]).double().numpy()


def judged(samples: dict, s: sm.SummarySetup | None = None) -> dict[str, np.ndarray]:
    """{"coverage", "hallucination"}: the fact judge on every sample, (posts * n,)."""
    posts = sm.test_posts(s or sm.setup())
    n = samples["n"]
    pairs = [(posts[i // n], text) for i, text in enumerate(samples["summaries"])]
    return {"coverage": np.array([judge.fact_coverage(p, t) for p, t in pairs]),
            "hallucination": np.array([float(judge.hallucination(p, t)) for p, t in pairs])}


def labeller_values(samples: dict, s: sm.SummarySetup | None = None) -> np.ndarray:
    """What the labeller without noise weighs (``rounds.facts_value``) for every sample, (posts * n,)."""
    posts = sm.test_posts(s or sm.setup())
    return np.array([facts_value(posts[i // samples["n"]], t) for i, t in enumerate(samples["summaries"])], float)


def agreement(rm_scores: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """(posts,): of each post's pairs of samples that the labeller tells apart (different ``values``), the
    share the reward model orders the same way (a tied score counts as wrong). NaN for a post with no
    such pair: the same posts for every reward model, since the samples are shared."""
    scores, values = rm_scores.reshape(-1, n), values.reshape(-1, n)
    i, j = np.triu_indices(n, 1)
    d_score, d_value = scores[:, i] - scores[:, j], values[:, i] - values[:, j]
    told = d_value != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((np.sign(d_score) == np.sign(d_value)) & told).sum(1) / told.sum(1)


def ceiling(rm_scores: np.ndarray, judge_values: dict[str, np.ndarray], n: int, ks=KS) -> dict[int, dict]:
    """{k: {"coverage", "hallucination": (posts,)}}: each post's expected judge value of its best-of-k sample."""
    out = {}
    for k in ks:
        out[k] = {name: bo.expected_best_of_k(rm_scores, v, n, k) for name, v in judge_values.items()}
    return out
