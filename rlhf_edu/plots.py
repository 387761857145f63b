"""The plots of the foundation notebooks (01-05).

Each function returns a ``matplotlib.figure.Figure`` built without pyplot, so
it works the same in a notebook, in a test and in ``rlhf_edu.figures`` (no
global figure state, no GUI backend needed). In a notebook, make the figure
the last expression of the cell to display it.
"""

from __future__ import annotations

import math

import torch
from matplotlib.figure import Figure

from rlhf_edu import examples as E
from rlhf_edu import formulas as F
from rlhf_edu import rl

BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def style_grid(ax):
    ax.grid(True, alpha=0.3)
    ax.axhline(0.0, color=GREY, lw=0.8)


def plot_sequence_probability(tokens=E.TOKENS, token_probs=E.TOKEN_PROBS) -> Figure:
    """Per-token probabilities and the running product / running sum of log-probs."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    x = range(len(tokens))
    labels = [repr(t) for t in tokens]
    probs = torch.tensor(token_probs, dtype=torch.float64)
    running = torch.cumprod(probs, 0)
    ax1.bar(x, probs, color=BLUE, alpha=0.6, label="pi(token | context)")
    ax1.plot(x, running, "o-", color=ORANGE, label="pi(sequence so far)")
    for i, v in enumerate(running.tolist()):
        ax1.annotate(f"{v:.3f}", (i, v), textcoords="offset points", xytext=(0, -14), ha="center")
    ax1.set(xticks=list(x), xticklabels=labels, ylim=(0, 1.3), title="Multiply probabilities")
    ax1.legend(loc="upper left", ncol=2, fontsize=8)
    logp = torch.log(probs)
    ax2.bar(x, logp, color=BLUE, alpha=0.6, label="log pi(token | context)")
    ax2.plot(x, torch.cumsum(logp, 0), "o-", color=ORANGE, label="running sum")
    ax2.set(xticks=list(x), xticklabels=labels, ylim=(1.4 * float(logp.sum()), 0.0),
            title="... or add log-probabilities")
    ax2.legend(loc="lower left", ncol=2, fontsize=8)
    style_grid(ax2)
    return fig


def plot_discounted_returns(T: int = 10, reward: float = 1.0, gammas=(1.0, 0.95, 0.8, 0.5)) -> Figure:
    """Return G_t at each step when the only reward arrives at the last token."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.subplots()
    rewards = [0.0] * (T - 1) + [reward]
    for g in gammas:
        ax.plot(range(T), F.discounted_returns(rewards, g), "o-", ms=4, label=f"gamma = {g:g}")
    ax.set(xlabel="token position t", ylabel="return G_t",
           title=f"Reward {reward:g} only at the last token")
    ax.legend()
    style_grid(ax)
    return fig


def plot_bt_sigmoid_and_loss(gap_range: float = 8.0) -> Figure:
    """sigma(gap) and the reward-model loss -log sigma(gap), with the two worked cases."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    gap = torch.linspace(-gap_range, gap_range, 401, dtype=torch.float64)
    ax1.plot(gap, F.sigmoid(gap), color=BLUE)
    ax2.plot(gap, F.reward_model_loss(gap, torch.zeros_like(gap)), color=BLUE, label="-log sigma(gap)")
    ax2.plot(gap, torch.clamp(-gap, min=0.0), ":", color=GREY, label="max(0, -gap)")
    for g, color, name in ((2.0, GREEN, "case 1"), (-2.0, RED, "case 2")):
        p, loss = F.sigmoid(g), F.reward_model_loss(g, 0.0)
        ax1.plot([g], [p], "o", color=color)
        ax1.annotate(f"{name}: sigma({g:+.0f}) = {p:.3f}", (g, p), textcoords="offset points",
                     xytext=(8, -12 if g > 0 else 6), ha="left")
        ax2.plot([g], [loss], "o", color=color)
        ax2.annotate(f"{name}: {loss:.3f}", (g, loss), textcoords="offset points",
                     xytext=(6, 6), ha="left")
    ax1.set(xlabel="reward gap  r_chosen - r_rejected", ylabel="P(chosen preferred)",
            title="Bradley-Terry: sigma(gap)", ylim=(-0.02, 1.02))
    ax2.set(xlabel="reward gap  r_chosen - r_rejected", ylabel="loss",
            title="Reward-model loss")
    ax2.legend(loc="upper right")
    style_grid(ax1)
    style_grid(ax2)
    return fig


def plot_policy_gradient_step(advantages=(2.5, -1.0), logp: float = E.PG_LOGP, lr: float = E.PG_LR) -> Figure:
    """The tiny policy before and after one policy-gradient step, per advantage."""
    fig = Figure(figsize=(4.5 * len(advantages), 3.4), layout="constrained")
    axes = fig.subplots(1, len(advantages), squeeze=False)[0]
    x = torch.arange(len(E.PG_WORDS), dtype=torch.float64)
    for ax, adv in zip(axes, advantages):
        step = E.policy_gradient_step(adv, logp=logp, lr=lr)
        ax.bar(x - 0.2, step["probs_before"], 0.4, color=GREY, label="before")
        ax.bar(x + 0.2, step["probs_after"], 0.4, color=GREEN if adv > 0 else RED, label="after")
        ax.set(xticks=x.tolist(), xticklabels=E.PG_WORDS, ylim=(0, 1), ylabel="pi(word | 'Pune is')",
               title=f"A = {adv:+.1f}: pi('great') {step['prob_before']:.3f} -> {step['prob_after']:.3f}")
        ax.legend(loc="upper right")
    return fig


def plot_ppo_clip_objective(epsilon: float = E.EPSILON, advantages=(2.0, -1.0),
                            marks=((1.5, 2.0), (0.5, -1.0))) -> Figure:
    """PPO's objective against the ratio, for A > 0 and A < 0, clip region shaded.

    The thick line is min(unclipped, clipped); where it is flat (red) its
    gradient is zero. ``marks`` are (ratio, advantage) points to highlight.
    """
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, len(advantages))
    r = torch.linspace(0.0, 2.0, 401, dtype=torch.float64)
    for ax, adv in zip(axes, advantages):
        t = F.ppo_clip_objective(r, adv, epsilon)
        ax.axvspan(1 - epsilon, 1 + epsilon, color=BLUE, alpha=0.08, label="1 +/- epsilon")
        ax.plot(r, t.unclipped, "--", color=GREY, label="unclipped r A")
        ax.plot(r, t.clipped, ":", color=ORANGE, label="clipped")
        ax.plot(r, t.objective, color=BLUE, lw=2.5, label="min (PPO)")
        flat = (t.clipped < t.unclipped)  # where the min picks the constant clipped term
        ax.plot(r[flat], t.objective[flat], color=RED, lw=2.5, label="zero gradient")
        for ratio, a in marks:
            if a == adv:
                v = F.ppo_clip_objective(ratio, a, epsilon).objective
                ax.plot([ratio], [v], "o", color="black")
                ax.annotate(f"r = {ratio:g}: min = {v:+.1f}", (ratio, v), textcoords="offset points",
                            xytext=(0, 10 if adv > 0 else -16), ha="center")
        ax.set(xlabel="ratio r = pi_theta / pi_old", ylabel="objective",
               title=f"A = {adv:+.1f}, epsilon = {epsilon:g}")
        ax.legend(loc="upper left" if adv > 0 else "lower left", fontsize=8)
        style_grid(ax)
    return fig


def plot_kl_penalty(reward: float = 3.5, betas=(0.0, 0.05, 0.1, 0.2, 0.5), kl_max: float = 20.0,
                    marks=((0.1, 0.8), (0.1, 15.0))) -> Figure:
    """Total reward R - beta * KL against KL, one line per beta."""
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    kl = torch.linspace(0.0, kl_max, 201, dtype=torch.float64)
    for b in betas:
        ax.plot(kl, F.kl_penalised_reward(reward, kl, b), label=f"beta = {b:g}")
    for b, k in marks:
        v = F.kl_penalised_reward(reward, k, b)
        ax.plot([k], [v], "o", color="black")
        ax.annotate(f"{reward:g} - {b:g} x {k:g} = {v:.2f}", (k, v), textcoords="offset points",
                    xytext=(8, -18), ha="left" if k < kl_max / 2 else "center",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set(xlabel="KL(pi || pi_ref)", ylabel="total reward", title=f"Reward {reward:g} minus beta x KL")
    ax.legend(fontsize=8, loc="lower left")
    style_grid(ax)
    return fig


def plot_kl_estimators(pi=E.KL_PI, pi_ref=E.KL_REF, words=E.KL_WORDS) -> Figure:
    """k1 and k3 for one sampled token, against log(pi / pi_ref), with the example words."""
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.subplots()
    d = torch.linspace(-1.5, 1.5, 301, dtype=torch.float64)  # log pi - log pi_ref
    logp = torch.full_like(d, math.log(0.2))  # any fixed pi(token) small enough that pi_ref <= 1
    ax.plot(d, F.per_token_kl_k1(logp, logp - d), color=ORANGE, label="k1 = log pi - log pi_ref")
    ax.plot(d, F.kl_k3(logp, logp - d), color=GREEN, label="k3 = (rho - 1) - log rho")
    for w, p, q in zip(words, pi, pi_ref):
        lp, lq = math.log(p), math.log(q)
        for est, color in ((F.per_token_kl_k1, ORANGE), (F.kl_k3, GREEN)):
            ax.plot([lp - lq], [est(lp, lq)], "o", color=color)
        ax.annotate(repr(w), (lp - lq, F.per_token_kl_k1(lp, lq)), textcoords="offset points",
                    xytext=(0, -14), ha="center")
    ax.axhline(F.exact_kl(pi, pi_ref), ls="--", color=BLUE, label="exact KL of the example")
    ax.set(xlabel="log pi(token) - log pi_ref(token)", ylabel="estimate", title="One token's KL estimate")
    ax.legend(fontsize=8, loc="upper left")
    style_grid(ax)
    return fig


# ---------------------------------------------------------------------------
# training curves (notebooks 06-11 and the CLI)
# ---------------------------------------------------------------------------

def _smooth(values, k: int = 10):
    import numpy as np

    v = np.asarray(values, dtype=float)
    if len(v) < k:
        return v
    return np.convolve(v, np.ones(k) / k, mode="valid")


def plot_lm_training(pre_hist, sft_hist=None) -> Figure:
    """Training and validation loss of pretraining (and SFT)."""
    hists = [("pretraining", pre_hist)] + ([("SFT", sft_hist)] if sft_hist is not None else [])
    fig = Figure(figsize=(5.5 * len(hists), 3.6), layout="constrained")
    axes = fig.subplots(1, len(hists))
    axes = list(axes) if len(hists) > 1 else [axes]
    for ax, (name, h) in zip(axes, hists):
        sm = _smooth(h.loss)
        ax.plot(h.step[len(h.step) - len(sm):], sm, label="train (smoothed)")
        if h.eval_step:
            ax.plot(h.eval_step, h.eval_loss, "o-", label="validation")
        ax.set(title=f"{name}: cross-entropy", xlabel="step", ylabel="loss (nats/token)")
        ax.legend()
        style_grid(ax)
    return fig


def plot_rm_training(history: dict) -> Figure:
    """Bradley-Terry loss and batch accuracy while training the reward model."""
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    a, b = fig.subplots(1, 2)
    sm = _smooth(history["loss"])
    a.plot(history["step"][len(history["step"]) - len(sm):], sm)
    a.set(title="reward model: -log sigma(r_c - r_r)", xlabel="step", ylabel="loss")
    sm = _smooth(history["accuracy"])
    b.plot(history["step"][len(history["step"]) - len(sm):], sm, color="tab:green")
    b.set(title="batch pairwise accuracy", xlabel="step", ylabel="accuracy", ylim=(0, 1.02))
    for ax in (a, b):
        style_grid(ax)
    return fig


def plot_reward_by_label(scores, labels, names) -> Figure:
    """Histogram of reward-model scores per corpus label."""
    import numpy as np

    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(float(np.min(scores)), float(np.max(scores)), 40)
    for k, name in enumerate(names):
        ax.hist(scores[labels == k], bins=bins, alpha=0.55, label=name)
    ax.set(title="reward-model score by label (test tweets)", xlabel="calibrated score", ylabel="tweets")
    # A fixed place outside the bars: loc="best" over 120 bars is slow, and past 1 s matplotlib
    # warns on stderr, which made nbval fail this cell on a loaded machine.
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    style_grid(ax)
    return fig


# What each logged key means, for panel titles (the key itself stays in brackets, to find it in the code).
RL_LABELS = {
    "score": "reward-model score", "kl_k1": "KL to reference, k1 (nats)", "kl_k3": "KL to reference, k3 (nats)",
    "total_reward": "score - beta * KL", "policy_loss": "policy loss", "value_loss": "value loss",
    "entropy": "entropy (nats/token)", "clip_frac": "share of ratios clipped", "approx_kl": "KL old -> new policy",
    "explained_variance": "value head: explained variance", "beta": "KL coefficient beta",
    "lr": "learning rate", "length": "completion length (tokens)",
}


def plot_rl_history(history: list[dict], keys=("score", "kl_k1", "total_reward"), title: str = "") -> Figure:
    """One panel per logged quantity, against the RL iteration."""
    n = len(keys)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    its = [h["iteration"] for h in history]
    for ax, key in zip(axes.flat, keys):
        ax.plot(its, [h[key] for h in history], marker=".")
        label = RL_LABELS.get(key)
        ax.set(title=f"{label} [{key}]" if label else key, xlabel="iteration")
        healthy_band(ax, key)
        style_grid(ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def healthy_band(ax, key: str) -> None:
    """Shade the healthy range of a diagnostic (``rl.HEALTHY_MAX``; nothing for other keys), its limit dashed."""
    if key in rl.HEALTHY_MAX:
        limit = rl.HEALTHY_MAX[key]
        ax.axhspan(0, limit, color=GREEN, alpha=0.12, lw=0)
        ax.axhline(limit, color=GREEN, ls="--", lw=1, label=f"healthy: <= {limit}")
        ax.legend(fontsize=7, loc="upper right")


def plot_health(runs: dict[str, list[dict]]) -> Figure:
    """Clip fraction and approx-KL of several runs against the healthy ranges, one line per run.

    The dotted line is the first half's healthy mean (``rl.HEALTHY_FIRST_HALF``), the shaded band every
    iteration's (``rl.HEALTHY_MAX``). A log scale: a too-hot run and a healthy one differ by orders of magnitude.
    """
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    for ax, key in zip(fig.subplots(1, 2), rl.HEALTHY_MAX):
        for name, history in runs.items():
            values = [h[key] for h in history if key in h]
            if values:
                ax.plot(range(len(values)), [max(v, 1e-5) for v in values], marker=".", label=name)
        limit = rl.HEALTHY_MAX[key]
        ax.axhspan(1e-5, limit, color=GREEN, alpha=0.12, lw=0)
        ax.axhline(limit, color=GREEN, ls="--", lw=1, label=f"every iteration <= {limit}")
        ax.axhline(rl.HEALTHY_FIRST_HALF[key], color=GREEN, ls=":", lw=1,
                   label=f"first-half mean <= {rl.HEALTHY_FIRST_HALF[key]}")
        ax.set(yscale="log", xlabel="iteration", title=f"{rl.DIAGNOSTIC_NAMES[key]} [{key}]")
        ax.legend(fontsize=7)
        style_grid(ax)
    return fig


PPO_PLOT_KEYS = ("score", "kl_k1", "kl_k3", "total_reward", "policy_loss", "value_loss", "entropy", "clip_frac",
                 "approx_kl", "explained_variance", "beta", "lr")


def plot_ppo_history(history: list[dict]) -> Figure:
    return plot_rl_history(history, PPO_PLOT_KEYS, "PPO: one point per rollout batch")


BOOKKEEPING = ("iteration", "step", "epoch", "epochs_run", "tokens", "lr")


def plot_history(history: list[dict], title: str = "") -> Figure:
    """Every logged number of any trainer (PPO, policy gradient, RLOO, GRPO, DPO), one panel each."""
    if not history:
        raise ValueError("empty history: nothing to plot")
    keys = [k for k, v in history[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in BOOKKEEPING and not k.startswith("seconds")]
    rows = [{**h, "iteration": h.get("iteration", h.get("step", i))} for i, h in enumerate(history)]
    return plot_rl_history(rows, keys, title)


def plot_beta_sweep(rows: list[dict]) -> Figure:
    """Proxy (reward model) vs judge vs KL for each beta of the reward-hacking sweep."""
    betas = [r["beta"] for r in rows]
    labels = [f"β={b:g}" for b in betas]
    fig = Figure(figsize=(11, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot(labels, [r["rm_score"] for r in rows], "o-", label="reward-model score (proxy)")
    a.plot(labels, [r["judge_compound"] for r in rows], "s-", label="VADER mean compound (judge)")
    a.plot(labels, [r["distinct_2"] for r in rows], "^-", label="distinct-2 (diversity)")
    a.set(title="what each β buys", xlabel="KL coefficient")
    a.legend(fontsize=8)
    style_grid(a)
    b.scatter([r["kl_k1"] for r in rows], [r["rm_score"] for r in rows], label="proxy", marker="o")
    b.scatter([r["kl_k1"] for r in rows], [r["judge_compound"] for r in rows], label="judge", marker="s")
    for r, lab in zip(rows, labels):
        b.annotate(lab, (r["kl_k1"], r["rm_score"]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    b.set(title="proxy and judge against KL", xlabel="KL to reference (nats per completion)")
    b.legend()
    style_grid(b)
    return fig


def plot_rounds(columns: dict[str, dict]) -> Figure:
    """Fact coverage and hallucination rate per round of new comparisons, SFT as the baseline line.

    ``columns``: {"SFT": metrics, "round 0": metrics, "round 1": ...} as ``tldr.rounds.round_metrics`` gives.
    """
    rounds = [k for k in columns if k != "SFT"]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    for ax, key, name in zip(fig.subplots(1, 2), ("coverage", "hallucination_rate"),
                             ("fact coverage (higher is better)", "hallucination rate (lower is better)")):
        ax.plot(range(len(rounds)), [columns[r][key] for r in rounds], "o-", color=BLUE, label="PPO policy")
        ax.axhline(columns["SFT"][key], color=GREY, ls="--", label="SFT")
        ax.set_xticks(range(len(rounds)), rounds)
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    return fig


def plot_algorithm_frontiers(points: dict) -> Figure:
    """Judge and reward-model score against KL: per algorithm every run (filled: seed 0, open: the other
    seeds) and its mean with a 95 % band over seeds x prompts; best-of-n's curve (dashed, its KL bound);
    ``points`` as ``sentiment.frontiers.frontier_points`` lays them out."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    sft = points["sft"]
    for ax, key, title in zip(axes, ("judge_positive_rate", "rm_score"),
                              ("independent judge (VADER positive rate)", "reward-model score (the proxy)")):
        ax.plot([0], [sft[key]], "k*", markersize=11, label="SFT start")
        for i, (name, curve) in enumerate(points["curves"].items()):
            color, band, runs = f"C{i}", curve["band"], curve["runs"]
            for first in (True, False):
                rs = [r for r in runs if (r["seed"] == 0) == first]
                ax.plot([r["kl_k1"] for r in rs], [r[key] for r in rs], "o", color=color, markersize=4,
                        markerfacecolor=color if first else "none", alpha=0.8)
            mean, low, high = zip(*band[key]) if band else ((), (), ())
            ax.fill_between(band.get("kl_k1", []), low, high, color=color, alpha=0.15, lw=0)
            ax.plot(band.get("kl_k1", []), mean, "-", color=color, label=name)  # no band: the legend's entry only
        if points.get("best_of_n"):
            bon = points["best_of_n"]
            ax.plot([r["kl_k1"] for r in bon], [r[key] for r in bon], "k--", marker=".", label="best-of-n")
            for r in bon[-2:]:
                ax.annotate(f"n={r['n']}", (r["kl_k1"], r[key]), fontsize=7, xytext=(3, -9), textcoords="offset points")
        ax.set(title=title, xlabel="KL to the SFT model (nats per completion)")
        if key == "rm_score":
            style_grid(ax)
        else:
            ax.grid(True, alpha=0.3)  # a rate: no line at 0, which would squeeze the curves
    axes[0].legend(fontsize=8, loc="lower right", title="dots: runs (filled: seed 0); band: 95 % interval",
                   title_fontsize=7)
    return fig


def plot_overoptimization(points: dict, fits: dict) -> Figure:
    """Gao et al.'s (2022) axes: gold (the judge) and proxy (the reward model), each minus the start's,
    against d = sqrt(KL); measured points and the fitted curves, over the KLs measured.
    ``points`` and ``fits`` as ``sentiment.frontiers.gao_points`` and ``gao_fits`` give them."""
    from rlhf_edu import overoptimization

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, target, title in zip(fig.subplots(1, 2), ("gold", "proxy"),
                                 ("gold: judge positive rate − SFT's", "proxy: reward-model score − SFT's")):
        for i, (name, p) in enumerate(points.items()):
            color = "k" if p["form"] == "bon" else f"C{i}"
            ax.plot([math.sqrt(k) for k in p["kl"]], p[target], "s" if p["form"] == "bon" else "o", color=color,
                    markersize=4, alpha=0.7)
            f = fits[name][target]
            if f is not None:
                kl, y = overoptimization.curve(f)
                ax.plot(kl ** 0.5, y, "-", color=color, label=f"{name} ({f.form}, R² {f.r2:.2f})")
        ax.set(title=title, xlabel="d = √KL (√nats)")
        ax.legend(fontsize=7)
        style_grid(ax)
    return fig
