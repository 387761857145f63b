"""Best-of-n (rejection sampling with the reward model): the alignment method that trains nothing.

For each prompt, sample n completions from the policy (the SFT model), score each with the reward
model, keep the highest-scoring one (ties: the first). It is the baseline every RL method must beat:
it moves the output distribution towards the reward model with no gradient step, and its "how far
did it move" has a known ceiling (``kl_bound``). Both tasks use it as it is: ``sample_best_of_n``
returns the whole rollout, ``chosen_rollout`` the rows it keeps, which a task measures with its
own metrics (the sentiment judge, ROUGE ...).

One rollout, a whole curve. The n samples of a prompt are i.i.d., so the best of the *first* k of
them is a best-of-k sample. Sampling n_max completions per prompt once gives best-of-k for every k
in ``ks(n_max)`` = 1, 2, 4, ..., n_max, nested (the best of 4 is never worse, by the reward model,
than the best of 2 of the same draws). ``subset_weights`` is the lower-variance alternative that
Gao et al. (2022) use (after Nakano et al., 2021, appendix I): the probability that each sample is
the best of k drawn at random from the n_max, so a per-sample metric's weighted mean is its mean
over all C(n_max, k) subsets rather than over one.

How far best-of-n moves from the policy. The commonly used formula KL(best-of-n || base) =
log n - (n - 1)/n (``kl_bound``) is exact only when the base policy's reward has no atoms (no
score has a positive probability: continuous rewards, every outcome individually negligible);
Beirami et al. (2024), "Theoretical guarantees on the best-of-n alignment policy", show it is an
upper bound in general. A tiny model's samples do repeat (the same short completion,
hence the same score, drawn twice): then the true KL is below the bound. ``kl_estimate`` measures it
from the samples (its docstring says how, and how biased it is).

The cost: best-of-n trains nothing but samples n completions (and scores them) *every time it
answers* a prompt: ``cost`` = prompts x n. RL pays once, at training (PPO's default: 60 rollouts
x 32 = 1,920 completions), then one completion per prompt.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from .evaluation import sample_rollout
from .rollout import Rollout


@dataclass
class BestOfN:
    rollout: Rollout   # n consecutive rows per prompt: prompt i is rows i*n .. i*n + n - 1
    n: int             # samples per prompt (n_max of a curve)

    @property
    def n_prompts(self) -> int:
        return len(self.rollout.texts) // self.n


def _groups(scores, n: int, k: int | None = None) -> tuple[np.ndarray, int]:
    """``scores`` as a float64 (prompts, n) array and k (default n), or a ValueError naming the argument."""
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    if int(n) != n or n < 1 or s.ndim != 1 or len(s) == 0 or len(s) % n:
        raise ValueError(f"scores ({s.shape}) must be 1-D and split into groups of n={n} (>= 1) consecutive rows")
    if not np.isfinite(s).all():
        raise ValueError("scores contains NaN or inf")
    k = n if k is None else k
    if int(k) != k or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, n={n}], got {k}")
    return s.reshape(-1, n), int(k)


# --- sampling and choosing ---------------------------------------------------------------

@torch.no_grad()
def sample_best_of_n(policy, reward_model, tokenizer, prompts: list[str], n: int, max_new_tokens: int = 24,
                     temperature: float = 1.0, seed: int = 1234, reference=None) -> BestOfN:
    """n completions per prompt in one batched, seeded rollout (``sample_rollout``), scored by the reward model.

    ``reference`` defaults to the policy itself: best-of-n samples from the model it is compared to,
    so every sample's log-ratio, and the chosen rows' ``kl_k1``, is 0. The KL of best-of-n is a
    property of the *selection*, not of any one sample's log-probs: see ``kl_bound``, ``kl_estimate``.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n}")
    reference = policy if reference is None else reference
    ro = sample_rollout(policy, reference, reward_model, tokenizer, prompts, max_new_tokens,
                        samples_per_prompt=int(n), temperature=temperature, seed=seed)
    return BestOfN(ro, int(n))


def ks(n_max: int) -> list[int]:
    """The k a curve reports from one sample of n_max: 1, 2, 4, ... and n_max itself."""
    if int(n_max) != n_max or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1, got {n_max}")
    out = [2 ** i for i in range(int(math.log2(n_max)) + 1)]
    return out if out[-1] == n_max else out + [int(n_max)]


def chosen_indices(scores, n: int, k: int | None = None) -> torch.Tensor:
    """Flat row index of each prompt's best of its first k (default n) samples; ties: the first.

    ``scores``: (prompts * n,), n consecutive rows per prompt. Returns a (prompts,) long tensor.
    """
    groups, k = _groups(scores, n, k)
    best = np.argmax(groups[:, :k], axis=1)  # numpy: the first of equal maxima
    return torch.as_tensor(np.arange(len(groups)) * n + best, dtype=torch.long)


def select(ro: Rollout, indices) -> Rollout:
    """The rows ``indices`` of a rollout, as a rollout (every per-row tensor and list, in that order)."""
    idx = torch.as_tensor(indices, dtype=torch.long)
    rows = len(ro.texts)

    def pick(v):
        if isinstance(v, torch.Tensor) and v.dim() > 0 and len(v) == rows:
            return v[idx]
        if isinstance(v, list) and len(v) == rows:
            return [v[i] for i in idx.tolist()]
        return copy.copy(v)  # prompt_len, seconds: shared by every row

    return Rollout(**{f.name: pick(getattr(ro, f.name)) for f in fields(ro)})


def chosen_rollout(bon: BestOfN, k: int | None = None) -> Rollout:
    """Best-of-k (default n), one row per prompt, in prompt order: measure it like any rollout."""
    return select(bon.rollout, chosen_indices(bon.rollout.scores, bon.n, k))


def subset_weights(scores, n: int, k: int) -> torch.Tensor:
    """Per row, the probability it is the best of k of its prompt's n samples drawn without replacement.

    Sorted by score (ties: the earlier row ranks higher, as ``chosen_indices`` picks), the sample of
    rank i (1 = lowest) is the best of a k-subset when it is in it and the other k - 1 rank lower:
    C(i - 1, k - 1) / C(n, k). Each prompt's weights sum to 1; ``(weights * metric).sum() / prompts``
    is the best-of-k mean of a per-sample metric over all C(n, k) subsets (Nakano et al., 2021,
    appendix I). Returns (prompts * n,) float64.
    """
    groups, k = _groups(scores, n, k)
    out = np.empty_like(groups)
    cols = np.arange(n)
    for g, row in enumerate(groups):
        order = np.lexsort((-cols, row))  # ascending score; among ties, later rows first (rank lower)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = cols + 1
        out[g] = [math.comb(int(r) - 1, k - 1) / math.comb(n, k) for r in rank]
    return torch.as_tensor(out.reshape(-1), dtype=torch.float64)


def expected_best_of_k(scores, values, n: int, k: int) -> np.ndarray:
    """Each prompt's expected ``values`` (one per sample) of its best-of-k pick over every k-subset of its
    n samples, by ``subset_weights``: (prompts,) float64."""
    w = subset_weights(scores, n, k).numpy()
    return (w * np.asarray(values, dtype=np.float64)).reshape(-1, n).sum(1)


# --- how far it moves, what it costs -----------------------------------------------------

def kl_bound(n) -> float:
    """log n - (n - 1)/n nats: KL(best-of-n || base) for continuous rewards, an upper bound in general.

    The formula of Stiennon et al. (2020, appendix G.3) that Gao et al. (2022) use as best-of-n's KL;
    Beirami et al. (2024) show it is an upper bound, reached only when no two outcomes share a reward.
    """
    if not n >= 1:  # also catches NaN
        raise ValueError(f"n must be >= 1, got {n}")
    return math.log(n) - (n - 1) / n


def kl_estimate(scores, n: int, k: int | None = None) -> float:
    """KL(best-of-k || base), nats, estimated from each prompt's n base samples (k default n); mean over prompts.

    Why this form. Best-of-k keeps the sample of highest reward, so it reweights an outcome y only
    through its reward's rank: with F(v) = P(r <= v) and F(v-) = P(r < v) under the base policy,
    a reward level v is chosen with probability F(v)^k - F(v-)^k (the best of k lands on v), and the
    outcomes sharing v keep their relative probabilities (ties are broken by sample order, i.e. at
    random). So pi_bon(y) / pi(y) = (F(v)^k - F(v-)^k) / (F(v) - F(v-)), and

        KL = sum_v (F(v)^k - F(v-)^k) log[(F(v)^k - F(v-)^k) / (F(v) - F(v-))].

    For continuous rewards this is E_bon[log k + (k - 1) log F(r)] = log k - (k - 1)/k, the bound.

    The estimate puts each prompt's empirical score distribution (its n samples, every one) in
    place of F and evaluates the sum exactly: the exact KL of best-of-k on that distribution, rather
    than a noisy average over the chosen samples. Ties are handled honestly: a repeated score is one
    level with its count, so all-equal scores give 0 and a few distinct values give less than the bound.

    Its bias: for continuous scores it is the KL of best-of-k over n equally likely atoms, below the
    bound. At k = n it is 32 % low for k = 2, 7 % for 4, 2 % for 16; at n >= 4k, under 3 % (under 1 %
    from k = 4 on): sample n_max >= 4 x the largest k whose KL you report. It also sees only the
    ties the n samples show: an outcome too rare to be drawn twice among n looks continuous, which
    pushes the estimate up, towards the bound. The two biases pull in opposite directions.
    """
    groups, k = _groups(scores, n, k)
    total = 0.0
    for row in groups:
        _, counts = np.unique(row, return_counts=True)        # levels, ascending
        F = np.cumsum(counts, dtype=np.float64) / n            # P(r <= v)
        F_below = F - counts / n                               # P(r < v)
        p_bon = F ** k - F_below ** k                          # > 0 for every level
        total += float(np.sum(p_bon * np.log(p_bon / (counts / n))))
    return total / len(groups)


def cost(n_prompts: int, n: int) -> int:
    """Completions sampled (and scored) to answer ``n_prompts`` prompts with best-of-n: n_prompts x n."""
    if int(n_prompts) != n_prompts or int(n) != n or n_prompts < 0 or n < 1:
        raise ValueError(f"n_prompts must be an integer >= 0 and n >= 1, got {n_prompts} and {n}")
    return int(n_prompts) * int(n)
