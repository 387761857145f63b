"""Notebook 12 and ``rlhf-edu compare``: PPO, policy gradient, RLOO, GRPO and DPO side by side.

One task, one SFT start, one reward model, one independent judge (VADER), one budget:

- every on-policy method samples the same number of completions: ``RLHFSetup.compare_iterations``
  rollout batches of the same size (``sampled_completions``);
- DPO samples nothing; it reads as many preference pairs as the reward model was trained on
  (``rm.steps x rm.batch_size``, the first of the reward model's own pairs, one pass in batches of
  the reward model's size: the same number of steps too), and never the reward model itself;
- everything else is each algorithm's default (``RLHFSetup.ppo``, ``.pg``, ``.rloo``, ``.grpo``,
  ``.dpo``): learning rate, epochs, group size, clip. (Best-of-n, which trains nothing, is in ``frontiers``.)

The design (``plan``): every algorithm at every beta of ``RLHFSetup.compare_betas[kind]`` with every seed
of ``SEEDS``: a frontier (judge against KL) per seed. Every run is a cached stage, and so is its
evaluation (a JSON file in the run's folder, ``cached_json``), so a second call only reads numbers.
To try other betas, pass ``dataclasses.replace(rl, compare_betas={...})``.

Every run is measured on the held-out prompts (``pipeline.heldout_prompts``: openers RL never sampled
from), the headline, and on as many training prompts (``Run.training``), beside it, keeping each
prompt's judge positive rate and reward-model score (``Run.by_prompt``): the (seeds, prompts) tables
that ``frontiers`` reads at equal KL. Here: ``table`` and ``spread_table`` (the runs), ``costs`` and
``cost_order`` (seconds and sampled tokens), ``health_lines`` (clip fraction and approx-KL against the
healthy ranges), ``reward_hacks`` and ``dpo_logprobs`` (what the runs did to the text and to the pairs).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import algorithms, dpo, stages, stats
from .. import checkpoint as ckpt
from ..model import frozen_copy
from ..rl import HEALTHY_MAX, health, health_report
from . import evaluation, pipeline

NAMES = algorithms.DISPLAY  # the registry's: {name: how tables name it}
ON_POLICY = tuple(name for name, a in algorithms.ALGORITHMS.items() if a.samples)
SEEDS = (0, 1, 2)
SAMPLES = 4        # completions per prompt in every evaluation (``evaluation.evaluate``'s default)
EVALUATION = 1     # part of a cached evaluation's key: raise it when what an evaluation holds changes
SETS = ("held-out", "training")


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
        betas = rl.compare_betas.get(kind) or ()
        if len(set(betas)) < 2:
            raise ValueError(f"compare_betas[{kind!r}] = {tuple(betas)}: a frontier needs >= 2 distinct betas")
        if getattr(rl, kind).beta not in betas:
            raise ValueError(f"compare_betas[{kind!r}] = {tuple(betas)} must include {kind}'s default beta "
                             f"{getattr(rl, kind).beta:g}")
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

def run_dir(kind: str, cfg, s: pipeline.SentimentSetup, rl: pipeline.RLHFSetup):
    """A comparison run's cache folder: ``pipeline.policy_dir``'s; DPO's key adds the pairs it reads."""
    directory = pipeline.policy_dir(kind, s, rl, cfg)
    return directory if algorithms.get(kind).samples else stages.stage_dir("dpo", directory.name, dpo_pairs(rl))


def policy(kind: str, cfg, s: pipeline.SentimentSetup | None = None, rl: pipeline.RLHFSetup | None = None,
           progress: bool | None = None):
    """One comparison run, a cached stage like every other: (policy, history).

    On-policy runs are ``pipeline.policy``; DPO reads only the first ``dpo_pairs(rl)`` of the reward
    model's pairs, and never the reward model itself (``budget_config`` keeps its monitor off).
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

    return stages.cached_stage(run_dir(kind, cfg, s, rl), fit, stages.load_policy_stage)


def cached_json(path, compute):
    """``compute()``'s JSON-able result, written to ``path`` the first time and read from it after."""
    if path.exists():
        return json.loads(path.read_text())
    out = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)  # whole or absent: an interrupted write leaves no half file
    return json.loads(path.read_text())  # the same numbers on the first call as on every later one


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
    completions: list = field(default_factory=list)  # the held-out evaluation's completions, for reading
    budget: int = 0  # completions sampled to train (on-policy) or pairs read (DPO), counted from the log
    by_prompt: dict = field(default_factory=dict)  # {set: {"judge": [...], "rm_score": [...]}}, one per prompt

    @property
    def name(self) -> str:
        return "SFT" if self.kind == "sft" else NAMES[self.kind]

    @property
    def seconds(self) -> float:
        return sum(h.get("seconds", 0.0) for h in self.history)

    @property
    def tokens(self) -> int:
        return sum(h.get("tokens", 0) for h in self.history)

    def measured(self, prompts: str = "held-out") -> dict:
        return self.metrics if prompts == "held-out" else self.training


def plan(rl: pipeline.RLHFSetup, kinds=tuple(NAMES)) -> list[tuple[str, float, int]]:
    """(kind, beta, seed) of every run: every beta of ``compare_betas[kind]`` with every seed."""
    check_setup(rl, kinds)
    return [(kind, b, seed) for kind in kinds for b in rl.compare_betas[kind] for seed in SEEDS]


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
    tag = stages.key([sets, rl.max_new_tokens, SAMPLES, EVALUATION])

    def evaluate(model):
        both = evaluation.evaluate_sets({"run": model}, reference, rm, tok, sets, rl.max_new_tokens,
                                        pipeline.vocabulary(s))
        out = {}
        for label, res in both.items():
            m, ro = res["run"]
            out[label] = {"metrics": m, "judge": evaluation.judge_by_prompt(ro, SAMPLES).tolist(),
                          "rm_score": ro.scores.view(-1, SAMPLES).mean(1).tolist(), "completions": ro.completions}
        return out

    def measured(run, path):
        ev = cached_json(path, lambda: evaluate(run.model))
        run.metrics, run.training = ev["held-out"]["metrics"], ev["training"]["metrics"]
        run.completions = ev["held-out"]["completions"]
        run.by_prompt = {label: {k: ev[label][k] for k in ("judge", "rm_score")} for label in SETS}
        return run

    # SFT's evaluation depends on SFT and the reward model: it lives in the reward model's folder.
    runs = [measured(Run("sft", None, None, sft), pipeline.rm_dir(s, rl) / f"sft-evaluation-{tag}.json")]
    for i, (kind, beta, seed) in enumerate(todo):
        if announce is not None:
            announce(f"[{i + 1}/{len(todo)}] {NAMES[kind]}, beta {beta:g}, seed {seed}")
        cfg = budget_config(kind, rl, beta, seed)
        model, history = policy(kind, cfg, s, rl, progress)
        size = cfg.batch_size  # completions per iteration, or pairs per DPO step
        budget = len(history) * size if algorithms.get(kind).samples else min(len(history) * size, dpo_pairs(rl))
        run = Run(kind, beta, seed, model, history, budget=budget)
        runs.append(measured(run, run_dir(kind, cfg, s, rl) / f"evaluation-{tag}.json"))
    return runs


# ---------------------------------------------------------------- reading the runs

def kinds_of(runs: list[Run]) -> list[str]:
    """The algorithms the runs hold, in the registry's order."""
    return [k for k in NAMES if any(r.kind == k for r in runs)]


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
    """{kind: (mean, min, max) of metric ``key`` over the seeds at the default beta}, on either prompt set."""
    out = {}
    for kind, rs in defaults(runs, rl).items():
        v = [r.measured(prompts)[key] for r in rs]
        out[kind] = (sum(v) / len(v), min(v), max(v))
    return out


def costs(runs: list[Run]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """{kind: {"seconds"|"tokens": (mean, min, max) over its runs (betas x seeds)}}, from the runs' logs."""
    out = {}
    for kind in kinds_of(runs):
        rs = [r for r in runs if r.kind == kind]
        out[kind] = {name: (float(np.mean(v)), min(v), max(v))
                     for name, v in (("seconds", [r.seconds for r in rs]), ("tokens", [r.tokens for r in rs]))}
    return out


def cost_order(c: dict, what: str = "seconds") -> str:
    """Cheapest to dearest by mean; "<" only where one's dearest run is cheaper than the next one's cheapest."""
    ranked = sorted(c, key=lambda k: c[k][what][0])
    text = f"{NAMES[ranked[0]]} {c[ranked[0]][what][0]:.1f}"
    for a, b in zip(ranked, ranked[1:]):
        text += f" {'<' if c[a][what][2] < c[b][what][1] else '≈'} {NAMES[b]} {c[b][what][0]:.1f}"
    return text


def health_lines(runs: list[Run], rl: pipeline.RLHFSetup) -> list[str]:
    """Per algorithm: its runs inside the healthy ranges (``rl.health``), and its least healthy run's report."""
    lines = []
    for kind in kinds_of(runs):
        rs = [r for r in runs if r.kind == kind]
        total = rl.compare_iterations if algorithms.get(kind).samples else None
        checked = [(r, health(r.history, total)) for r in rs]
        if not any(h for _, h in checked):
            lines.append(f"{NAMES[kind]}: logs no clip fraction or approx-KL (no sampling policy to compare with)")
            continue
        ok = sum(all(d["healthy"] for d in h.values()) for _, h in checked)
        worst, _ = max(checked, key=lambda rh: max(d["max"] / HEALTHY_MAX[k] for k, d in rh[1].items()))
        lines.append(f"{NAMES[kind]}: {ok} of {len(rs)} runs healthy; least healthy (beta {worst.beta:g}, seed "
                     f"{worst.seed}):\n    " + health_report(worst.history, total).replace("\n", "\n    "))
    return lines


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
    out = {}
    for kind in kinds_of(runs):
        r = min((r for r in runs if r.kind == kind and r.seed == 0), key=lambda run: run.beta)
        word, share, base = favourite_word(r.completions, runs[0].completions)
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


# ---------------------------------------------------------------- tables and the plot's numbers

TABLE_KEYS = ("judge_positive_rate", "rm_score", "kl_k1", "distinct_2", "ref_perplexity", "length",
              "real_word_rate")
_HEAD = ("judge", "RM score", "KL", "distinct-2", "perplexity", "length", "real words")


def interval_text(i: stats.Interval) -> str:
    """An interval as "mean [low, high]"."""
    return f"{i.estimate:.3f} [{i.low:.3f}, {i.high:.3f}]"


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
    """Each algorithm at its default beta: the judge's mean [95 % interval, seeds x prompts] on both prompt
    sets; RM score and KL as mean [lowest, highest seed] (a range, not an interval)."""
    lines = [f"{'default beta, seeds ' + ', '.join(map(str, SEEDS)):<30}" + "".join(
        f"{h:>24}" for h in ("judge (held-out)", "judge (training)", "RM score [seeds]", "KL [seeds]"))]
    for kind, rs in defaults(runs, rl).items():
        judges = [interval_text(stats.mean_ci([r.by_prompt[p]["judge"] for r in rs], "crossed")) for p in SETS]
        rest = ["%.3f [%.3f, %.3f]" % spread(runs, rl, k)[kind] for k in ("rm_score", "kl_k1")]
        lines.append(f"{NAMES[kind] + f' (beta {getattr(rl, kind).beta:g})':<30}"
                     + "".join(f"{c:>24}" for c in judges + rest))
    return "\n".join(lines)
