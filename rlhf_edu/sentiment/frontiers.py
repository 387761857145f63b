"""Notebook 12 and ``rlhf-edu compare`` on one axis, KL to the SFT model: frontiers with intervals,
best-of-n, and Gao et al.'s over-optimisation curves.

``compare.compare`` gives every algorithm at several betas and seeds, each run measured per prompt.
Here they are read where a comparison is fair, at equal KL:

- ``frontier_table``: one algorithm's runs as (seeds, betas) KLs and (seeds, betas, prompts) values;
- ``common_kls``: a few KLs inside *every* seed's frontier of every algorithm (none extrapolated);
- ``equal_kl``: each seed's frontier interpolated there, per prompt (``stats.at_common_kl``), and the
  judge's mean and 95 % interval over seeds x prompts (``stats.mean_ci``, crossed: every seed is
  measured on the same prompts);
- ``differences``, ``readings``: every pair's difference and its interval, paired by prompt
  (``stats.difference_ci``); "A beats B at KL k" only when the interval excludes 0, with the number
  of seeds on which A's mean is higher, "tied within noise" otherwise;
- ``best_of_n``: the method that trains nothing, from one rollout of ``BON_N`` per held-out prompt;
  ``best_of_n_against``, ``best_of_n_readings``: it against each algorithm where its KL is no larger;
- ``gao_points``, ``gao_fits``, ``gao_notes``: gold (judge) and proxy (reward model) against
  d = sqrt(KL), fitted with Gao, Schulman & Hilton's (2022) forms (``overoptimization``);
- ``equal_kl_table``, ``best_of_n_table``, ``gao_table``: the printed tables; ``frontier_points``: what
  ``plots.plot_algorithm_frontiers`` draws.
"""

from __future__ import annotations

import itertools
import math
import textwrap

import numpy as np

from .. import best_of_n as bo
from .. import overoptimization, stages, stats
from . import compare, judge, pipeline
from .compare import NAMES, SEEDS, Run, cached_json, interval_text, kinds_of

BON_N = 64  # best-of-n's samples per prompt: best-of-k for k = 1, 2, 4, ..., 64 from one rollout


def frontier_table(runs: list[Run], kind: str, key: str = "judge", prompts: str = "held-out"):
    """``kind``'s runs as (kl (seeds, betas), per-prompt ``key`` (seeds, betas, prompts)), seeds and betas sorted."""
    grid = {(r.seed, r.beta): r for r in runs if r.kind == kind}
    seeds, betas = sorted({sd for sd, _ in grid}), sorted({b for _, b in grid})
    rows = [[grid[sd, b] for b in betas] for sd in seeds]
    return (np.array([[r.measured(prompts)["kl_k1"] for r in row] for row in rows]),
            np.array([[r.by_prompt[prompts][key] for r in row] for row in rows]))


def common_kls(runs: list[Run], levels: int = 3, prompts: str = "held-out") -> list[float]:
    """``levels`` evenly spaced KLs strictly inside every seed's frontier of every algorithm ([] if none)."""
    kls = [frontier_table(runs, k, prompts=prompts)[0] for k in kinds_of(runs)]
    lo, hi = max(kl.min(axis=1).max() for kl in kls), min(kl.max(axis=1).min() for kl in kls)
    return np.linspace(lo, hi, levels + 2)[1:-1].tolist() if lo < hi else []


def at_kl(runs: list[Run], kls, key: str = "judge", prompts: str = "held-out", kinds=None) -> dict[str, np.ndarray]:
    """{kind: per-prompt ``key`` at each KL, (seeds, len(kls), prompts)}: each seed's frontier interpolated."""
    return {k: stats.at_common_kl(*frontier_table(runs, k, key, prompts), kls) for k in kinds or kinds_of(runs)}


def equal_kl(runs: list[Run], kls, key: str = "judge", prompts: str = "held-out") -> dict[float, dict]:
    """{KL: {kind: stats.Interval}}: mean and 95 % interval over seeds x prompts (crossed) at each KL."""
    at = at_kl(runs, kls, key, prompts)
    return {kl: {k: stats.mean_ci(v[:, j], "crossed") for k, v in at.items()} for j, kl in enumerate(kls)}


def differences(runs: list[Run], kls, key: str = "judge", prompts: str = "held-out") -> dict[float, dict]:
    """{KL: {(a, b): (interval of a - b, seeds where a's mean is higher, seeds)}}, every pair, a the higher."""
    at, out = at_kl(runs, kls, key, prompts), {}
    for j, kl in enumerate(kls):
        out[kl] = {}
        for a, b in itertools.combinations(at, 2):
            if at[a][:, j].mean() < at[b][:, j].mean():
                a, b = b, a
            d = at[a][:, j] - at[b][:, j]
            out[kl][a, b] = (stats.mean_ci(d, "crossed"), int((d.mean(axis=1) > 0).sum()), len(d))
    return out


def readings(diffs: dict[float, dict]) -> list[str]:
    """One sentence per KL from ``differences``: who beats whom (interval excludes 0), the rest tied within noise."""
    lines = []
    for kl, pairs in diffs.items():
        wins = [f"{NAMES[a]} beats {NAMES[b]} by {ci.estimate:.2f} ({ci.low:.2f} to {ci.high:.2f}; higher on "
                f"{up} of {n} seeds)" for (a, b), (ci, up, n) in pairs.items()
                if stats.verdict(ci, a, b) != "tied within noise"]
        tied = len(pairs) - len(wins)
        if not wins:
            said = f"all {tied} pairs are tied within noise"
        else:
            said = "; ".join(wins) + (f"; the other {tied} pairs are tied within noise" if tied else "")
        lines.append(f"at KL {kl:.2f}: {said}.")
    return lines


# ---------------------------------------------------------------- best-of-n and Gao et al.'s curves

def best_of_n(s: pipeline.SentimentSetup | None = None, rl: pipeline.RLHFSetup | None = None, n: int = BON_N,
              seed: int = 1234) -> dict:
    """Best-of-k from the SFT model for k in ``best_of_n.ks(n)``, from one rollout of n per held-out prompt.

    Per k: cost (completions sampled), the KL bound and estimate, and each prompt's judge positive rate
    and reward-model score of the chosen sample, averaged over all k-subsets of the n samples
    (``best_of_n.subset_weights``: lower variance than one subset). The samples' scores and judge are
    cached in the reward model's folder. {"n", "prompts", "rows": [...], "chosen": best-of-n texts}.
    """
    s, rl = s or pipeline.setup(), rl or pipeline.rl_setup()
    prompts = pipeline.heldout_prompts(rl)

    def sample():
        sft, _ = pipeline.sft_model(s)
        rm, _ = pipeline.reward_model(s, rl)
        ro = bo.sample_best_of_n(sft, rm, pipeline.tokenizer(s), prompts, n, rl.max_new_tokens, seed=seed).rollout
        return {"scores": ro.scores.tolist(), "texts": ro.texts,
                "positive": (judge.vader_compound(ro.texts) >= judge.POSITIVE_THRESHOLD).tolist()}

    tag = stages.key([prompts, rl.max_new_tokens, seed, compare.EVALUATION])
    data = cached_json(pipeline.rm_dir(s, rl) / f"best-of-{n}-{tag}.json", sample)
    scores, positive = np.array(data["scores"]), np.array(data["positive"], dtype=np.float64)
    rows = []
    for k in bo.ks(n):
        rows.append({"n": k, "cost": bo.cost(len(prompts), k), "kl_bound": bo.kl_bound(k),
                     "kl_estimate": bo.kl_estimate(scores, n, k),
                     "judge": bo.expected_best_of_k(scores, positive, n, k),
                     "rm_score": bo.expected_best_of_k(scores, scores, n, k)})
    return {"n": n, "prompts": len(prompts), "rows": rows,
            "chosen": [data["texts"][i] for i in bo.chosen_indices(scores, n).tolist()]}


def best_of_n_against(runs: list[Run], bon: dict) -> dict[str, dict]:
    """Best-of-n against each RL algorithm where best-of-n's KL is no larger: {kind: {...} or None}.

    For each algorithm, the lowest KL inside every seed's frontier ("kl"), and the largest n whose KL bound
    is at most that ("n", "kl_bound"): the bound is an upper bound, so best-of-n sits at a KL no larger
    than the algorithm's. "diff": best-of-n's judge minus the algorithm's, per prompt and seed (best-of-n's
    per-prompt value against every seed), crossed interval. None where the algorithm's seeds share no KL.
    """
    out = {}
    for kind in kinds_of(runs):
        kl, _ = frontier_table(runs, kind)
        lowest = float(kl.min(axis=1).max())
        if lowest > kl.max(axis=1).min():  # its seeds' frontiers share no KL: nothing to pair with
            out[kind] = None
            continue
        row = max((r for r in bon["rows"] if r["kl_bound"] <= lowest), key=lambda r: r["n"])
        rl = at_kl(runs, [lowest], kinds=[kind])[kind][:, 0]       # (seeds, prompts)
        if rl.shape[1] != len(row["judge"]):
            raise ValueError(f"best-of-n has {len(row['judge'])} prompts, the runs {rl.shape[1]}: not the same prompts")
        diff = np.asarray(row["judge"])[None, :] - rl
        out[kind] = {"kl": lowest, "n": row["n"], "kl_bound": row["kl_bound"], "bon": float(np.mean(row["judge"])),
                     "rl": stats.mean_ci(rl, "crossed"), "diff": stats.mean_ci(diff, "crossed")}
    return out


def best_of_n_readings(against: dict[str, dict]) -> list[str]:
    """One line per algorithm from ``best_of_n_against``: who is ahead, or tied within noise."""
    lines = []
    for kind, a in against.items():
        if a is None:
            lines.append(f"best-of-n against {NAMES[kind]}: its seeds' frontiers share no KL, so no comparison.")
            continue
        d, said = a["diff"], stats.verdict(a["diff"], f"best-of-{a['n']}", NAMES[kind])
        lines.append(f"best-of-{a['n']} (KL at most {a['kl_bound']:.2f}, judge {a['bon']:.3f}) against "
                     f"{NAMES[kind]} at "
                     f"KL {a['kl']:.2f} ({interval_text(a['rl'])}): difference {d.estimate:+.3f} "
                     f"[{d.low:+.3f}, {d.high:+.3f}], {said}.")
    return lines


def gao_points(runs: list[Run], bon: dict | None = None) -> dict[str, dict]:
    """{method: {"form", "kl", "gold", "proxy"}}: gold = judge, proxy = RM score, both minus the start's.

    RL methods: every run (betas x seeds), KL k1 on the held-out prompts (a negative estimate taken as 0),
    minus SFT's evaluation. Best-of-n: its KL bound (Gao et al.'s), minus its own n = 1 (the SFT samples).
    """
    sft = runs[0].metrics
    out = {}
    for kind in kinds_of(runs):
        rs = [r for r in runs if r.kind == kind]
        out[NAMES[kind]] = {"form": "rl", "kl": [max(r.metrics["kl_k1"], 0.0) for r in rs],
                            "gold": [r.metrics["judge_positive_rate"] - sft["judge_positive_rate"] for r in rs],
                            "proxy": [r.metrics["rm_score"] - sft["rm_score"] for r in rs]}
    if bon is not None:
        rows = bon["rows"]
        out["best-of-n"] = {"form": "bon", "kl": [r["kl_bound"] for r in rows],
                            **{k: [float(r[key].mean() - rows[0][key].mean()) for r in rows]
                               for k, key in (("gold", "judge"), ("proxy", "rm_score"))}}
    return out


def gao_fits(points: dict) -> dict[str, dict]:
    """{method: {"gold", "proxy", "gold_other_form"}: overoptimization.Fit or None}: the method's own form
    (best-of-n "bon", RL "rl") for both, and the other form on gold (R^2 alone barely tells them apart)."""
    def fit(p, y, form):
        try:
            return overoptimization.fit(p["kl"], p[y], form)
        except ValueError:  # too few distinct KLs (a tiny test run): no curve, said so in the table
            return None

    other = {"rl": "bon", "bon": "rl"}
    return {m: {"gold": fit(p, "gold", p["form"]), "proxy": fit(p, "proxy", p["form"]),
                "gold_other_form": fit(p, "gold", other[p["form"]])} for m, p in points.items()}


def gao_notes(fits: dict, poor: float = 0.5) -> list[str]:
    """Plain words on each gold fit: poor (R^2 < ``poor``), forms indistinguishable, peak extrapolated or absent."""
    lines = []
    for m, f in fits.items():
        g, o = f["gold"], f["gold_other_form"]
        if g is None:
            lines.append(f"{m}: no fit (too few distinct KLs)")
            continue
        if not math.isfinite(g.r2):
            lines.append(f"{m} ({g.form}): the gold does not vary: nothing to fit (R² undefined)")
            continue
        said = [f"poor fit (R² {g.r2:.2f} < {poor})" if g.r2 < poor else f"R² {g.r2:.2f}"]
        if o is not None and abs(o.r2 - g.r2) < 0.05:
            said.append(f"the other form fits as well (R² {o.r2:.2f}): these points do not tell the forms apart")
        if not math.isfinite(g.peak_kl):
            said.append("the fitted gold never turns over")
        elif g.peak_kl > g.kl_max:
            said.append(f"its peak (KL {g.peak_kl:.3g}) lies beyond the largest KL measured ({g.kl_max:.1f}): "
                        "an extrapolation")
        elif g.peak_gold <= 0:
            said.append("the fitted gold never rises above the start")
        lines.append(f"{m} ({g.form}): " + "; ".join(said))
    return lines


def equal_kl_table(runs: list[Run], prompts: str = "held-out", levels: int = 3) -> str:
    """The judge at ``levels`` common KLs with 95 % intervals, then the readings of every pairwise difference."""
    kls = common_kls(runs, levels, prompts)
    if not kls:
        return f"({prompts} prompts) the algorithms' frontiers share no KL on every seed: no comparison at equal KL"
    kinds = kinds_of(runs)
    lines = [f"judge at equal KL, {prompts} prompts: mean [95 % interval over {len(SEEDS)} seeds x prompts]",
             f"{'KL':>6}" + "".join(f"{NAMES[k]:>22}" for k in kinds)]
    for kl, at in equal_kl(runs, kls, prompts=prompts).items():
        lines.append(f"{kl:6.2f}" + "".join(f"{interval_text(at[k]):>22}" for k in kinds))
    said = readings(differences(runs, kls, prompts=prompts))
    wrapped = [textwrap.fill(r, 120, subsequent_indent="    ") for r in said]
    return "\n".join(lines + wrapped)


def best_of_n_table(bon: dict, rl: pipeline.RLHFSetup | None = None) -> str:
    """Best-of-n per n: completions sampled, KL bound and estimate, judge [95 % interval over prompts], RM
    score; with ``rl``, the on-policy methods' training budget beside it."""
    lines = [f"best-of-n from the SFT model, {bon['prompts']} held-out prompts, one rollout of {bon['n']} each",
             f"{'n':>4}{'completions':>13}{'KL bound':>10}{'KL est.':>9}{'judge [95 % CI, prompts]':>28}{'RM':>8}"]
    for r in bon["rows"]:
        ci = stats.mean_ci(r["judge"][:, None], "nested")  # one draw: each prompt its own row, t over prompts
        lines.append(f"{r['n']:>4}{r['cost']:>13}{r['kl_bound']:>10.3f}{r['kl_estimate']:>9.3f}"
                     f"{interval_text(ci):>28}{r['rm_score'].mean():>8.3f}")
    lines.append(f"completions: sampled (and scored) every time these {bon['prompts']} prompts are answered")
    if rl is not None:
        n = compare.sampled_completions("ppo", compare.budget_config("ppo", rl))
        lines.append(f"an on-policy RL run samples {n} completions once, to train, then 1 per prompt answered; "
                     "DPO samples none")
    return "\n".join(lines)


def gao_table(fits: dict) -> str:
    """alpha, beta, the fitted peak (KL and gold) and R^2 of every gold and proxy fit, and the largest KL fitted."""
    lines = [f"{'method':<16}{'form':>5}{'target':>7}{'alpha':>8}{'beta':>8}{'peak KL':>10}{'peak':>10}{'R²':>7}"
             f"{'max KL':>8}"]
    for m, f in fits.items():
        for target in ("gold", "proxy"):
            g = f[target]
            lines.append(f"{m:<16}" + ("   (no fit: too few distinct KLs)" if g is None else
                                       f"{g.form:>5}{target:>7}{g.alpha:>8.3f}{g.beta:>8.3f}{g.peak_kl:>10.3g}"
                                       f"{g.peak_gold:>10.3g}{g.r2:>7.2f}{g.kl_max:>8.2f}"))
    return "\n".join(lines)


def frontier_points(runs: list[Run], bon: dict | None = None, grid: int = 12) -> dict:
    """What ``plots.plot_algorithm_frontiers`` draws: SFT's point; per algorithm every run and a band, the
    mean and 95 % interval (seeds x prompts) on a KL grid inside every seed's frontier; best-of-n's curve."""
    keys = ("kl_k1", "judge_positive_rate", "rm_score")
    curves = {}
    for kind in kinds_of(runs):
        kl, _ = frontier_table(runs, kind)
        lo, hi = kl.min(axis=1).max(), kl.max(axis=1).min()
        band = {}
        if lo < hi:
            ks = np.linspace(lo, hi, grid)
            band = {"kl_k1": ks.tolist(), **{
                metric: [tuple(stats.mean_ci(v[:, j], "crossed")) for j in range(grid)]
                for metric, v in (("judge_positive_rate", at_kl(runs, ks, kinds=[kind])[kind]),
                                  ("rm_score", at_kl(runs, ks, "rm_score", kinds=[kind])[kind]))}}
        points = [{"beta": r.beta, "seed": r.seed, **{k: r.metrics[k] for k in keys}} for r in runs if r.kind == kind]
        curves[NAMES[kind]] = {"band": band, "runs": points}
    out = {"sft": {k: runs[0].metrics[k] for k in keys}, "curves": curves}
    if bon is not None:
        out["best_of_n"] = [{"n": r["n"], "kl_k1": r["kl_bound"], "judge_positive_rate": float(r["judge"].mean()),
                             "rm_score": float(r["rm_score"].mean())} for r in bon["rows"]]
    return out
