"""Notebook 12 and ``rlhf-edu compare``: PPO, the policy-gradient loop, RLOO, GRPO and DPO side by side.

One task, one SFT start, one reward model, one independent judge (VADER), one budget:

- every on-policy method samples the same number of completions: ``RLHFSetup.compare_iterations``
  rollout batches of the same size (``sampled_completions``);
- DPO samples nothing; it reads as many preference pairs as the reward model was trained on
  (``rm.steps x rm.batch_size``, the first of the reward model's own pairs, one pass in batches of
  the reward model's size: the same number of steps too);
- everything else is each algorithm's default (``RLHFSetup.ppo``, ``.pg``, ``.rloo``, ``.grpo``,
  ``.dpo``): learning rate, epochs, group size, clip.

Every run is measured on the held-out prompts (``pipeline.heldout_prompts``: openers RL never
sampled from), the headline, and on as many training prompts (``Run.training``), beside it.

Each algorithm runs at every beta of ``RLHFSetup.compare_betas[kind]`` for seed 0 (its frontier:
judge against KL) and at its default beta for every seed of ``SEEDS`` (the spread). Every run is a
cached stage, so a second call only evaluates. ``compare`` returns the runs; ``table``, ``spread``,
``judge_at_equal_kl``, ``reward_hacks`` and ``frontier_points`` read them (``plots.plot_algorithm_frontiers``
draws the last).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field

import torch

from .. import algorithms, dpo, stages
from .. import checkpoint as ckpt
from ..model import frozen_copy
from . import evaluation, pipeline

NAMES = algorithms.DISPLAY  # the registry's: {name: how tables name it}
ON_POLICY = tuple(name for name, a in algorithms.ALGORITHMS.items() if a.samples)
SEEDS = (0, 1, 2)


# ---------------------------------------------------------------- the budget

def sampled_completions(kind: str, cfg) -> int:
    """Completions an on-policy run samples to train (iterations x batch size); 0 for DPO."""
    return cfg.iterations * cfg.batch_size if algorithms.get(kind).samples else 0


def dpo_pairs(rl: pipeline.RLHFSetup) -> int:
    """Preference pairs DPO reads: as many as the reward model was trained on (its steps x batch size)."""
    return rl.rm.steps * rl.rm.batch_size


def budget_config(kind: str, rl: pipeline.RLHFSetup, beta: float | None = None, seed: int = 0):
    """Algorithm ``kind``'s default config under the comparison's budget, at ``beta`` (default: its own)."""
    algo = algorithms.get(kind)
    base = getattr(rl, kind)
    beta = base.beta if beta is None else beta
    if not algo.samples:  # DPO: one pass in the reward model's batches, as many steps as the reward model took
        return dataclasses.replace(base, epochs=1, batch_size=rl.rm.batch_size, beta=beta, seed=seed)
    return dataclasses.replace(base, iterations=rl.compare_iterations, beta=beta, seed=seed)


def check_setup(rl: pipeline.RLHFSetup, kinds=tuple(NAMES)) -> dict[str, str]:
    """Raise ``ValueError`` naming the setting if the budgets differ; else {kind: its budget, in words}."""
    if rl.compare_iterations < 1:
        raise ValueError(f"compare_iterations must be >= 1, got {rl.compare_iterations}")
    if dpo_pairs(rl) > rl.rm_pairs:
        raise ValueError(f"DPO reads rm.steps x rm.batch_size = {dpo_pairs(rl)} pairs, more than rm_pairs "
                         f"({rl.rm_pairs})")
    budgets = {}
    for kind in kinds:
        algorithms.get(kind)  # a ValueError naming the known ones
        betas = rl.compare_betas.get(kind)
        if not betas:
            raise ValueError(f"compare_betas has no betas for {kind!r}")
        if getattr(rl, kind).beta not in betas:
            raise ValueError(f"compare_betas[{kind!r}] = {tuple(betas)} must include {kind}'s default beta "
                             f"{getattr(rl, kind).beta:g} (the seeds run there)")
        for beta in betas:
            budget_config(kind, rl, beta)  # each config checks its own settings (beta >= 0, ...)
        cfg = budget_config(kind, rl)
        if not algorithms.get(kind).samples:
            budgets[kind] = f"{dpo_pairs(rl)} preference pairs ({rl.rm.steps} steps of {cfg.batch_size})"
        else:
            budgets[kind] = f"{sampled_completions(kind, cfg)} sampled completions"
    on_policy = {k: sampled_completions(k, budget_config(k, rl)) for k in kinds if k in ON_POLICY}
    if len(set(on_policy.values())) > 1:
        sizes = ", ".join(f"{k} {n}" for k, n in on_policy.items())
        raise ValueError(f"unequal budgets: compare_iterations x batch_size sampled completions differ ({sizes}); "
                         f"give every on-policy config the same batch size")
    return budgets


# ---------------------------------------------------------------- the runs

def policy(kind: str, cfg, s: pipeline.SentimentSetup | None = None, rl: pipeline.RLHFSetup | None = None,
           progress: bool | None = None):
    """One comparison run, a cached stage like every other: (policy, history).

    On-policy runs are ``pipeline.policy``; DPO reads only the first ``dpo_pairs(rl)`` of the reward
    model's pairs, so its stage key adds that number to ``pipeline.policy_dir``'s.
    """
    s, rl = s or pipeline.setup(), rl or pipeline.rl_setup()
    if algorithms.get(kind).samples:
        return pipeline.policy(kind, s, rl, cfg, progress=progress)
    progress = stages.show_progress() if progress is None else progress
    n = dpo_pairs(rl)

    def fit(d):
        sft, _ = pipeline.sft_model(s, progress=progress)
        rm, _ = pipeline.reward_model(s, rl, progress=progress)
        pairs = pipeline.train_pairs(s, rl)[:n]
        trained, history = stages.train_policy("dpo", sft, rm, pipeline.tokenizer(s), pipeline.rl_prompts(s), cfg,
                                               progress, pairs)
        ckpt.save_model(trained, d, trained.config.to_dict(), {"stage": "dpo", "pairs": n, "history": history})
        return trained, history

    directory = stages.stage_dir("dpo", pipeline.policy_dir("dpo", s, rl, cfg).name, n)
    return stages.cached_stage(directory, fit, stages.load_policy_stage)


@dataclass
class Run:
    """One trained and evaluated policy of the comparison (``kind`` "sft" is the start)."""

    kind: str
    beta: float | None
    seed: int | None
    model: object
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)    # on the held-out prompts: the headline
    training: dict = field(default_factory=dict)   # the same metrics on as many RL training prompts
    completions: list = field(default_factory=list)  # the evaluation's completions, for reading
    budget: int = 0  # completions sampled to train (on-policy) or pairs read (DPO), counted from the log

    @property
    def name(self) -> str:
        return "SFT" if self.kind == "sft" else NAMES[self.kind]

    @property
    def seconds(self) -> float:
        return sum(h.get("seconds", 0.0) for h in self.history)

    @property
    def tokens(self) -> int:
        return sum(h.get("tokens", 0) for h in self.history)


def plan(rl: pipeline.RLHFSetup, kinds=tuple(NAMES)) -> list[tuple[str, float, int]]:
    """(kind, beta, seed) of every run: each beta for seed 0, the default beta for the other seeds."""
    check_setup(rl, kinds)
    out = []
    for kind in kinds:
        out += [(kind, b, 0) for b in rl.compare_betas[kind]]
        out += [(kind, getattr(rl, kind).beta, seed) for seed in SEEDS[1:]]
    return out


def compare(s: pipeline.SentimentSetup | None = None, rl: pipeline.RLHFSetup | None = None, kinds=tuple(NAMES),
            progress: bool | None = None, announce=None) -> list[Run]:
    """Train what is not cached, evaluate everything on the same prompts and seed: [SFT run, runs ...].

    ``announce(text)`` is called before each run (the CLI prints it).
    """
    s, rl = s or pipeline.setup(), rl or pipeline.rl_setup()
    todo = plan(rl, kinds)
    sft, _ = pipeline.sft_model(s, progress=progress)
    rm, _ = pipeline.reward_model(s, rl, progress=progress)
    tok, reference, sets = pipeline.tokenizer(s), frozen_copy(sft), pipeline.prompt_sets(s, rl)
    vocabulary = pipeline.vocabulary(s)

    def measured(run):
        both = evaluation.evaluate_sets({"run": run.model}, reference, rm, tok, sets, rl.max_new_tokens, vocabulary)
        (run.metrics, ro), (run.training, _) = both["held-out"]["run"], both["training"]["run"]
        run.completions = ro.completions
        return run

    runs = [measured(Run("sft", None, None, sft))]
    for i, (kind, beta, seed) in enumerate(todo):
        if announce is not None:
            announce(f"[{i + 1}/{len(todo)}] {NAMES[kind]}, beta {beta:g}, seed {seed}")
        cfg = budget_config(kind, rl, beta, seed)
        model, history = policy(kind, cfg, s, rl, progress)
        size = cfg.batch_size  # completions per iteration, or pairs per DPO step
        budget = len(history) * size if algorithms.get(kind).samples else min(len(history) * size, dpo_pairs(rl))
        runs.append(measured(Run(kind, beta, seed, model, history, budget=budget)))
    return runs


# ---------------------------------------------------------------- reading the runs

def budgets(runs: list[Run]) -> dict[str, set[int]]:
    """{kind: the budgets its runs used}: completions sampled (on-policy) or pairs read (DPO)."""
    out: dict[str, set[int]] = {}
    for r in runs[1:]:
        out.setdefault(r.kind, set()).add(r.budget)
    return out


def defaults(runs: list[Run], rl: pipeline.RLHFSetup) -> dict[str, list[Run]]:
    """{kind: its runs at the default beta, one per seed}."""
    out: dict[str, list[Run]] = {}
    for r in runs[1:]:
        if r.beta == getattr(rl, r.kind).beta:
            out.setdefault(r.kind, []).append(r)
    return out


def spread(runs: list[Run], rl: pipeline.RLHFSetup, key: str,
           prompts: str = "held-out") -> dict[str, tuple[float, float, float]]:
    """{kind: (mean, min, max) of metric ``key`` over the seeds at the default beta}, on the held-out
    prompts or (``prompts="training"``) on the training prompts."""
    out = {}
    for kind, rs in defaults(runs, rl).items():
        v = [(r.metrics if prompts == "held-out" else r.training)[key] for r in rs]
        out[kind] = (sum(v) / len(v), min(v), max(v))
    return out


def frontier(runs: list[Run], kind: str) -> list[Run]:
    """Seed 0's runs of ``kind``, in order of KL to the reference."""
    return sorted((r for r in runs if r.kind == kind and r.seed == 0), key=lambda r: r.metrics["kl_k1"])


def judge_at_kl(runs: list[Run], kind: str, kl: float) -> float | None:
    """The judge's positive rate on ``kind``'s frontier at KL ``kl`` (linear between runs; None outside)."""
    pts = [(r.metrics["kl_k1"], r.metrics["judge_positive_rate"]) for r in frontier(runs, kind)]
    for (k0, j0), (k1, j1) in zip(pts, pts[1:]):
        if k0 <= kl <= k1:
            return j0 if k1 == k0 else j0 + (j1 - j0) * (kl - k0) / (k1 - k0)
    return pts[0][1] if len(pts) == 1 and pts[0][0] == kl else None


def shared_kl(runs: list[Run]) -> tuple[float, float] | None:
    """(lowest, highest) KL that every algorithm's frontier reaches; None if they share no range."""
    kinds = [k for k in NAMES if frontier(runs, k)]
    lo = max(frontier(runs, k)[0].metrics["kl_k1"] for k in kinds)
    hi = min(frontier(runs, k)[-1].metrics["kl_k1"] for k in kinds)
    return None if hi < lo else (lo, hi)


def judge_at_equal_kl(runs: list[Run], levels: int = 3) -> dict[float, dict[str, float]]:
    """{KL: {kind: judge}} at ``levels`` evenly spaced KLs of the shared range ({} if there is none)."""
    span = shared_kl(runs)
    if span is None:
        return {}
    lo, hi = span
    kls = [lo] if hi == lo or levels == 1 else [lo + (hi - lo) * i / (levels - 1) for i in range(levels)]
    return {kl: {k: judge_at_kl(runs, k, kl) for k in NAMES if frontier(runs, k)} for kl in kls}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def favourite_word(completions: list[str], baseline: list[str]) -> tuple[str, float, float]:
    """The word whose share of completions grew most over ``baseline``'s: (word, share, baseline share)."""
    def shares(texts):
        c = Counter(w for t in texts for w in _words(t))
        return {w: n / max(len(texts), 1) for w, n in c.items()}

    mine, base = shares(completions), shares(baseline)
    if not mine:
        return "", 0.0, 0.0
    word = max(sorted(mine), key=lambda w: mine[w] - base.get(w, 0.0))
    return word, mine[word], base.get(word, 0.0)


def reward_hacks(runs: list[Run]) -> dict[str, dict]:
    """For each algorithm's run at the smallest beta (seed 0): what it did to the text, against SFT's."""
    sft = runs[0]
    out = {}
    for kind in NAMES:
        if not frontier(runs, kind):
            continue
        r = min(frontier(runs, kind), key=lambda run: run.beta)
        word, share, base = favourite_word(r.completions, sft.completions)
        out[kind] = {"beta": r.beta, **{k: r.metrics[k] for k in TABLE_KEYS}, "word": word, "word_share": share,
                     "word_share_sft": base}
    return out


@torch.no_grad()
def dpo_logprobs(model, reference, tokenizer, pairs: list[tuple[str, str]], chunk: int = 64) -> dict[str, float]:
    """Mean log pi(chosen) and log pi(rejected) under ``model`` and ``reference``, on the same pairs."""
    if not pairs:
        raise ValueError("pairs must not be empty")
    spans = dpo.preference_spans(tokenizer, pairs, model.config.block_size)
    sums = dict.fromkeys(("policy_chosen", "policy_rejected", "reference_chosen", "reference_rejected"), 0.0)
    for i in range(0, len(spans), chunk):
        batch = dpo.pair_batch(spans[i:i + chunk], tokenizer.pad_id)
        n = len(spans[i:i + chunk])
        for name, m in (("policy", model), ("reference", reference)):
            lp = dpo.sequence_logprobs(m, batch)
            sums[f"{name}_chosen"] += lp[:n].sum().item()
            sums[f"{name}_rejected"] += lp[n:].sum().item()
    return {k: v / len(spans) for k, v in sums.items()}


# ---------------------------------------------------------------- the table and the plot

TABLE_KEYS = ("judge_positive_rate", "rm_score", "kl_k1", "distinct_2", "ref_perplexity", "length",
              "real_word_rate")
_HEAD = ("judge", "RM score", "KL", "distinct-2", "perplexity", "length", "real words")


def table(runs: list[Run]) -> str:
    """One row per run: the held-out evaluation's metrics, the judge on training prompts beside them, the
    training's wall-clock seconds, tokens and budget."""
    lines = [f"{'algorithm':<16}{'beta':>6}{'seed':>5}" + "".join(f"{h:>11}" for h in _HEAD)
             + f"{'judge(tr)':>11}{'seconds':>9}{'tokens':>8}  budget"]
    for r in runs:
        beta = "" if r.beta is None else f"{r.beta:g}"
        seed = "" if r.seed is None else str(r.seed)
        budget = "" if r.kind == "sft" else f"{r.budget} {'pairs' if r.kind == 'dpo' else 'completions'}"
        lines.append(f"{r.name:<16}{beta:>6}{seed:>5}" + "".join(f"{r.metrics[k]:>11.3f}" for k in TABLE_KEYS)
                     + f"{r.training['judge_positive_rate']:>11.3f}{r.seconds:>9.1f}{r.tokens:>8d}  {budget}")
    return "\n".join(lines)


def spread_table(runs: list[Run], rl: pipeline.RLHFSetup) -> str:
    """Each algorithm at its default beta: mean [min, max] over the seeds of the judge, RM score and KL."""
    keys = ("judge_positive_rate", "rm_score", "kl_k1")
    cols = {k: spread(runs, rl, k) for k in keys}
    cols["training judge"] = spread(runs, rl, "judge_positive_rate", prompts="training")
    lines = [f"{'default beta, seeds ' + ', '.join(map(str, SEEDS)):<30}"
             + "".join(f"{h:>24}" for h in ("judge (held-out)", "RM score", "KL", "judge (training)"))]
    for kind in cols["kl_k1"]:
        label = f"{NAMES[kind]} (beta {getattr(rl, kind).beta:g})"
        lines.append(f"{label:<30}" + "".join(f"{'%.3f [%.3f, %.3f]' % cols[k][kind]:>24}" for k in cols))
    return "\n".join(lines)


def frontier_points(runs: list[Run], rl: pipeline.RLHFSetup) -> dict:
    """What ``plots.plot_algorithm_frontiers`` draws: SFT's point and, per algorithm, seed 0's beta
    sweep and the other seeds' runs at the default beta, as plain numbers."""
    keys = ("kl_k1", "judge_positive_rate", "rm_score")
    curves = {}
    for kind in (k for k in NAMES if frontier(runs, k)):
        curves[NAMES[kind]] = {
            "sweep": [{"beta": r.beta, **{k: r.metrics[k] for k in keys}} for r in frontier(runs, kind)],
            "other_seeds": [{k: r.metrics[k] for k in keys} for r in defaults(runs, rl).get(kind, []) if r.seed != 0]}
    return {"sft": {k: runs[0].metrics[k] for k in keys}, "curves": curves}
