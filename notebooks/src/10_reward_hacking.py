# %% [markdown]
# # 10 · Reward hacking, and the KL leash
#
# **What you will learn.** The reward model is a *proxy* for what people want, and a policy
# optimised hard against a proxy finds its blind spots. The KL penalty (β times the KL to the SFT
# model, notebooks 05 and 09) is the leash that keeps the policy near text that reads well. We run
# notebook 09's PPO recipe with several values of β, from β = 0 (no leash) up, and compare four
# things: the proxy (the reward-model score), an independent judge (VADER), the KL, and the text
# itself. First we measure one point of the sweep by hand, completion by completion, and check it
# against the package's evaluation; then we look at what the policy wrote with no leash; then we
# repeat the whole sweep with three seeds and read only what holds for all three.
#
# **What you need first.** Notebook 05 (the KL penalty), notebook 07 (the reward model and the
# judge) and notebook 09 (PPO). The SFT model and the reward model of notebooks 06 and 07 are
# loaded from the cache (without them they are trained first, which takes longer).
#
# **How long.** A cell below the imports prints two times measured by the build at full size on
# a 2-core CPU: from an empty cache (this notebook then first trains the models of notebooks 06 and 07,
# then every run of the sweep, notebook 09's included) and with every stage cached (it only loads and
# evaluates). Training cells show a progress bar while they train.

# %%
%matplotlib inline
import collections
import dataclasses
import math

import torch
from IPython.display import Markdown, display

from rlhf_edu import formulas, plots, show, stages, words
from rlhf_edu import rl as prl  # `rl` below is the task's RL settings
from rlhf_edu.evaluation import SEPARATOR, side_by_side
from rlhf_edu.model import frozen_copy, response_logprobs
from rlhf_edu.rollout import collect_rollout
from rlhf_edu.sentiment import corpus, evaluation, judge, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())

# %%
# NBVAL_IGNORE_OUTPUT
print(show.build_times("10"))  # filled in by tools/build_notebooks.py

# %% [markdown]
# ## The sweep's settings
#
# Every β gets notebook 09's PPO recipe (`ppo.train_ppo`) at settings whose updates stay inside the
# healthy ranges of clip fraction and approx-KL (notebook 09, `docs/ppo-checklist.md`): a sweep run
# hotter than that would mix two effects, a looser leash and an optimiser that overshoots. The last
# lines below list every setting that differs from notebook 09's run. Only β differs between the runs
# of one seed; the `beta` printed below is the config's default, which each run replaces. Where β
# equals notebook 09's, the run *is* notebook 09's (the same cached stage).

# %%
# NBVAL_IGNORE_OUTPUT
rl = pipeline.rl_setup()
BETAS, SWEEP, SEEDS = rl.sweep_betas, rl.sweep, (0, 1, 2)
print("betas:", BETAS)
print(show.settings(SWEEP, "sweep settings (PPOConfig)"))
print("\nnotebook 09's run -> this sweep:")
changed = [f.name for f in dataclasses.fields(SWEEP) if getattr(rl.ppo, f.name) != getattr(SWEEP, f.name)]
for name in changed:
    print(f"  {name:<10} {getattr(rl.ppo, name)!r} -> {getattr(SWEEP, name)!r}")
if not changed:
    print("  (none: the same settings; each run changes only β and the seed)")

# %% [markdown]
# Each (β, seed) pair is its own cached stage, keyed by its settings:
# `pipeline.ppo_policy(cfg=dataclasses.replace(SWEEP, beta=β, seed=s))`. The first time, this cell
# trains them all; after that it loads them. Seed 0 is the configuration's own seed, the one the
# measurements by hand and the samples use.

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
reference = frozen_copy(sft)
prompt_sets = pipeline.prompt_sets()
prompts = prompt_sets["held-out"]  # the headline: openers RL never sampled from (notebook 09)
runs = {(beta, seed): pipeline.ppo_policy(cfg=dataclasses.replace(SWEEP, beta=beta, seed=seed))
        for seed in SEEDS for beta in BETAS}
policies = {beta: runs[beta, 0][0] for beta in BETAS}  # seed 0
train_seconds = sum(log["seconds"] for _, history in runs.values() for log in history)
print(f"{len(runs)} PPO runs ({len(BETAS)} betas x {len(SEEDS)} seeds); training them took "
      f"{train_seconds:.0f} s in all (wall-clock from their logs, so it depends on the machine's load; "
      f"the first time only: they are cached now)")
healthy = {key: all(v["healthy"] for v in prl.health(history, SWEEP.iterations).values())
           for key, (_, history) in runs.items()}
worst = {k: max(prl.health(h, SWEEP.iterations)[k]["max"] for _, h in runs.values()) for k in prl.HEALTHY_MAX}
print(f"inside the healthy ranges (notebook 09): {sum(healthy.values())} of {len(runs)} runs; the largest clip fraction "
      f"of any iteration {worst['clip_frac']:.3f}, the largest approx-KL {worst['approx_kl']:.3f}")
for key, ok in healthy.items():
    if not ok:
        print(f"  β = {key[0]:g}, seed {key[1]}: " + prl.health_report(runs[key][1], SWEEP.iterations))

# %% [markdown]
# ## One point of the frontier, by hand
#
# The sweep's tables (further down) are built from averages over completions sampled from the
# trained policy for the held-out prompts (openers no training tweet starts with, notebook 09):
# `evaluation.evaluate` draws 4 completions per prompt
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
real_tokens = mask.sum().item()
kl_per_token = kl.sum().item() / real_tokens                  # k1 per token
surprisal = -(logp * mask).sum().item() / real_tokens         # the policy's own, per token
assert abs(math.log(table_row["ref_perplexity"]) - (kl_per_token + surprisal)) < 1e-3
top5 = [w for w, _ in hack_counts.most_common(5)]
display(Markdown(
    f"With no leash (β = {BETA:g}, seed 0) the five most frequent words of the completions are "
    + ", ".join(f"“{w}” ({share(hack_counts, hack_total, w):.1%} of the words; SFT "
                f"{share(sft_counts, sft_total, w):.2%})" for w in top5)
    + f". Repetition (words that repeat an earlier word of the same completion) is {table_row['repetition']:.2f}, "
    f"against SFT's {base['repetition']:.2f}; distinct-2 (the share of word pairs that are new) is "
    f"{table_row['distinct_2']:.2f}, against {base['distinct_2']:.2f}. The reward model scores it "
    f"{table_row['rm_score']:.2f} (SFT {base['rm_score']:.2f}), and the judge calls "
    f"{table_row['judge_positive_rate']:.0%} of it positive (SFT {base['judge_positive_rate']:.0%}). (Its perplexity "
    f"under the SFT model, {table_row['ref_perplexity']:.1f} against {base['ref_perplexity']:.1f}, is no separate "
    f"evidence: its log is the per-token KL, {kl_per_token:.2f} nats, plus the policy's own per-token surprisal, "
    f"{surprisal:.2f}, so it rises with the KL and falls as the text grows repetitive.)"))

# %% [markdown]
# Is that score earned? Real positive tweets are what the reward model was trained to rank high.
# If it scores the policy's text above them, it is rewarding something real tweets do not have:
# the proxy, not positivity, is being optimised. Every text here is scored the same way:
# `score_texts` encodes each text afresh and ends it with an end-of-text token. The rollout's scores
# above read the sampled tokens, which can split words differently and have no end token when a
# completion hit the length limit, so the two differ slightly.

# %%
# NBVAL_IGNORE_OUTPUT
real_positive = [t.text for t in pipeline.corpus()["test"] if t.label == corpus.POS]
real_scores = rm.score_texts(tok, real_positive)
hack_scores = rm.score_texts(tok, ro.texts)   # prompt + completion, scored the same way
sft_scores = rm.score_texts(tok, sft_ro.texts)
above = (hack_scores > real_scores.median()).float().mean().item()
limit = rl.max_new_tokens
print(f"{int((ro.lengths == limit).sum())} of the {len(ro.texts)} β = {BETA:g} completions hit the {limit}-token limit")
real_vader = judge.vader_compound(real_positive)
print(f"VADER mean compound: real positive tweets {real_vader.mean():.2f}, β = {BETA:g} texts {compound.mean():.2f}")
print("reward-model score, mean (median):")
print(f"  {len(real_positive)} real positive test tweets   {real_scores.mean():6.2f} ({real_scores.median():.2f})")
print(f"  SFT completions                   {sft_scores.mean():6.2f} ({sft_scores.median():.2f})")
print(f"  β = {BETA:g} completions (seed 0)      {hack_scores.mean():6.2f} ({hack_scores.median():.2f})")
print(f"share of the β = {BETA:g} texts scored above the median real positive tweet: {above:.0%}")

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"The reward model scores the β = {BETA:g} policy's texts at {hack_scores.mean():.2f} on average, "
    + (f"**above** the real positive tweets' {real_scores.mean():.2f}: {above:.0%} of them beat the median real "
       f"positive tweet. The text repeats a few words (repetition {table_row['repetition']:.2f}, SFT "
       f"{base['repetition']:.2f}), and the reward model ranks that above real positive tweets: the surplus pays for "
       f"repeated positive words, not for better tweets (VADER, a word list, is fooled the same way: "
       f"{compound.mean():.2f} against {real_vader.mean():.2f})." if hack_scores.mean() > real_scores.mean() else
       f"below the real positive tweets' {real_scores.mean():.2f}: on this measure the reward model is not yet "
       f"rating the policy's text above real positive tweets.")))

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
# RL amplifies tiny differences, so one sweep is one draw. We
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
# ## Did each run improve its own objective?
#
# PPO at a given β maximises the KL-regularised objective, the reward-model score minus β times the
# KL to the SFT model, on its training prompts. For the SFT model the objective is just its
# reward-model score (its KL to itself is 0), so every run should end above SFT. A run that ends
# *below* the model it started from, on the very objective it maximises, did not trade reward for KL:
# its optimiser overshot. We measure the objective on 37 prompts drawn from the pool it trained on,
# with the same sampling seed for every model.

# %%
# NBVAL_IGNORE_OUTPUT
on_training = {key: evaluation.evaluate(model, reference, rm, tok, prompt_sets["training"])[0]
               for key, (model, _) in runs.items()}
sft_on_training, _ = evaluation.evaluate(sft, reference, rm, tok, prompt_sets["training"])
objective = {(beta, s): m["rm_score"] - beta * m["kl_k1"] for (beta, s), m in on_training.items()}
sft_objective = sft_on_training["rm_score"]  # minus beta x 0
print(f"score - β x KL on {len(prompt_sets['training'])} training prompts (4 samples each); SFT: {sft_objective:.2f}\n")
print(f"{'β':>6} " + "".join(f"{'seed ' + str(s):>9}" for s in SEEDS) + f"{'spread':>9}{'min - SFT':>11}")
for beta in BETAS:
    vals = [objective[beta, s] for s in SEEDS]
    print(f"{beta:>6g} " + "".join(f"{v:9.2f}" for v in vals) + f"{max(vals) - min(vals):9.2f}"
          f"{min(vals) - sft_objective:+11.2f}")

# %%
# NBVAL_IGNORE_OUTPUT
below = [(beta, s) for (beta, s), v in objective.items() if v < sft_objective]
margins = {beta: min(objective[beta, s] for s in SEEDS) - sft_objective for beta in BETAS}
if not below:
    text = (f"Every run ended above the SFT model on its own objective, on every seed: the smallest margin is "
            f"{min(margins.values()):+.2f} (β = {min(margins, key=margins.get):g}). So no run shows the clearest sign "
            "of an overshooting optimiser, ending below its starting point on the objective it maximises.")
else:
    text = ("These runs ended **below** the SFT model on the objective they maximise: "
            + ", ".join(f"β = {b:g}, seed {s} ({objective[b, s] - sft_objective:+.2f})" for b, s in below)
            + ". That is not a trade-off between reward and KL: the optimiser moved the policy further than its "
            "objective wanted (over-optimisation of the optimiser). Read those runs as failures, not as points "
            "of the frontier.")
display(Markdown(text))
if stages.full_size():  # healthy settings: no run may end below the model it started from
    assert not below, below

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
worse = [metrics[lo, s]["distinct_2"] < metrics[hi, s]["distinct_2"]
         and metrics[lo, s]["repetition"] > metrics[hi, s]["repetition"] for s in SEEDS]
if all(judged) and all(worse):
    reading.append(f"- **The independent judge was fooled too.** On every seed VADER liked the β = {lo:g} text better "
                   f"than the β = {hi:g} text, while repetition and distinct-2 say it repeats itself more. VADER is a "
                   "word list, and the policy learned to write exactly the words a word list scores: a judge catches "
                   "only the hacks it does not share with the proxy. Here repetition and distinct-2 caught it, and the "
                   "text itself (below).")
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

# %% [markdown]
# ## Exercises
#
# Fill in each function, then run the check cell under it. The check runs your function on the story's
# numbers, random batches and edge cases, compares it with the package's own code, and prints ✓ per
# case or the first failing case with a hint. Until you fill it in, it says "not done yet". Stuck? The
# reference solutions are in `rlhf_edu/exercises/solutions.py`.

# %%
from rlhf_edu.exercises import check

# %% [markdown]
# ### Exercise 1: The KL-regularised objective
#
# Every run of the β sweep maximises the same objective, each with its own β: the expected reward
# minus β times the KL to the reference. On a small set of $K$ answers (the last axis) it can be
# computed exactly. Write `kl_regularised_objective(policy_probs, ref_probs, rewards, beta)`:
# $J(\pi) = \sum_y \pi(y)\,r(y) - \beta \sum_y \pi(y) \log\frac{\pi(y)}{\pi_{\text{ref}}(y)}$, with
# $0 \log 0 = 0$ (an answer the policy never gives adds nothing to the KL). β is the exchange rate
# between reward and drift: a hacked policy buys its reward with a KL that a larger β makes too
# expensive.

# %%
def kl_regularised_objective(policy_probs, ref_probs, rewards, beta):
    """policy_probs, ref_probs, rewards: (..., K) over K answers, beta: float -> (...,) objective"""
    raise NotImplementedError  # your code here

# %%
check.kl_regularised_objective(kl_regularised_objective)

# %% [markdown]
# ### Exercise 2: The policy the objective wants
#
# The KL-regularised objective has a closed-form maximiser:
# $\pi^*(y) = \pi_{\text{ref}}(y)\, e^{r(y)/\beta} / Z$ with
# $Z = \sum_y \pi_{\text{ref}}(y)\, e^{r(y)/\beta}$. Write `optimal_policy(ref_probs, rewards, beta)`
# over the last axis. It shows the sweep without any training: a large β keeps $\pi^*$ at
# $\pi_{\text{ref}}$, a small one piles everything on the top-reward answer (and DPO, notebook 12, is
# built on this formula). It must stay finite when $r/\beta$ is in the thousands: work with
# $\log\pi_{\text{ref}} + r/\beta$.

# %%
def optimal_policy(ref_probs, rewards, beta):
    """ref_probs, rewards: (..., K) over K answers, beta: float > 0 -> (..., K) the optimal policy"""
    raise NotImplementedError  # your code here

# %%
check.optimal_policy(optimal_policy)
