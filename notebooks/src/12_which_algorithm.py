# %% [markdown]
# # 12 · Which algorithm buys what
#
# **What you will learn.** PPO is not the only way from an SFT model to a preferred one, and the
# methods people meet first today are DPO, GRPO and RLOO. Here all of them, and the plain
# policy-gradient loop of notebook 08, start from the *same* SFT model, learn from the *same* reward
# model (or, for DPO, from the same preference pairs the reward model learned from), and are judged by
# the *same* independent judge, under the *same* budget. First the three new losses by hand, on
# numbers small enough to check with a pencil; then every algorithm for a few values of its KL
# strength β and three seeds; then what each one buys (the judge), what it costs (KL to the SFT
# model, seconds, sampled tokens) and where it games the reward model.
#
# **What you need first.** Notebooks 08 (policy gradient), 09 (PPO) and 10 (reward hacking, the β
# sweep); notebooks 06 and 07, whose SFT model and reward model this notebook loads from the cache.
#
# **How long.** About 6½ minutes at full size on a 2-core CPU: 380 s measured with
# `tools/build_notebooks.py` on a machine shared with other jobs, from the cached SFT model and reward
# model of notebooks 06 and 07, including training the comparison's 25 runs. Once those runs are
# cached, the notebook only evaluates them.

# %%
%matplotlib inline
import math

import torch
from IPython.display import Markdown, display

from rlhf_edu import dpo, grpo, plots, ppo, rloo, show, stages
from rlhf_edu.evaluation import side_by_side
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import compare, corpus, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
rl = pipeline.rl_setup()
print(f"on-policy iterations per run: {rl.compare_iterations}")
print("betas:", {compare.NAMES[k]: v for k, v in rl.compare_betas.items()})

# %% [markdown]
# ## Three new losses, by hand
#
# ### DPO: the reward model's loss, with the policy as the reward model
#
# DPO (Rafailov et al., 2023, equation 7) never samples and never calls a reward model. For a pair
# (chosen $y_w$, rejected $y_l$) of answers to the same prompt it takes each answer's *sequence*
# log-probability, the sum over its tokens, under the policy and under the frozen SFT model, and
# calls $\beta\,(\log\pi(y) - \log\pi_{\text{ref}}(y))$ the **implicit reward**. The loss is the
# Bradley–Terry loss of notebook 02 on those two rewards:
# $-\log\sigma\big(\beta[(\log\pi(y_w) - \log\pi_{\text{ref}}(y_w)) - (\log\pi(y_l) - \log\pi_{\text{ref}}(y_l))]\big)$.
#
# Two pairs, β = 0.3. In the first, the policy made the chosen answer more likely than the SFT model
# did and the rejected one less likely. In the second, it made *both* less likely, the rejected one
# much more so.

# %%
beta = 0.3
pi_w, pi_l = torch.tensor([-12.0, -13.0]), torch.tensor([-15.0, -17.0])    # log pi(y_w), log pi(y_l)
ref_w, ref_l = torch.tensor([-12.5, -12.5]), torch.tensor([-14.0, -14.0])  # log pi_ref(y_w), log pi_ref(y_l)
losses, r_w, r_l = dpo.dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
for i in range(2):
    rw, rj = beta * (pi_w[i].item() - ref_w[i].item()), beta * (pi_l[i].item() - ref_l[i].item())
    by_hand = math.log(1 + math.exp(-(rw - rj)))  # -log sigma(m) = log(1 + e^-m)
    print(f"pair {i}: implicit rewards {rw:+.2f} (chosen) and {rj:+.2f} (rejected), margin {rw - rj:.2f}, "
          f"loss by hand {by_hand:.4f}, dpo.dpo_loss {losses[i].item():.4f}")
    assert abs(by_hand - losses[i].item()) < 1e-6 and abs(rw - r_w[i].item()) < 1e-6
assert losses[1] < losses[0]  # the second pair costs less, though its chosen answer became less likely

# %% [markdown]
# The second pair has the *lower* loss, although its chosen answer became less likely than under the
# SFT model: the loss sees only the difference of the two log-ratios. Nothing in it asks the chosen
# answer to become more likely, only more likely *relative to the rejected one*. We will look for
# this in the real run below.

# %%
show.source(dpo.dpo_loss)

# %% [markdown]
# ### GRPO: the group is the baseline
#
# GRPO (Shao et al., 2024) samples G completions of each prompt and scores each against its own
# group: $A_i = (r_i - \mathrm{mean}(r)) / (\mathrm{std}(r) + \epsilon)$, the same number at every
# token of completion $i$. No value network: PPO's value head (notebook 09) learned to predict how
# good a prompt's completions usually are; GRPO measures it, with G samples. Two groups of G = 4:

# %%
scores = torch.tensor([1.0, 0.0, 2.0, 1.0,     # group 1: one prompt's four completions
                       0.5, 0.5, 0.5, 0.5])    # group 2: four completions the reward model scores alike
G, eps = 4, 1e-4
adv = grpo.group_advantages(scores, G, eps)
g1 = scores[:4].tolist()
mean = sum(g1) / 4
std = math.sqrt(sum((r - mean) ** 2 for r in g1) / 4)  # the group's own spread (population std)
by_hand = [(r - mean) / (std + eps) for r in g1] + [0.0] * 4
print(f"group 1: mean {mean}, std {std:.4f}")
print("by hand:          ", " ".join(f"{a:+.4f}" for a in by_hand))
print("grpo.group_advantages:", " ".join(f"{a:+.4f}" for a in adv.tolist()))
assert torch.allclose(adv, torch.tensor(by_hand), atol=1e-6)
assert torch.equal(adv[4:], torch.zeros(4))  # a constant group: exactly 0, never 0/0
assert abs(adv[:4].sum().item()) < 1e-6       # each group's advantages sum to 0

# %% [markdown]
# A group whose completions all score alike teaches nothing: its advantages are exactly 0, so its
# completions add no gradient (only the KL term of GRPO's loss still acts on them). In GRPO, unlike
# PPO, the KL to the reference is a term of the *loss* (the k3 estimate of notebook 05, per token), not
# a part of the reward, so it does not enter the advantage.
#
# ### RLOO: each completion against the others of its prompt
#
# RLOO (Ahmadian et al., 2024) is the policy-gradient loop of notebook 08 with k completions per
# prompt and a better baseline: completion $i$'s reward $R_i = r_i - \beta\,\mathrm{KL}_i$ (KL in the
# reward, as in notebook 08) minus the mean reward of the *other* k − 1 completions of the same prompt.
# That baseline does not depend on completion $i$, so the gradient stays unbiased (notebook 08 showed
# what the batch mean, which does, costs). Same scores as GRPO's first group, with KLs, β = 0.1:

# %%
k, beta_rloo = 4, 0.1
r = torch.tensor([1.0, 0.0, 2.0, 1.0])
kl = torch.tensor([2.0, 1.0, 4.0, 0.0])                # KL to the reference of each completion, nats
R = [ri - beta_rloo * ki for ri, ki in zip(r.tolist(), kl.tolist())]
by_hand = [R[i] - sum(R[j] for j in range(k) if j != i) / (k - 1) for i in range(k)]
adv = rloo.rloo_advantages(r, kl, beta_rloo, k)
print("rewards R = r - beta KL:", " ".join(f"{x:+.4f}" for x in R))
print("by hand:               ", " ".join(f"{x:+.4f}" for x in by_hand))
print("rloo.rloo_advantages:  ", " ".join(f"{x:+.4f}" for x in adv.tolist()))
assert torch.allclose(adv, torch.tensor(by_hand), atol=1e-6)
assert torch.equal(adv, ppo.leave_one_out(r - beta_rloo * kl, k))  # PPO's leave-one-out baseline, reused
mean_R = sum(R) / k
assert all(abs(a - k / (k - 1) * (x - mean_R)) < 1e-6 for a, x in zip(by_hand, R))

# %% [markdown]
# The last line checks an identity worth knowing: $R_i - \frac{1}{k-1}\sum_{j\ne i} R_j =
# \frac{k}{k-1}(R_i - \bar R)$. The leave-one-out advantage is the group-mean advantage scaled by
# $k/(k-1)$: the same direction as GRPO's numerator, but not divided by the group's spread, and with
# the KL inside. The completion with the highest score (2.0) also drifted most (KL 4), and pays for it.
#
# ## One budget for all
#
# A comparison is fair only if every method gets the same data. The on-policy methods (PPO, the
# policy-gradient loop, RLOO, GRPO) all sample the same number of completions. DPO samples none: it
# reads as many preference pairs as the reward model was trained on, in as many steps of the same
# size, taken from the reward model's own training pairs (the reward model drew its batches at
# random, with repeats; DPO reads the first pairs once each). So DPO learns from the same kind and
# amount of comparisons as the reward model. Everything else is each
# algorithm's default: its learning rate, epochs, group size, clip. To fit three seeds and a β sweep
# of five algorithms into a few minutes of CPU, the on-policy runs here are shorter than the
# defaults of notebooks 08 and 09 and of `rlhf-edu sentiment --algo`, which sample more completions
# (printed below).

# %%
# NBVAL_IGNORE_OUTPUT
budgets = compare.check_setup(rl)  # raises ValueError if the budgets differ
for kind, text in budgets.items():
    print(f"{compare.NAMES[kind]:<16} {text}")
print(f"(the defaults, for scale: PPO {rl.ppo.iterations} x {rl.ppo.batch_size} = "
      f"{compare.sampled_completions('ppo', rl.ppo)} completions; DPO one pass over {rl.rm_pairs} pairs)")

# %% [markdown]
# ## Every algorithm, three seeds, a β sweep
#
# Each algorithm runs at each β of its sweep with seed 0, and at its default β with seeds 1 and 2 too.
# Every run is a cached stage, like every model so far: `compare.compare` trains what is missing and
# evaluates everything on the held-out prompts with one sampling seed, as `rlhf-edu compare` does.

# %%
# NBVAL_IGNORE_OUTPUT
runs = compare.compare(rl=rl, progress=False)
sft_run = runs[0]
used = compare.budgets(runs)  # counted from each run's log: completions sampled, or pairs read
print({compare.NAMES[k]: sorted(v) for k, v in used.items()})
on_policy = {n for k in compare.ON_POLICY for n in used[k]}
assert len(on_policy) == 1, f"unequal numbers of sampled completions: {used}"
assert used["dpo"] == {compare.dpo_pairs(rl)} == {rl.rm.steps * rl.rm.batch_size}
assert all(r.tokens == 0 for r in runs if r.kind == "dpo")  # DPO samples nothing

# %% [markdown]
# ## The table
#
# One row per run. *judge*: VADER's positive rate, our independent judge; *RM score*: the reward
# model's (calibrated) score, the proxy the on-policy methods maximise; *KL*: to the SFT model, nats
# per completion; *perplexity*: of the completions under the SFT model; *real words*: share of words
# that occur in the training tweets; *seconds*: training time from the run's log; *tokens*: response
# tokens sampled to train.

# %%
# NBVAL_IGNORE_OUTPUT
print(compare.table(runs))

# %%
# NBVAL_IGNORE_OUTPUT
print(compare.spread_table(runs, rl))

# %%
plots.plot_algorithm_frontiers(compare.frontier_points(runs, rl))

# %% [markdown]
# Each line joins one algorithm's seed-0 runs in order of KL, each point labelled with its β; the
# open circles are seeds 1 and 2 at the default β. Up and to the left is better: more
# judged-positive text for less drift from the SFT model.

# %% [markdown]
# **At equal KL.** Read off each line (seed 0, linear between two β) at KLs that every line reaches:

# %%
# NBVAL_IGNORE_OUTPUT
at_kl = compare.judge_at_equal_kl(runs)
print(f"{'KL':>6}" + "".join(f"{compare.NAMES[k]:>17}" for k in compare.NAMES))
for kl, at in at_kl.items():
    print(f"{kl:6.2f}" + "".join(f"{at[k]:17.3f}" for k in compare.NAMES))

# %%
# NBVAL_IGNORE_OUTPUT
judge_spread = compare.spread(runs, rl, "judge_positive_rate")
noise = max(hi - lo for _, lo, hi in judge_spread.values())  # the widest seed spread of the judge
sft_judge = sft_run.metrics["judge_positive_rate"]


def names(kinds):
    return ", ".join(compare.NAMES[k] for k in kinds)


def ranking(kl, at):
    """'at KL 4.0: DPO highest (0.91); ... within the spread; ... behind by more (...)', from the numbers."""
    ranked = sorted(at, key=at.get, reverse=True)
    best, rest = ranked[0], ranked[1:]
    tied = [k for k in rest if at[best] - at[k] <= noise]
    behind = [k for k in rest if at[best] - at[k] > noise]
    text = f"- at KL {kl:.1f}: {compare.NAMES[best]} highest ({at[best]:.2f})"
    if tied:
        text += f"; {names(tied)} within {noise:.2f} of it ({', '.join(f'{at[k]:.2f}' for k in tied)})"
    if behind:
        text += f"; {names(behind)} behind by more ({', '.join(f'{at[k]:.2f}' for k in behind)})"
    return text + "."


lines = []
if not at_kl:
    lines.append("The lines share no range of KL, so no two algorithms can be compared at equal KL here.")
else:
    lines.append(
        f"**Who wins at equal KL** (SFT: judge {sft_judge:.2f} at KL 0). The widest spread of the judge over the "
        f"three seeds at a default β is {noise:.2f}, so a gap smaller than that is not a ranking:\n\n"
        + "\n".join(ranking(kl, at) for kl, at in at_kl.items()))
    top_kl, top = list(at_kl.items())[-1]
    if max(top.values()) - min(top.values()) <= noise:
        lines.append(f"At KL {top_kl:.1f} all are within the seeds' spread of each other ({min(top.values()):.2f}–"
                     f"{max(top.values()):.2f}): that far from the start the judge no longer tells them apart.")
lo = {k: min(r.metrics["judge_positive_rate"] for r in rs) for k, rs in compare.defaults(runs, rl).items()}
kl_hi = {k: max(r.metrics["kl_k1"] for r in rs) for k, rs in compare.defaults(runs, rl).items()}
beat = [k for k in lo if lo[k] > sft_judge and kl_hi[k] <= 10]
missed = [k for k in lo if k not in beat]
lines.append(
    "**Against the SFT start.** At its default β, "
    + ("every algorithm" if not missed else names(beat) or "no algorithm")
    + f" beat the SFT model's {sft_judge:.2f} on every seed at a KL of at most 10 nats"
    + ("." if not missed else
       f". {names(missed)}: judge at least {', '.join(f'{lo[k]:.2f}' for k in missed)} over the seeds, "
       f"KL up to {', '.join(f'{kl_hi[k]:.1f}' for k in missed)} (table above)."))
display(Markdown("\n\n".join(lines)))

# %% [markdown]
# ## What each costs
#
# Wall-clock seconds and sampled tokens come from each run's own log (the *seconds* and *tokens*
# columns; the seconds are this machine's, shared with other jobs, so read them to the nearest few).
# The on-policy methods pay for generation: every completion is sampled token by token and scored by
# the reward model before any update. DPO samples nothing; it pays for a forward and backward pass of
# the policy and a forward pass of the SFT model over both tweets of every pair.

# %%
# NBVAL_IGNORE_OUTPUT
cost = {}
for kind in compare.NAMES:  # the median of an algorithm's runs: a machine stall during one run barely moves it
    rs = [r for r in runs if r.kind == kind]
    cost[kind] = (sorted(r.seconds for r in rs)[len(rs) // 2], sorted(r.tokens for r in rs)[len(rs) // 2])
    print(f"{compare.NAMES[kind]:<16} median of {len(rs)} runs: {cost[kind][0]:5.1f} s, {cost[kind][1]:6d} sampled tokens")

# %%
# NBVAL_IGNORE_OUTPUT
by_time = sorted(cost, key=lambda k: cost[k][0])
epochs = (f"PPO and GRPO make {rl.ppo.ppo_epochs} passes" if rl.ppo.ppo_epochs == rl.grpo.epochs else
          f"PPO makes {rl.ppo.ppo_epochs} passes and GRPO {rl.grpo.epochs}")
display(Markdown(
    "From cheapest to dearest per run (medians): " + ", ".join(f"{compare.NAMES[k]} {cost[k][0]:.0f} s" for k in by_time)
    + f". The policy-gradient loop and RLOO take one gradient step per batch of samples; {epochs} of minibatches "
    f"over each batch, so they spend more on updates for the same samples. DPO sampled no token: its "
    f"{rl.rm.steps} steps each run the policy and the SFT model over {2 * rl.rm.batch_size} whole tweets."))

# %% [markdown]
# ## Side by side, for the story's prompts
#
# Seed 0 at each algorithm's default β, same prompts, same sampling seed.

# %%
# NBVAL_IGNORE_OUTPUT
models = {"SFT": sft_run.model, **{compare.NAMES[k]: rs[0].model for k, rs in compare.defaults(runs, rl).items()}}
tok = pipeline.tokenizer()
print(side_by_side(models, tok, list(corpus.RL_PROMPTS)))

# %% [markdown]
# ## What DPO does without sampling
#
# DPO never saw a completion of its own, and never saw the reward model: its row's *RM score* is the
# reward model's opinion of a policy that was not trained on it. Its log shows what the loss did to
# the pairs: the implicit rewards of the chosen and the rejected tweets (β × log-ratio to the SFT
# model, on each step's batch) and their margin.

# %%
dpo_default = compare.defaults(runs, rl)["dpo"]
plots.plot_rl_history(dpo_default[0].history, ("chosen_reward", "rejected_reward", "margin"),
                      f"DPO, seed 0, β = {rl.dpo.beta:g}: one point per step of {rl.rm.batch_size} pairs")

# %%
# NBVAL_IGNORE_OUTPUT
reference = frozen_copy(sft_run.model)
pairs = pipeline.train_pairs(rl=rl)[:compare.dpo_pairs(rl)]
shift = {r.seed: compare.dpo_logprobs(r.model, reference, tok, pairs[:512]) for r in dpo_default}
for seed, v in shift.items():
    print(f"seed {seed}: mean log pi(chosen) {v['reference_chosen']:.2f} -> {v['policy_chosen']:.2f}, "
          f"mean log pi(rejected) {v['reference_rejected']:.2f} -> {v['policy_rejected']:.2f}  (SFT -> DPO)")

# %%
# NBVAL_IGNORE_OUTPUT
fell = [s for s, v in shift.items() if v["policy_chosen"] < v["reference_chosen"]
        and v["policy_rejected"] < v["reference_rejected"]]
gap = {s: (v["policy_chosen"] - v["policy_rejected"]) - (v["reference_chosen"] - v["reference_rejected"])
       for s, v in shift.items()}
d = {k: compare.spread(runs, rl, k)["dpo"] for k in ("judge_positive_rate", "rm_score", "kl_k1", "length")}
rm_means = {k: compare.spread(runs, rl, "rm_score")[k][0] for k in compare.ON_POLICY}
low, high = min(rm_means, key=rm_means.get), max(rm_means, key=rm_means.get)
drop_w = [v["reference_chosen"] - v["policy_chosen"] for v in shift.values()]
drop_l = [v["reference_rejected"] - v["policy_rejected"] for v in shift.values()]
display(Markdown(
    f"On the first 512 of its training pairs, DPO widened the gap between chosen and rejected log-probabilities "
    f"by {min(gap.values()):.1f}–{max(gap.values()):.1f} nats over the seeds. "
    + (f"On every seed **both fell**: the chosen tweets by {min(drop_w):.1f}–{max(drop_w):.1f} nats, the rejected "
       f"ones by {min(drop_l):.1f}–{max(drop_l):.1f}. The chosen tweets became *less* likely than under the SFT "
       f"model: the loss rewards the difference, not the chosen answer itself (the second pair by hand above). "
       if len(fell) == len(shift) else
       f"Both fell on seed{'s' if len(fell) != 1 else ''} {', '.join(map(str, fell))} only. " if fell else
       "The chosen log-probability did not fall on any seed. ")
    + f"Without sampling, DPO still moved the policy's *own* samples: over the seeds its judge's positive rate was "
    f"{d['judge_positive_rate'][1]:.2f}–{d['judge_positive_rate'][2]:.2f} at KL {d['kl_k1'][1]:.1f}–{d['kl_k1'][2]:.1f} "
    f"(SFT: {sft_judge:.2f}), with a reward-model score of {d['rm_score'][1]:.2f}–{d['rm_score'][2]:.2f}; the "
    f"on-policy methods, which maximised that score, reached seed means from {rm_means[low]:.2f} "
    f"({compare.NAMES[low]}) to {rm_means[high]:.2f} ({compare.NAMES[high]}). DPO's completions averaged "
    f"{d['length'][1]:.1f}–{d['length'][2]:.1f} tokens (SFT: {sft_run.metrics['length']:.1f}). It sampled 0 tokens "
    "to train."))

# %% [markdown]
# ## What GRPO's group replaces
#
# PPO learns a value head next to the policy (notebook 09): a second output trained by a second loss, whose
# job is the baseline. GRPO drops it and samples a group per prompt instead. What that buys and costs, from
# the logs of the default-β runs:

# %%
# NBVAL_IGNORE_OUTPUT
value_head = ppo.PolicyWithValue(sft_run.model).value_head
n_head = sum(p.numel() for p in value_head.parameters())
ppo_runs, grpo_runs = compare.defaults(runs, rl)["ppo"], compare.defaults(runs, rl)["grpo"]
last = max(1, rl.compare_iterations // 5)  # the last fifth of the iterations
ev = [sum(h["explained_variance"] for h in r.history[-last:]) / last for r in ppo_runs]
zero = [sum(h["zero_advantage_groups"] for h in r.history) / len(r.history) for r in grpo_runs]
print(f"PPO value head: {n_head} parameters on the shared trunk; explained variance, last {last} iterations, "
      f"per seed: {', '.join(f'{v:.2f}' for v in ev)}")
print(f"GRPO: {rl.grpo.group_size} completions per prompt, {rl.grpo.prompts_per_iteration} prompts per iteration "
      f"(PPO: {rl.ppo.batch_size} prompts, one completion each); share of groups with all-equal scores, per seed: "
      f"{', '.join(f'{v:.3f}' for v in zero)}")

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"PPO's critic here is small ({n_head} parameters on the policy's own trunk), but it has to be *learned*: over "
    f"the last iterations it explained {min(ev):.2f}–{max(ev):.2f} of the variance of the returns, depending on the "
    f"seed (1 would be a perfect baseline, 0 no better than a constant). GRPO's baseline needs no training: it is "
    f"the mean score of the prompt's own group of completions (each completion's own score included), and its "
    f"spread sets the scale, measured afresh for every group from the first iteration on. It pays in prompts: for the same number of completions, GRPO saw {rl.grpo.prompts_per_iteration} "
    f"prompts per iteration, PPO {rl.ppo.batch_size}. Groups whose completions all scored alike teach nothing; "
    + ("there were none in any GRPO run here." if max(zero) == 0 else
       f"they were at most {max(zero):.1%} of a run's groups.")))

# %% [markdown]
# ## Where each one games the reward model
#
# Notebook 10 showed PPO with no leash (β = 0) writing a few words far more often than the SFT model
# does. The same, for every algorithm, at the smallest β of its sweep (seed 0): what happened to the
# text, against the SFT model.

# %%
# NBVAL_IGNORE_OUTPUT
hacks = compare.reward_hacks(runs)
base = sft_run.metrics
for kind, h in hacks.items():
    print(f"{compare.NAMES[kind]:<16} beta {h['beta']:<5g} judge {h['judge_positive_rate']:.2f}  "
          f"RM {h['rm_score']:+.2f}  KL {h['kl_k1']:5.1f}  length {h['length']:4.1f}  distinct-2 {h['distinct_2']:.2f}  "
          f"perplexity {h['ref_perplexity']:5.1f}  real words {h['real_word_rate']:.2f}  "
          f"'{h['word']}' in {h['word_share']:.0%} (SFT {h['word_share_sft']:.0%})")
print(f"{'SFT':<16} {'':10} judge {base['judge_positive_rate']:.2f}  RM {base['rm_score']:+.2f}  KL {0:5.1f}  "
      f"length {base['length']:4.1f}  distinct-2 {base['distinct_2']:.2f}  perplexity {base['ref_perplexity']:5.1f}  "
      f"real words {base['real_word_rate']:.2f}")

# %%
# NBVAL_IGNORE_OUTPUT
def signs(h):
    """The symptoms of notebook 10, measured against the SFT model: which of them this run shows."""
    out = []
    if h["length"] < 0.75 * base["length"]:
        out.append(f"completions shorter by {1 - h['length'] / base['length']:.0%}")
    if h["length"] > 1.25 * base["length"]:
        out.append(f"completions longer by {h['length'] / base['length'] - 1:.0%}")
    if h["distinct_2"] < 0.9 * base["distinct_2"]:
        out.append(f"distinct-2 down from {base['distinct_2']:.2f} to {h['distinct_2']:.2f}")
    if h["ref_perplexity"] > 2 * base["ref_perplexity"]:
        out.append(f"perplexity under the SFT model ×{h['ref_perplexity'] / base['ref_perplexity']:.1f}")
    if h["real_word_rate"] < base["real_word_rate"] - 0.02:
        out.append(f"real-word rate down from {base['real_word_rate']:.2f} to {h['real_word_rate']:.2f}")
    if h["word_share"] > 3 * max(h["word_share_sft"], 0.01):
        out.append(f"'{h['word']}' in {h['word_share']:.0%} of completions (SFT: {h['word_share_sft']:.0%})")
    return out


items = [f"- **{compare.NAMES[k]}** (β = {h['beta']:g}, KL {h['kl_k1']:.1f}): "
         + ("; ".join(signs(h)) or "none of these symptoms past the thresholds") + "."
         for k, h in hacks.items()]
display(Markdown(
    "At the weakest leash of each sweep (seed 0; thresholds: length ±25%, distinct-2 −10%, perplexity ×2, "
    "real-word rate −0.02, one word at least 3× as frequent as in SFT's completions):\n\n" + "\n".join(items)))

# %%
# NBVAL_IGNORE_OUTPUT
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    for kind, (mean, _, _) in judge_spread.items():
        assert mean > sft_judge, f"{kind}: the seed mean of the judge did not beat SFT"
    assert all(compare.frontier(runs, k)[0].metrics["kl_k1"] < compare.frontier(runs, k)[-1].metrics["kl_k1"]
               for k in compare.NAMES)

# %% [markdown]
# ## Summary
#
# - Under one budget, from one SFT model, judged by one judge, the algorithms are compared where it is
#   fair: at equal KL to the start, and over three seeds.
# - DPO turns the reward model's own training pairs into a policy update without sampling, and without
#   the reward model; its loss rewards the *gap* between chosen and rejected, not the chosen answer.
# - GRPO and RLOO replace PPO's learned critic by the other completions of the same prompt; GRPO also
#   keeps PPO's clip and moves the KL into the loss, RLOO keeps the KL in the reward and takes one step.
# - Each of them can be pushed into gaming the reward model (the list above shows what each did at its
#   weakest leash); the leash, β, decides how far.
