# %% [markdown]
# # 10 · Reward hacking, and the KL leash
#
# **What you will learn.** The reward model is a *proxy* for what people want, and a policy
# optimised hard against a proxy finds its blind spots. The KL penalty (β times the KL to the SFT
# model, notebooks 05 and 09) is the leash that keeps the policy near text that reads well. We run
# the same short PPO recipe with several values of β, from β = 0 (no leash) up, and compare four
# things: the proxy (the reward-model score), an independent judge (VADER), the KL, and the text
# itself. First we measure one point of the sweep by hand, completion by completion, and check it
# against the package's evaluation; then we look at what the policy wrote with no leash; then we
# repeat the whole sweep with three seeds and read only what holds for all three.
#
# **What you need first.** Notebook 05 (the KL penalty), notebook 07 (the reward model and the
# judge) and notebook 09 (PPO). The SFT model and the reward model of notebooks 06 and 07 are
# loaded from the cache (without them they are trained first, which takes longer).
#
# **How long.** At full size on our 2-core CPU, executing this notebook took 152 s the first time,
# 123 s of it training the sweep's 15 PPO runs (measured with `tools/build_notebooks.py` on a machine
# shared with other jobs); once they are cached, about half a minute. The cell that loads them prints
# how long their training took.

# %%
%matplotlib inline
import collections
import dataclasses

import torch
from IPython.display import Markdown, display

from rlhf_edu import formulas, plots, show, stages, words
from rlhf_edu.evaluation import SEPARATOR, side_by_side
from rlhf_edu.model import frozen_copy, response_logprobs
from rlhf_edu.rollout import collect_rollout
from rlhf_edu.sentiment import corpus, evaluation, judge, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())

# %% [markdown]
# ## The sweep's settings
#
# Every β gets the same PPO recipe as notebook 09 (`ppo.train_ppo`), with a few settings changed
# for all of them: fewer iterations and a higher learning rate, a harder push in a shorter run, so
# that the no-leash run goes somewhere within a CPU budget (the last lines below list every
# setting that differs from notebook 09's run). Only β differs between the runs of one seed; the
# `beta` printed below is the config's default, which each run replaces.

# %%
# NBVAL_IGNORE_OUTPUT
rl = pipeline.rl_setup()
BETAS, SWEEP, SEEDS = rl.sweep_betas, rl.sweep, (0, 1, 2)
print("betas:", BETAS)
print(show.settings(SWEEP, "sweep settings (PPOConfig)"))
print("\nnotebook 09's run -> this sweep:")
for f in dataclasses.fields(SWEEP):
    if getattr(rl.ppo, f.name) != getattr(SWEEP, f.name):
        print(f"  {f.name:<10} {getattr(rl.ppo, f.name)!r} -> {getattr(SWEEP, f.name)!r}")

# %% [markdown]
# Each (β, seed) pair is its own cached stage, keyed by its settings:
# `pipeline.ppo_policy(cfg=dataclasses.replace(SWEEP, beta=β, seed=s))`. The first time, this cell
# trains them all; after that it loads them. Seed 0 is the configuration's own seed, the one the
# measurements by hand and the samples use.

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model(progress=False)
rm, _ = pipeline.reward_model(progress=False)
reference = frozen_copy(sft)
prompts = pipeline.evaluation_prompts()
runs = {(beta, seed): pipeline.ppo_policy(cfg=dataclasses.replace(SWEEP, beta=beta, seed=seed), progress=False)
        for seed in SEEDS for beta in BETAS}
policies = {beta: runs[beta, 0][0] for beta in BETAS}  # seed 0
train_seconds = sum(log["seconds"] for _, history in runs.values() for log in history)
print(f"{len(runs)} PPO runs ({len(BETAS)} betas x {len(SEEDS)} seeds); training them took "
      f"{train_seconds:.0f} s in all, from their logs (the first time only: they are cached now)")

# %% [markdown]
# ## One point of the frontier, by hand
#
# The sweep's tables (further down) are built from averages over completions sampled from the
# trained policy for the held-out prompts: `evaluation.evaluate` draws 4 completions per prompt
# with a fixed sampling seed, so every policy is judged on the same prompts and the same random
# draws. Here is what one of those averages is made of. We take the β = 0 policy of seed 0 (no
# leash), sample exactly as `evaluate` does, and measure every completion ourselves:
#
# - **proxy**: the reward model's score of prompt + completion (calibrated in notebook 07: the SFT
#   model's own samples average 0, standard deviation 1);
# - **judge**: VADER's compound score in [−1, 1], and its verdict, positive when the compound is at
#   least 0.05 (VADER's own cut-off);
# - **KL**: the k1 estimate summed over the completion's tokens,
#   $\sum_t \log\pi(y_t) - \log\pi_{\text{ref}}(y_t)$, with both log-probs recomputed here;
# - **words**: the completion's words that never occur in the training tweets (`words.non_words`),
#   invented by the model.

# %%
show.source(evaluation.evaluate)

# %%
# NBVAL_IGNORE_OUTPUT
BETA = BETAS[0]  # 0: no leash
policy = policies[BETA]
vocabulary = pipeline.vocabulary()
batch = [p for p in prompts for _ in range(4)]       # evaluate's samples_per_prompt
generator = torch.Generator().manual_seed(1234)      # evaluate's sampling seed
ro = collect_rollout(policy, reference, rm, tok, batch, 24, 1.0, generator)  # 24 new tokens, temperature 1

mask = ro.response_mask
logp = response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len) * mask
logp_ref = response_logprobs(reference, ro.sequences, ro.attention_mask, ro.prompt_len) * mask
kl = (formulas.per_token_kl_k1(logp, logp_ref) * mask).sum(1)  # nats per completion
with torch.no_grad():
    proxy = rm(ro.sequences, ro.attention_mask)                  # one score per completion
compound = judge.vader_compound(ro.texts)
positive = compound >= judge.POSITIVE_THRESHOLD
invented = [words.non_words([c], vocabulary) for c in ro.completions]

assert torch.equal(kl, ro.kl_k1.sum(1)) and torch.equal(proxy, ro.scores)


def row(i):
    text = f"{batch[i]} {SEPARATOR}{ro.completions[i]}".replace("\n", " ")
    text = text if len(text) <= 96 else text[:95] + "…"
    verdict = "positive" if positive[i] else "not pos."
    made_up = ", ".join(invented[i]) or "-"
    return f"{text:<96} {proxy[i]:>6.2f} {compound[i]:>+6.2f} {verdict:>8} {kl[i]:>6.1f}  {made_up[:40]}"


HEADER = f"{'prompt ' + SEPARATOR + ' completion':<96} {'proxy':>6} {'VADER':>6} {'verdict':>8} {'KL':>6}  invented words"


print(f"{len(batch)} completions of the β = {BETA:g} policy (seed 0); the first eight:\n")
print(HEADER)
print("\n".join(row(i) for i in range(8)))

# %% [markdown]
# Where does a completion's KL come from? Token by token, for the completion with the highest
# proxy score: the policy's log-prob, the SFT model's, and their difference, the k1 term.

# %%
# NBVAL_IGNORE_OUTPUT
i = int(proxy.argmax())
n = int(mask[i].sum())
response = ro.sequences[i, ro.prompt_len:][:n].tolist()
print(f"{batch[i]} {SEPARATOR}{ro.completions[i]}".replace("\n", " ")[:190])
print(f"\n{'token':>16} {'log pi':>8} {'log pi_ref':>10} {'k1':>7}")
for t, a, b in zip(response, logp[i, :n].tolist(), logp_ref[i, :n].tolist()):
    name = "<eos>" if t == tok.eos_id else repr(tok.decode([t]))
    print(f"{name[:16]:>16} {a:8.2f} {b:10.2f} {a - b:+7.2f}")
print(f"{'sum':>16} {logp[i].sum():8.2f} {logp_ref[i].sum():10.2f} {kl[i]:+7.2f}   (the KL column above)")

# %% [markdown]
# Averaged over all the completions, these are the sweep's numbers for β = 0, seed 0 (its row in
# the table of every run further down). We check it: `evaluation.evaluate` on the same policy gives
# exactly the same proxy, judge, KL and real-word rate (`==`, not "close": same code, same draws,
# same order of arithmetic).

# %%
# NBVAL_IGNORE_OUTPUT
by_hand = {
    "rm_score": proxy.mean().item(),
    "judge_positive_rate": float(positive.mean()),
    "judge_compound": float(compound.mean()),
    "kl_k1": kl.mean().item(),
    "real_word_rate": words.real_word_rate(ro.completions, vocabulary),
}
table_row, _ = evaluation.evaluate(policy, reference, rm, tok, prompts)
for key, value in by_hand.items():
    assert value == table_row[key], (key, value, table_row[key])
    print(f"{evaluation.METRIC_LABELS[key]:<28} by hand {value:8.3f}   evaluate {table_row[key]:8.3f}")

# %% [markdown]
# ## What the hack looks like
#
# A score does not say *how* the policy earned it. With no leash, the cheapest way to a high
# reward-model score is whatever the reward model over-rewards. Here are the β = 0 policy's
# completions with the highest proxy scores, and the words it uses most often, next to the SFT
# model's on the same prompts and draws.

# %%
# NBVAL_IGNORE_OUTPUT
print(HEADER)
print("\n".join(row(i) for i in proxy.argsort(descending=True)[:8].tolist()))

# %%
# NBVAL_IGNORE_OUTPUT
base, sft_ro = evaluation.evaluate(sft, reference, rm, tok, prompts)  # SFT: same prompts, same draws


def top_words(completions, n=12):
    counts = collections.Counter(w for c in completions for w in words.words(c))
    total = sum(counts.values())
    return counts, total, ", ".join(f"{w} {k / total:.1%}" for w, k in counts.most_common(n))


sft_counts, sft_total, sft_top = top_words(sft_ro.completions)
hack_counts, hack_total, hack_top = top_words(ro.completions)
print(f"SFT   ({sft_total} words): {sft_top}")
print(f"β = {BETA:g} ({hack_total} words): {hack_top}")

# %%
# NBVAL_IGNORE_OUTPUT
share = lambda counts, total, w: counts[w] / total
top5 = [w for w, _ in hack_counts.most_common(5)]
display(Markdown(
    f"With no leash (β = {BETA:g}, seed 0) the five most frequent words of the completions are "
    + ", ".join(f"“{w}” ({share(hack_counts, hack_total, w):.1%} of the words; SFT "
                f"{share(sft_counts, sft_total, w):.2%})" for w in top5)
    + f". Repetition (words that repeat an earlier word of the same completion) is {table_row['repetition']:.2f}, "
    f"against SFT's {base['repetition']:.2f}; its perplexity under the SFT model is "
    f"{table_row['ref_perplexity']:.1f}, against {base['ref_perplexity']:.1f} for SFT's own samples. The reward model "
    f"scores it {table_row['rm_score']:.2f} (SFT {base['rm_score']:.2f}), and the judge calls "
    f"{table_row['judge_positive_rate']:.0%} of it positive (SFT {base['judge_positive_rate']:.0%})."))

# %% [markdown]
# The same prompts, SFT against the β = 0 policy and the policy with the most leash, all seed 0
# and the same sampling seed:

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in corpus.RL_PROMPTS for _ in range(2)]
print(side_by_side({"SFT": sft, f"β={BETA:g}": policies[BETA], f"β={BETAS[-1]:g}": policies[BETAS[-1]]},
                   tok, story))

# %% [markdown]
# ## The sweep on three seeds
#
# RL amplifies tiny differences, and each run here is short, so one sweep is one draw. We
# evaluate all the runs the same way (same prompts, same sampling seed) and show, for each β, the
# mean over seeds 0, 1 and 2, then every run on its own.

# %%
# NBVAL_IGNORE_OUTPUT
evals = {key: evaluation.evaluate(model, reference, rm, tok, prompts) for key, (model, _) in runs.items()}
metrics = {key: m for key, (m, _) in evals.items()}
assert metrics[BETA, 0] == table_row  # the row measured by hand above
mean_rows = [{"beta": beta, **{k: sum(metrics[beta, s][k] for s in SEEDS) / len(SEEDS) for k in base}}
             for beta in BETAS]
print("Mean over seeds", ", ".join(map(str, SEEDS)))
print(evaluation.metrics_table({"SFT": base, **{f"β={r['beta']:g}": r for r in mean_rows}}))

# %%
# NBVAL_IGNORE_OUTPUT
COLUMNS = {"judge_positive_rate": "judge pos.", "rm_score": "RM score", "kl_k1": "KL (k1)", "distinct_2": "distinct-2",
           "repetition": "repetition", "ref_perplexity": "perplexity", "real_word_rate": "real words"}
print("Every run (the spread across seeds, per β)\n")
print(f"{'':<16}" + "".join(f"{label:>12}" for label in COLUMNS.values()))
print(f"{'SFT':<16}" + "".join(f"{base[k]:>12.2f}" for k in COLUMNS))
for beta in BETAS:
    print()
    for s in SEEDS:
        print(f"{f'β={beta:g}, seed {s}':<16}" + "".join(f"{metrics[beta, s][k]:>12.2f}" for k in COLUMNS))

# %%
plots.plot_beta_sweep(mean_rows)  # the seed means

# %% [markdown]
# ## Reading the sweep
#
# The sentences below are printed from the table's numbers, seed by seed, comparing the run with
# no leash (β = 0) with the run with the most (the largest β): a claim says "on every seed" only if
# it held for all three.

# %%
# NBVAL_IGNORE_OUTPUT
lo, hi = BETAS[0], BETAS[-1]


def compare(key, name, fmt=".2f"):
    a = [metrics[lo, s][key] for s in SEEDS]
    b = [metrics[hi, s][key] for s in SEEDS]
    higher, lower = sum(x > y for x, y in zip(a, b)), sum(x < y for x, y in zip(a, b))
    if higher == len(SEEDS):
        how = f"higher at β = {lo:g} than at β = {hi:g} on every seed"
    elif lower == len(SEEDS):
        how = f"lower at β = {lo:g} than at β = {hi:g} on every seed"
    else:
        how = (f"no direction holds on every seed: higher at β = {lo:g} than at β = {hi:g} on {higher}, "
               f"lower on {lower} of the {len(SEEDS)} seeds")
    rng = lambda v: f"{format(min(v), fmt)}–{format(max(v), fmt)}"
    return f"- **{name}**: {how} ({rng(a)} against {rng(b)}; SFT {format(base[key], fmt)})."


def in_order(key, falls):
    """Seeds on which the metric moves one way only (falls, or rises) at every step up in β."""
    def one_way(s):
        v = [metrics[beta, s][key] for beta in BETAS]
        return all(x >= y if falls else x <= y for x, y in zip(v, v[1:]))
    return sum(one_way(s) for s in SEEDS)


reading = [compare("kl_k1", "KL to the SFT model", ".1f"),
           compare("rm_score", "Reward-model score (the proxy)"),
           compare("judge_positive_rate", "Judge's positive rate (VADER)"),
           compare("ref_perplexity", "Perplexity under the SFT model", ".1f"),
           compare("repetition", "Repetition"),
           compare("distinct_2", "Distinct-2"),
           compare("real_word_rate", "Real-word rate")]
judged = [metrics[lo, s]["judge_positive_rate"] > metrics[hi, s]["judge_positive_rate"] for s in SEEDS]
worse = [metrics[lo, s]["ref_perplexity"] > metrics[hi, s]["ref_perplexity"]
         and metrics[lo, s]["repetition"] > metrics[hi, s]["repetition"] for s in SEEDS]
if all(judged) and all(worse):
    reading.append(f"- **The independent judge was fooled too.** On every seed VADER liked the β = {lo:g} text better "
                   f"than the β = {hi:g} text, while perplexity and repetition say it reads worse. VADER is a word "
                   "list, and the policy learned to write exactly the words a word list scores: a judge catches only "
                   "the hacks it does not share with the proxy. Here perplexity and repetition caught it.")
ORDER = {"kl_k1": ("KL", True), "rm_score": ("the proxy", True), "judge_positive_rate": ("the judge's positive rate", True),
         "ref_perplexity": ("perplexity", True), "repetition": ("repetition", True), "distinct_2": ("distinct-2", False)}
steady = [f"{name} ({'falls' if falls else 'rises'})" for key, (name, falls) in ORDER.items()
          if in_order(key, falls) == len(SEEDS)]
unsteady = [name for key, (name, falls) in ORDER.items() if in_order(key, falls) < len(SEEDS)]
step = f"- **Step by step** through β = {', '.join(f'{b:g}' for b in BETAS)}: "
step += (f"{', '.join(steady)} move{'s' if len(steady) == 1 else ''} one way at every step on every seed"
         if steady else "no measure moves one way at every step on every seed")
if unsteady:
    step += (f"; {', '.join(unsteady)} do{'es' if len(unsteady) == 1 else ''} not, so for "
             f"{'it' if len(unsteady) == 1 else 'those'} read the ends of the sweep, not its small steps.")
reading.append(step + ("" if unsteady else "."))
display(Markdown("\n".join(reading)))

# %%
# NBVAL_IGNORE_OUTPUT
if stages.full_size():  # checks on training results, on every seed; skipped at test size
    for s in SEEDS:
        assert metrics[lo, s]["kl_k1"] > metrics[hi, s]["kl_k1"], "less leash should mean more KL"
        assert metrics[lo, s]["rm_score"] > base["rm_score"]

# %% [markdown]
# ## What the text looks like at each β
#
# Seed 0, the first four completions of the sweep's evaluation for each β (the same prompts and
# draws for every β).

# %%
# NBVAL_IGNORE_OUTPUT
for beta in BETAS:
    beta_ro = evals[beta, 0][1]
    print(f"--- β = {beta:g}")
    for p, c in zip(beta_ro.texts[:8:2], beta_ro.completions[:8:2]):
        print(f"   {p[:len(p) - len(c)]} {SEPARATOR}{c}".replace("\n", " ")[:190])

# %% [markdown]
# ## Try it: one β at a time
#
# Pick a β of the sweep. The explorer samples fresh completions from that β's policy (seed 0 of
# the training; the "sample seed" slider draws other completions), shows each one's reward-model
# score, VADER score and KL to the SFT model, and circles where that β sits on seed 0's frontier:
# proxy and judge (VADER's mean compound) against KL, from seed 0's evaluation. Read the samples at
# β = 0 and at the largest β one after the other: the numbers say "more reward", the text says
# what the reward bought.
#
# The widget needs a running kernel; without one (on GitHub, say) the cell after it shows the
# starting state.

# %%
# NBVAL_IGNORE_OUTPUT
from rlhf_edu import explore, widgets

rows = [{"beta": beta, **metrics[beta, 0]} for beta in BETAS]  # seed 0's evaluation
widgets.beta_widget(policies, rows, reference, rm, tok, prompts[:6], judge=judge.vader_compound, beta=BETAS[0])

# %%
# NBVAL_IGNORE_OUTPUT
print(explore.beta_text(rows, BETAS[0], explore.beta_samples(policies[BETAS[0]], reference, rm, tok, prompts[:6],
                                                                 judge=judge.vader_compound)))
explore.plot_frontier(rows, BETAS[0])

# %% [markdown]
# ## Summary
#
# - The reward model is a proxy; pushed without a leash, a policy exploits it.
# - The KL penalty trades some proxy reward for staying close to a model that writes well.
# - Always judge an RLHF run with something it was not trained on, read its text, and watch KL and
#   diversity; and read an RL result only across seeds.
