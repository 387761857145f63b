"""What the live widgets of notebooks 05-10 compute, as plain functions.

Each explorer is a compute function that returns numbers (tensors, floats, strings), a ``*_text``
that turns them into the lines the widget shows, and, where a picture helps, a ``plot_*`` that
returns a matplotlib ``Figure`` (no pyplot). ``widgets.py`` only wires them to controls; the
notebooks call the same functions once more with the default settings, so a viewer without
widgets (GitHub) still shows the starting state.

- 05 ``kl_estimator_spread``  k1 vs k3 vs exact KL as the sample count and the distance grow
- 06 ``explore_generation``   samples of several models side by side, per-token probabilities
- 07 ``reward_by_prefix``     reward-model score vs VADER, and the score as the text grows
- 09 ``ppo_batch`` + ``ppo_step``  one real rollout and update; rewards, advantages, clipped objective
- 10 ``beta_samples`` + ``plot_frontier``  one beta of the sweep: samples, and where it sits
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure

from . import examples as E
from . import formulas as F
from .evaluation import SEPARATOR, shown
from .model import generate, left_pad, response_logprobs
from .plots import BLUE, GREEN, GREY, ORANGE, RED, style_grid
from .ppo import PPOConfig, gae, ppo_losses, token_rewards, train_ppo, whiten

MAX_LINE = 190  # printed lines stay short: notebook checks and GitHub's viewer both like them


def _clip_line(s: str, width: int = MAX_LINE) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= width else s[: width - 3] + "..."


def _token_str(tokenizer, i: int) -> str:
    """One token as a quoted string (spaces visible); EOS named."""
    if i == tokenizer.eos_id:
        return "<eos>"
    return repr(tokenizer.decode([i]))


def _unquote(token: str) -> str:
    """The token text inside ``_token_str``'s quotes (for axis labels)."""
    return token[1:-1] if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"" else token


def _prompt_ids(tokenizer, prompt: str, room: int) -> list[int]:
    """The prompt's ids, at most ``room`` of them (its end); an empty prompt starts a new tweet."""
    ids = tokenizer.encode(prompt)[-room:] if prompt else []
    # Pretraining packs tweets between EOS tokens, so after EOS is "the start of a tweet".
    return ids or [tokenizer.eos_id]


# ============================================================== 05: KL estimators

def tilted_policy(distance: float, pi=E.KL_PI, pi_ref=E.KL_REF) -> torch.Tensor:
    """pi_d proportional to pi_ref * (pi / pi_ref)^d: d = 0 is pi_ref, d = 1 the worked example's pi."""
    p, q = torch.tensor(pi, dtype=torch.float64), torch.tensor(pi_ref, dtype=torch.float64)
    return torch.softmax(q.log() + distance * (p.log() - q.log()), dim=-1)


def kl_token_std(distances) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact per-token standard deviation of k1 and k3, and the exact KL, at each distance."""
    d = torch.as_tensor(distances, dtype=torch.float64)[:, None]
    p, q = torch.tensor(E.KL_PI, dtype=torch.float64), torch.tensor(E.KL_REF, dtype=torch.float64)
    logpi = torch.log_softmax(q.log() + d * (p.log() - q.log()), dim=-1)
    pi, log_rho = logpi.exp(), q.log() - logpi
    k1, k3 = -log_rho, torch.expm1(log_rho) - log_rho
    kl = (pi * k1).sum(-1)
    std = [(pi * (k - kl[:, None]) ** 2).sum(-1).sqrt() for k in (k1, k3)]
    return std[0], std[1], kl


def kl_estimator_spread(distance: float, n_samples: int, repeats: int = 400, seed: int = 0) -> dict:
    """Estimate KL(pi_d || pi_ref) from n sampled tokens with k1 and k3, ``repeats`` times over.

    Returns the exact KL, each estimator's exact per-token standard deviation (summed over the
    words, no sampling), and the ``repeats`` n-sample averages (seeded) with their mean and spread.
    """
    if n_samples < 1 or repeats < 2:
        raise ValueError(f"need n_samples >= 1 and repeats >= 2, got {n_samples} and {repeats}")
    pi = tilted_policy(distance)
    ref = torch.tensor(E.KL_REF, dtype=torch.float64)
    logp, logq = pi.log(), ref.log()
    k1, k3 = F.per_token_kl_k1(logp, logq), F.kl_k3(logp, logq)
    exact = F.exact_kl(pi, ref).item()
    g = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(pi, repeats * n_samples, replacement=True, generator=g).view(repeats, n_samples)
    est1, est3 = k1[idx].mean(1), k3[idx].mean(1)
    return {
        "distance": distance, "n_samples": n_samples, "pi": pi.tolist(), "pi_ref": ref.tolist(),
        "exact": exact,
        "std_k1": (pi * (k1 - exact) ** 2).sum().sqrt().item(),
        "std_k3": (pi * (k3 - exact) ** 2).sum().sqrt().item(),
        "est_k1": est1, "est_k3": est3,
        "negative_k1": (est1 < 0).double().mean().item(),
    }


def kl_spread_text(r: dict) -> str:
    pi = ", ".join(f"{w} {p:.2f}" for w, p in zip(E.KL_WORDS, r["pi"]))
    n = r["n_samples"]
    lines = [f"distance d = {r['distance']:.2f}: pi = [{pi}], exact KL = {r['exact']:.4f}",
             f"averages of {n} sampled token(s), {len(r['est_k1'])} repeats:"]
    for name in ("k1", "k3"):
        est = r[f"est_{name}"]
        lines.append(f"  {name}: mean {est.mean().item():.4f}, spread {est.std().item():.4f} "
                     f"(= per-token std {r[f'std_{name}']:.4f} / sqrt({n}))")
    lines.append(f"  k1's average is negative in {r['negative_k1']:.0%} of the repeats; k3's never")
    return "\n".join(lines)


def plot_kl_spread(r: dict, distances=None) -> Figure:
    """Left: the repeats' estimates around the exact KL. Right: per-token std of k1, k3 against d."""
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    a, b = fig.subplots(1, 2)
    e1, e3 = r["est_k1"], r["est_k3"]
    lo = min(e1.min().item(), e3.min().item(), 0.0)
    hi = max(e1.max().item(), e3.max().item(), r["exact"]) + 1e-3
    bins = torch.linspace(lo, hi, 41).tolist()
    a.hist(e1.tolist(), bins=bins, alpha=0.55, color=ORANGE, label="k1")
    a.hist(e3.tolist(), bins=bins, alpha=0.55, color=GREEN, label="k3")
    a.axvline(r["exact"], color=BLUE, ls="--", label="exact KL")
    a.set(title=f"{len(e1)} estimates, each from {r['n_samples']} token(s)", xlabel="KL estimate",
          ylabel="repeats")
    a.legend(fontsize=8, loc="upper right")
    a.grid(True, alpha=0.3)
    ds = torch.linspace(0, 4, 81, dtype=torch.float64) if distances is None else torch.as_tensor(distances)
    s1, s3, kl = kl_token_std(ds)
    b.plot(ds, s1, color=ORANGE, label="std of k1 (one token)")
    b.plot(ds, s3, color=GREEN, label="std of k3 (one token)")
    b.plot(ds, kl, color=BLUE, ls="--", label="exact KL")
    b.axvline(r["distance"], color=GREY, lw=1)
    b.set(title="noise of one token's estimate", xlabel="distance d (0: pi = pi_ref, 1: the example)")
    b.legend(fontsize=8, loc="upper left")
    style_grid(b)
    return fig


# ============================================================== 06: generation

@torch.no_grad()
def explore_generation(models: dict, tokenizer, prompt: str, temperature: float = 1.0, top_k: int = 0,
                       top_p: float = 1.0, n_samples: int = 3, max_new_tokens: int = 20, seed: int = 0,
                       show: str | None = None) -> dict:
    """Sample ``n_samples`` completions of ``prompt`` from each model, same seed for every model.

    ``top_k = 0`` and ``top_p = 1`` switch those filters off. For the first sample of model
    ``show`` (default: the last one) it also returns every token's probability twice: in the
    distribution it was drawn from (temperature, top-k and top-p applied) and in the model's own
    (temperature 1, nothing filtered).
    """
    if not models:
        raise ValueError("models must not be empty")
    show = list(models)[-1] if show is None else show
    block = min(m.config.block_size for m in models.values())
    ids = _prompt_ids(tokenizer, prompt, block - max_new_tokens)
    samples, tokens = {}, []
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        gen = generate(model, [ids] * n_samples, max_new_tokens, tokenizer.eos_id, tokenizer.pad_id,
                       temperature=temperature, top_k=top_k or None, top_p=top_p if top_p < 1 else None,
                       generator=g)
        samples[name] = [tokenizer.decode(r[m.bool()].tolist()) for r, m in zip(gen.responses, gen.response_mask)]
        if name == show:
            first = slice(0, 1)
            raw = response_logprobs(model, gen.sequences[first], gen.attention_mask[first], gen.prompt_len)
            keep = gen.response_mask[0].bool()
            tokens = [(_token_str(tokenizer, t), math.exp(a), math.exp(b)) for t, a, b in
                      zip(gen.responses[0][keep].tolist(), gen.logprobs[0][keep].tolist(), raw[0][keep].tolist())]
    return {"prompt": prompt, "samples": samples, "show": show, "tokens": tokens,
            "settings": dict(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)}


def generation_text(r: dict) -> str:
    s = r["settings"]
    lines = [f"prompt {r['prompt']!r}, temperature {s['temperature']:.2f}, top-k {s['top_k'] or 'off'}, "
             f"top-p {s['top_p']:.2f}, seed {s['seed']}"]
    width = max(len(n) for n in r["samples"])
    for name, texts in r["samples"].items():
        for t in texts:
            lines.append(_clip_line(f"{name:>{width}}: {r['prompt']} {SEPARATOR}{t}"))
    lines.append(f"\nsample 1 of {r['show']}, token by token:")
    lines.append(f"{'token':>16}  p(drawn from)  p(model, T=1)")
    for tok, p_draw, p_model in r["tokens"]:
        bar = "#" * round(20 * p_draw)
        lines.append(f"{_clip_line(tok, 16):>16}  {p_draw:13.3f}  {p_model:13.3f}  {bar}")
    return "\n".join(lines)


# ============================================================== 07: reward model

@torch.no_grad()
def reward_by_prefix(reward_model, tokenizer, text: str, *, judge) -> dict:
    """The reward model's score of ``text`` and of each of its token prefixes, next to the judge's.

    ``judge(texts)`` returns one compound score per text (the sentiment task's is
    ``sentiment.judge.vader_compound``): the judge is passed in, so this module knows no task.
    Each prefix is scored as a finished tweet (prefix + EOS), as the reward model was trained, all
    in one batch. Long texts keep their end, like ``encode_for_rm``.
    """
    reward_model.eval()
    ids = tokenizer.encode(text)[-(reward_model.config.block_size - 1):]
    prefixes = [tokenizer.decode(ids[:i + 1]) for i in range(len(ids))]
    scores = []
    if ids:  # the prefixes' own token ids (re-encoding decoded text could split it differently)
        batch, mask = left_pad([ids[:i + 1] + [tokenizer.eos_id] for i in range(len(ids))], tokenizer.pad_id)
        scores = reward_model(batch, mask).tolist()
    full = reward_model.score_texts(tokenizer, [text]).item()  # the text as a whole (also when empty)
    return {"text": text, "score": full, "vader": judge([text])[0].item(),
            "tokens": [_token_str(tokenizer, i) for i in ids], "prefix_scores": scores,
            "prefix_vader": judge(prefixes).tolist()}


def reward_text(r: dict) -> str:
    lines = [_clip_line(f"text: {r['text']!r}"),
             f"reward-model score: {r['score']:+.3f}   (calibrated: SFT samples average 0, std 1)",
             f"VADER compound:     {r['vader']:+.3f}   (the judge, in [-1, 1]; >= 0.05 counts as positive)"]
    s = r["prefix_scores"]
    if len(s) > 1:
        jumps = [b - a for a, b in zip(s, s[1:])]
        k = max(range(len(jumps)), key=lambda i: abs(jumps[i]))
        lines.append(f"biggest move of the score: {jumps[k]:+.3f} at token {k + 2} {r['tokens'][k + 1]}")
    return "\n".join(lines)


def plot_reward_by_prefix(r: dict) -> Figure:
    """Score of each prefix (reward model, left axis) and VADER (right axis), token by token."""
    fig = Figure(figsize=(10, 3.4), layout="constrained")
    ax = fig.subplots()
    x = list(range(1, len(r["tokens"]) + 1))
    ax.plot(x, r["prefix_scores"], "o-", color=BLUE, label="reward model (left axis)")
    ax.set(xlabel="text so far, token by token", ylabel="reward-model score",
           title="Where the reward model decides: the score of every prefix, read as a whole tweet")
    ax.set_xticks(x, [_unquote(t) for t in r["tokens"]], rotation=60, ha="right", fontsize=8)
    style_grid(ax)
    v = ax.twinx()
    v.plot(x, r["prefix_vader"], "s--", color=ORANGE, alpha=0.7, label="VADER (right axis)")
    v.set(ylim=(-1.05, 1.05), ylabel="VADER compound")
    handles = ax.get_legend_handles_labels()[0] + v.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    return fig


# ============================================================== 09: one PPO step

@dataclass
class PPOBatch:
    """One real rollout and one real PPO iteration on it (``train_ppo`` with ``iterations=1``).

    The value head starts at zero in every ``train_ppo`` run, so the values the advantages are
    computed from are 0 here, exactly as in the run. ``new_logprobs`` are the policy's after the
    iteration's updates: their ratio to ``old_logprobs`` is the r of the clipped objective.
    """

    texts: list[str]             # prompt + completion
    completions: list[str]
    tokens: list[list[str]]      # the response tokens of each row (real ones only)
    mask: torch.Tensor           # (B, R)
    scores: torch.Tensor         # (B,)
    old_logprobs: torch.Tensor   # (B, R) the policy that sampled
    ref_logprobs: torch.Tensor   # (B, R) the frozen reference
    new_logprobs: torch.Tensor   # (B, R) after the update
    cfg: PPOConfig


def ppo_batch(policy, reference, reward_model, tokenizer, prompts: list[str], cfg: PPOConfig | None = None,
              batch_size: int = 8) -> PPOBatch:
    """Run one PPO iteration (rollout + ``cfg.ppo_epochs`` updates) on a copy of ``policy``; record it."""
    cfg = dataclasses.replace(cfg or PPOConfig(), iterations=1, batch_size=batch_size,
                              minibatch_size=batch_size, samples_per_prompt=1, adaptive_kl=False)
    seen = {}
    rng = torch.get_rng_state()  # train_ppo seeds the global generator: leave the notebook's alone
    try:
        model, _ = train_ppo(copy.deepcopy(policy), reference, reward_model, tokenizer, prompts, cfg,
                             progress=False, callback=lambda log, ro: seen.update(ro=ro))
    finally:
        torch.set_rng_state(rng)
    ro = seen["ro"]
    mask = ro.response_mask.float()
    with torch.no_grad():
        new = response_logprobs(model.policy, ro.sequences, ro.attention_mask, ro.prompt_len, cfg.temperature)
    tokens = [[_token_str(tokenizer, t) for t in r[m.bool()].tolist()]
              for r, m in zip(ro.sequences[:, ro.prompt_len:], ro.response_mask)]
    return PPOBatch(ro.texts, ro.completions, tokens, mask, ro.scores, ro.logprobs * mask, ro.ref_logprobs * mask,
                    new * mask, cfg)


def ppo_step(b: PPOBatch, clip_eps: float | None = None, gamma: float | None = None, lam: float | None = None,
             beta: float | None = None, whiten_advantages: bool | None = None) -> dict:
    """Per-token rewards, GAE advantages and the clipped objective of the batch, at these settings.

    A setting left out is the batch's own (``b.cfg``, the config the update was made with). The same
    functions ``train_ppo`` calls (``token_rewards``, ``gae``, ``whiten``, ``ppo_losses``); values
    are 0 (see ``PPOBatch``), so here gamma and lambda act only through their product.
    """
    given = dict(clip_eps=clip_eps, gamma=gamma, lam=lam, beta=beta, whiten_advantages=whiten_advantages)
    cfg = dataclasses.replace(b.cfg, **{k: v for k, v in given.items() if v is not None})
    m = b.mask
    values = torch.zeros_like(m)
    rewards = token_rewards(b.scores, b.old_logprobs, b.ref_logprobs, m, cfg.beta)
    adv, returns = gae(rewards, values, m, cfg.gamma, cfg.lam)
    if cfg.whiten_advantages:
        adv = whiten(adv, m)
    ratio = torch.exp((b.new_logprobs - b.old_logprobs) * m)
    terms = F.ppo_clip_objective(ratio, adv, cfg.clip_eps)
    pg_loss, _, stats = ppo_losses(b.new_logprobs, b.old_logprobs, adv, values, values, returns, m, cfg)
    clipped = (terms.clipped < terms.unclipped) & m.bool()  # the min picked the clipped term
    return {"rewards": rewards, "advantages": adv, "ratio": ratio, "unclipped": terms.unclipped * m,
            "clipped": terms.clipped * m, "objective": terms.objective * m, "picked_clipped": clipped,
            "objective_mean": -pg_loss.item(), "clip_frac": stats["clip_frac"],
            "picked_clipped_frac": (clipped.sum() / m.sum()).item(),
            "settings": dict(clip_eps=cfg.clip_eps, gamma=cfg.gamma, lam=cfg.lam, beta=cfg.beta)}


def ppo_step_text(b: PPOBatch, s: dict, row: int = 0) -> str:
    st = s["settings"]
    n = int(b.mask[row].sum())
    kl = (b.old_logprobs[row] - b.ref_logprobs[row])[:n]
    lines = [f"eps {st['clip_eps']:.2f}, gamma {st['gamma']:.2f}, lambda {st['lam']:.2f}, beta {st['beta']:.3f}; "
             f"row {row} of {len(b.texts)}:",
             _clip_line(f"  {shown(b.texts[row], b.completions[row])!r}"),
             f"  score {b.scores[row].item():+.3f}, KL {kl.sum().item():.3f} nats, rewards sum to "
             f"{s['rewards'][row].sum().item():+.3f} = score - beta x KL",
             f"{'t':>3} {'token':>14} {'k1':>7} {'reward':>8} {'adv':>7} {'ratio':>6} {'r A':>7} "
             f"{'clip(r) A':>9} {'min':>7}"]
    for t in range(n):
        mark = "  <- clipped" if s["picked_clipped"][row, t] else ""
        lines.append(f"{t:3d} {_clip_line(b.tokens[row][t], 14):>14} {kl[t].item():+7.3f} "
                     f"{s['rewards'][row, t].item():+8.3f} {s['advantages'][row, t].item():+7.3f} "
                     f"{s['ratio'][row, t].item():6.3f} {s['unclipped'][row, t].item():+7.3f} "
                     f"{s['clipped'][row, t].item():+9.3f} {s['objective'][row, t].item():+7.3f}{mark}")
    lines.append(f"whole batch: mean objective {s['objective_mean']:+.4f}, ratio outside 1 +- eps for "
                 f"{s['clip_frac']:.0%} of tokens, the min picked the clipped term for {s['picked_clipped_frac']:.0%}")
    return "\n".join(lines)


# ============================================================== 10: the beta sweep

def beta_samples(policy, reference, reward_model, tokenizer, prompts: list[str], *, judge, seed: int = 0,
                 max_new_tokens: int = 24) -> list[dict]:
    """One completion per prompt (seeded), with its reward-model score, the judge's compound and KL (k1, nats).

    ``judge(texts)``: one compound score per text (``sentiment.judge.vader_compound`` for tweets).
    """
    from .evaluation import sample_rollout

    ro = sample_rollout(policy, reference, reward_model, tokenizer, prompts, max_new_tokens, seed=seed)
    vader = judge(ro.texts)
    kl = ro.kl_k1.sum(1)
    return [{"text": t, "completion": c, "rm_score": s, "judge_compound": v, "kl_k1": k}
            for t, c, s, v, k in zip(ro.texts, ro.completions, ro.scores.tolist(), vader.tolist(), kl.tolist())]


def beta_text(rows: list[dict], beta: float, samples: list[dict]) -> str:
    """The sweep's row for ``beta`` (proxy, judge, KL) and the live samples."""
    row = next(r for r in rows if r["beta"] == beta)
    lines = [f"beta = {beta:g}: reward-model score {row['rm_score']:+.3f}, "
             f"VADER compound {row['judge_compound']:+.3f}, KL {row['kl_k1']:.2f} nats, "
             f"distinct-2 {row['distinct_2']:.2f}   (the sweep's evaluation)",
             f"{'RM':>6} {'VADER':>6} {'KL':>6}  sample"]
    for s in samples:
        lines.append(_clip_line(f"{s['rm_score']:+6.2f} {s['judge_compound']:+6.2f} {s['kl_k1']:6.2f}  "
                                f"{shown(s['text'], s['completion'])}"))
    return "\n".join(lines)


def plot_frontier(rows: list[dict], beta: float | None = None) -> Figure:
    """Proxy and judge against KL for every beta of the sweep; ``beta`` highlighted."""
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    rows = sorted(rows, key=lambda r: r["kl_k1"])
    kl = [r["kl_k1"] for r in rows]
    ax.plot(kl, [r["rm_score"] for r in rows], "o-", color=BLUE, label="reward-model score (proxy)")
    ax.plot(kl, [r["judge_compound"] for r in rows], "s-", color=ORANGE, label="VADER mean compound (judge)")
    for r in rows:
        ax.annotate(f"β={r['beta']:g}", (r["kl_k1"], r["rm_score"]), fontsize=8, xytext=(3, 4),
                    textcoords="offset points")
        if r["beta"] == beta:
            for key in ("rm_score", "judge_compound"):
                ax.plot([r["kl_k1"]], [r[key]], "o", ms=14, mfc="none", mec=RED, mew=2)
            ax.axvline(r["kl_k1"], color=RED, lw=1, alpha=0.6)
    ax.set(xlabel="KL to reference (nats per completion)", ylabel="score",
           title="The sweep's frontier" + ("" if beta is None else f": β = {beta:g} circled"))
    ax.legend(fontsize=8, loc="lower right")
    style_grid(ax)
    return fig


__all__ = [
    "tilted_policy", "kl_token_std", "kl_estimator_spread", "kl_spread_text", "plot_kl_spread",
    "explore_generation", "generation_text",
    "reward_by_prefix", "reward_text", "plot_reward_by_prefix",
    "PPOBatch", "ppo_batch", "ppo_step", "ppo_step_text",
    "beta_samples", "beta_text", "plot_frontier",
]
