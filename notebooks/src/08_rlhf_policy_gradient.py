# %% [markdown]
# # 08 · RLHF with the policy-gradient loop
#
# **What you will learn.** Stage 4, first version. We fine-tune the SFT model with the plain
# policy gradient of notebook 03: sample completions, score them with the reward model minus a KL
# penalty against the frozen SFT model, and push up the log-probability of completions that scored
# above the batch average. First we do one iteration by hand on a real batch, with the package's own small
# functions, and check that the package's trainer lands on exactly the same weights; then the
# package trains for real, on three seeds, and the independent judge says whether the text really
# became more positive. Along the way we fix what the usual pseudo-code gets loose, and measure
# what the batch-mean baseline costs.
#
# **What you need first.** Notebooks 03 (policy gradient) and 05 (the KL penalty) for the ideas;
# notebooks 06 and 07, whose SFT model and reward model this notebook loads from the cache (without
# them it trains them first, which takes longer).
#
# **How long.** A cell below the imports prints two times measured by the build at full size on
# a 2-core CPU: from an empty cache (this notebook then first trains the pretrained, SFT and reward
# models of notebooks 06 and 07, then its three policy-gradient runs) and with every stage cached (it
# only loads and evaluates). Training cells show a progress bar while they train.

# %%
%matplotlib inline
import copy
import dataclasses
import itertools

import torch
from IPython.display import Markdown, display

from rlhf_edu import examples, formulas, plots, policy_gradient, rl, show, stages
from rlhf_edu.evaluation import SEPARATOR, side_by_side
from rlhf_edu.model import frozen_copy, response_logprobs
from rlhf_edu.optim import adamw
from rlhf_edu.rollout import collect_rollout
from rlhf_edu.sentiment import corpus, evaluation, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())

# %%
# NBVAL_IGNORE_OUTPUT
print(show.build_times("08"))  # filled in by tools/build_notebooks.py

# %% [markdown]
# ## What the usual pseudo-code gets loose
#
# The loop is often sketched as "generate, compute rewards, compute discounted returns, loss =
# −log π · return, step". Four details matter:
#
# 1. **One reward per completion.** The reward model scores a finished text, once. With γ = 1 the
#    return at every token of that completion is that one number. "Discounted returns over the
#    batch" would mix different completions' rewards together as if they were one episode.
# 2. **The reward is a constant.** It is computed without gradients (`torch.no_grad`): the policy
#    must not be able to "improve" by changing how the reward is computed.
# 3. **Only generated tokens count.** The prompt was given, not chosen; its log-probs stay out of
#    the loss.
# 4. **Sample from the distribution you score.** Top-k sampling draws from a truncated
#    distribution; if the loss then uses full-softmax log-probs, the data are off-policy. We sample
#    from the full softmax during RL.
#
# The total reward of a completion is
# $R = r_{\text{RM}} - \beta \sum_t \big(\log\pi(y_t) - \log\pi_{\text{ref}}(y_t)\big)$: the reward
# model's score minus β times the k1 estimate of the KL, summed over the generated tokens. From $R$
# we subtract a **baseline** (the batch's mean reward) and divide by the rewards' standard deviation;
# the result is each completion's *advantage*. These are the settings:

# %%
# NBVAL_IGNORE_OUTPUT
cfg = pipeline.rl_setup().pg
print(show.settings(cfg))

# %% [markdown]
# ## One iteration by hand, on a real batch
#
# We load the SFT model, the reward model and the RL training prompts, then do exactly what
# `train_policy_gradient` does in its first iteration: one random generator, seeded with
# `cfg.seed`, first picks the prompts and then samples the completions. The policy starts as a copy
# of the SFT model and the reference is a frozen copy of it, as `stages.train_policy` sets them up.

# %%
# NBVAL_IGNORE_OUTPUT
tok = pipeline.tokenizer()
sft, _ = pipeline.sft_model()
rm, _ = pipeline.reward_model()
prompts = pipeline.rl_prompts()
print(f"{len(prompts)} RL training prompts, e.g. {prompts[:3]}")

# %%
# NBVAL_IGNORE_OUTPUT
policy, reference = copy.deepcopy(sft), frozen_copy(sft)
gen = torch.Generator().manual_seed(cfg.seed)
batch = [prompts[i] for i in torch.randint(0, len(prompts), (cfg.batch_size,), generator=gen)]
ro = collect_rollout(policy, reference, rm, tok, batch, cfg.max_new_tokens, cfg.temperature, gen)  # no_grad inside
print("sequences    ", tuple(ro.sequences.shape), "  prompt (left-padded) + completion, token ids")
print("prompt_len   ", ro.prompt_len)
print("response_mask", tuple(ro.response_mask.shape), "  1 for generated tokens up to and including EOS")
print("logprobs     ", tuple(ro.logprobs.shape), "  log pi(y_t) of each generated token, SFT copy")
print("ref_logprobs ", tuple(ro.ref_logprobs.shape), "  the same under the frozen reference")
print("scores       ", tuple(ro.scores.shape), "  the reward model's score, one per completion")
n0 = int(ro.lengths[0])
print(f"\ncompletion 0: {batch[0]} {SEPARATOR}{ro.completions[0]}")
print("  its log-probs:", [round(v, 2) for v in ro.logprobs[0, :n0].tolist()])

# %% [markdown]
# Each completion gets one reward, a constant (the rollout ran under `torch.no_grad`). The KL term
# is the k1 estimate summed over the completion's generated tokens. In this first iteration the
# policy *is* the reference, so every KL is exactly 0 and the reward is the reward model's score;
# the KL term starts to matter from the second batch on.

# %%
# NBVAL_IGNORE_OUTPUT
kl = ro.kl_k1.sum(1)                                              # k1 summed over generated tokens
rewards = formulas.kl_penalised_reward(ro.scores, kl, cfg.beta)  # score - beta * KL
adv = policy_gradient.sequence_advantages(rewards, cfg.baseline, cfg.normalise)
assert not rewards.requires_grad and (kl == 0).all()             # a constant; policy == reference
print(f"baseline (mean reward) {rewards.mean():.3f}, std {rewards.std():.3f} over {len(rewards)} completions\n")


def row(i):
    text = f"{batch[i]} {SEPARATOR}{ro.completions[i]}".replace("\n", " ")
    text = text if len(text) <= 70 else text[:69] + "…"
    return f"{text:<70} {ro.scores[i]:>6.2f} {kl[i]:>5.2f} {rewards[i]:>7.2f} {adv[i]:>6.2f}"


print(f"{'prompt ' + SEPARATOR + ' completion':<70} {'score':>6} {'KL':>5} {'reward':>7} {'adv.':>6}")
order = adv.argsort(descending=True).tolist()
print("-- the three highest advantages (pushed up most)")
print("\n".join(row(i) for i in order[:3]))
print("-- the three lowest (pushed down most)")
print("\n".join(row(i) for i in order[-3:]))

# %% [markdown]
# The advantages come from the package's `sequence_advantages`: the batch-mean baseline, then a
# division by the standard deviation.

# %%
show.source(policy_gradient.sequence_advantages)

# %% [markdown]
# The loss is $-\frac{1}{N}\sum_i A_i \log\pi(y_i \mid x_i)$, with $\log\pi(y_i \mid x_i)$ summed over
# the generated tokens only: `response_logprobs` returns the log-probs from the first generated
# token on, and `response_mask` zeroes the pads after EOS. Then one step of AdamW, after clipping the
# gradient's norm, as the trainer does, at the first iteration's learning rate: the configuration warms
# up over its first `warmup_iterations` (`rl.learning_rate`), because Adam's first step moves every
# weight by about the learning rate whatever its gradient, and one step per batch would start too hot.

# %%
show.source(policy_gradient.pg_loss)

# %%
# NBVAL_IGNORE_OUTPUT
lr0 = rl.learning_rate(cfg, 0, cfg.iterations)  # iteration 0 of the schedule
print(f"learning rate of iteration 0: {lr0:.2e} (cfg.lr {cfg.lr:.0e}, warm-up over {cfg.warmup_iterations} iterations)")
opt = adamw(policy.parameters(), lr=lr0)
policy.eval()  # dropout off: the log-probs must be those of the sampling policy
loss = policy_gradient.pg_loss(policy, ro, adv, cfg.temperature)
opt.zero_grad(set_to_none=True)
loss.backward()
grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)  # norm before clipping
opt.step()
print(f"loss {loss.item():.4f}, gradient norm {grad_norm:.3f} (clipped to {cfg.max_grad_norm})")

# %% [markdown]
# Now the package's trainer, `train_policy_gradient`, run for one iteration with the same seed on a
# fresh copy of the SFT model. We catch its rollout with the `callback` hook and compare everything:
# the sampled tokens, the scores, the loss and every weight after the step.

# %%
show.source(policy_gradient.train_policy_gradient)

# %%
seen = []
trained, log = policy_gradient.train_policy_gradient(
    copy.deepcopy(sft), frozen_copy(sft), rm, tok, prompts, dataclasses.replace(cfg, iterations=1),
    progress=False, callback=lambda entry, rollout: seen.append(rollout))
assert torch.equal(seen[0].sequences, ro.sequences) and torch.equal(seen[0].scores, ro.scores)
assert log[0]["loss"] == loss.item()
mine, theirs = dict(policy.named_parameters()), dict(trained.named_parameters())
assert mine.keys() == theirs.keys()
assert all(torch.equal(mine[n], theirs[n]) for n in mine)  # exact, bit for bit
largest = max((mine[n] - theirs[n]).abs().max().item() for n in mine)
print(f"same completions, same scores, same loss; {len(mine)} weight tensors "
      f"({sum(p.numel() for p in mine.values()):,} numbers) equal, largest difference {largest}")

# %% [markdown]
# We assert **exact** equality (`torch.equal`), not `allclose`. Both runs do the same floating-point
# operations, in the same order, on the same numbers, in one process on one CPU, so the results are
# identical to the last bit. A tolerance would be needed only if something changed the order of the
# arithmetic: another machine, another number of threads, or a differently written (but
# mathematically equal) loss.
#
# Did the step push the right way? We score the same completions again with the updated policy.

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    logp_after = response_logprobs(policy, ro.sequences, ro.attention_mask, ro.prompt_len, cfg.temperature)
change = (logp_after * ro.response_mask).sum(1) - ro.logprobs.sum(1)  # log pi(y|x): after - before
up, down = adv > 0, adv < 0
agree = ((change > 0) == up)[up | down].float().mean().item()
print(f"mean change of log pi(y|x): {change[up].mean():+.4f} where A > 0, {change[down].mean():+.4f} where A < 0")
print(f"share of completions moved in the direction of their advantage: {agree:.2f}")

# %%
# NBVAL_IGNORE_OUTPUT
display(Markdown(
    f"One step moved the log-probability of the completions with a positive advantage by "
    f"{change[up].mean():+.4f} on average and of those with a negative advantage by {change[down].mean():+.4f}; "
    f"{agree:.0%} of the completions moved the way their advantage asked. The policy is no longer the "
    "reference, so from the second batch on the KL term of the reward is no longer zero."))

# %% [markdown]
# ## The baseline, and what it costs
#
# A baseline $b$ leaves the expected gradient unchanged when it does not depend on the sample it is
# subtracted from, because $\mathbb{E}_{y\sim\pi}[\nabla\log\pi(y)] = 0$. The batch mean does depend
# on it: it contains the sample's own reward, $R_i / N$. Write
# $R_i - \bar R = (1 - \tfrac1N)\,R_i - \tfrac1N\sum_{j\ne i} R_j$. The second part comes from the
# other, independent samples, so it adds noise but nothing in expectation; the first part scales the
# gradient by $1 - 1/N$. So the batch-mean baseline points the expected gradient the right way but
# shrinks it by that factor. The **leave-one-out** baseline, the mean of the *other* samples
# (`rl.leave_one_out`, used by RLOO, by PPO with several samples per prompt and by notebook 11), removes the sample itself and is unbiased.
# Dividing by the standard deviation (`PGConfig.normalise`) rescales every batch's step by a number
# that also depends on the samples, so with it the expected gradient is no longer an exact multiple
# of the true one.
#
# Notebook 03's three-word policy lets us check this exactly: with $N = 3$ samples per batch there
# are only $3^3 = 27$ possible batches, so we average each estimator over all of them, weighted by
# their probability. No sampling, no noise.

# %%
logits = torch.log(torch.tensor(examples.pg_policy(), dtype=torch.float64)).requires_grad_(True)
reward = torch.tensor([1.0, 0.2, -1.0], dtype=torch.float64)  # great, okay, awful (notebook 03)
N = 3
(true_grad,) = torch.autograd.grad((torch.softmax(logits, -1) * reward).sum(), logits)


def expected_gradient(advantages):
    """Sum over every batch of N words: P(batch) * gradient of the batch's policy-gradient surrogate."""
    total = torch.zeros_like(logits)
    for words in itertools.product(range(3), repeat=N):
        logp = torch.log_softmax(logits, -1)[list(words)]
        (g,) = torch.autograd.grad(formulas.policy_gradient_surrogate(logp, advantages(reward[list(words)])).mean(),
                                   logits)
        total += logp.sum().exp().detach() * g
    return total


estimators = {
    "no baseline": lambda r: r,
    "batch mean": lambda r: policy_gradient.sequence_advantages(r, baseline=True, normalise=False),
    "leave-one-out": lambda r: rl.leave_one_out(r, len(r)),
    "batch mean / std": lambda r: policy_gradient.sequence_advantages(r, baseline=True, normalise=True),
}
expected = {name: expected_gradient(f) for name, f in estimators.items()}
print(f"{'':<18}{'expected gradient':>30}   ratio to the true gradient")
print(f"{'true gradient':<18}" + "".join(f"{v:>+10.4f}" for v in true_grad.tolist()))
for name, g in expected.items():
    print(f"{name:<18}" + "".join(f"{v:>+10.4f}" for v in g.tolist())
          + "   " + "  ".join(f"{v:.4f}" for v in (g / true_grad).tolist()))
assert torch.allclose(expected["no baseline"], true_grad) and torch.allclose(expected["leave-one-out"], true_grad)
assert torch.allclose(expected["batch mean"], (1 - 1 / N) * true_grad)

# %%
# NBVAL_IGNORE_OUTPUT
ratios = (expected["batch mean / std"] / true_grad).tolist()
cosine = torch.nn.functional.cosine_similarity(expected["batch mean / std"], true_grad, dim=0).item()
flipped = sum(r < 0 for r in ratios)
display(Markdown(
    f"Without a baseline and with the leave-one-out baseline the expected gradient is the true one; with the "
    f"batch mean it is {expected['batch mean'][0] / true_grad[0]:.4f} × the true one, that is 1 − 1/{N}. "
    f"Divided by the standard deviation, the ratios are {', '.join(f'{r:.2f}' for r in ratios)} for the three "
    f"words: {'one' if max(ratios) - min(ratios) < 1e-9 else 'no longer one'} common factor"
    + (f", and {flipped} component{'s' if flipped > 1 else ''} even changed sign" if flipped else "")
    + f" (cosine with the true gradient {cosine:.3f}). "
    f"With this notebook's batches of N = {cfg.batch_size} the batch mean alone would shrink the expected "
    f"gradient by 1 − 1/{cfg.batch_size} = {1 - 1 / cfg.batch_size:.3f}."))

# %% [markdown]
# ## The full run, on three seeds
#
# Now the package does the same for every iteration (`PGConfig.iterations` batches of fresh
# samples, one step each). An RL run is noisy, so we train the same configuration with seeds 0, 1
# and 2 (each is its own cached stage) and read only what holds for all three.

# %%
# NBVAL_IGNORE_OUTPUT
seeds = (0, 1, 2)
runs = {s: pipeline.pg_policy(cfg=dataclasses.replace(cfg, seed=s)) for s in seeds}
pg, history = runs[0]  # seed 0, the configuration's own seed, for the curves and samples below

# %%
plots.plot_rl_history(history, ("score", "kl_k1", "total_reward"), f"policy gradient, seed 0, β = {cfg.beta}")

# %% [markdown]
# How big was each step? The loop takes one gradient step per batch, so the KL between the policy that
# sampled the batch and the policy after its step (`approx_kl`, $k_3$ per token, logged by the trainer)
# says how far one iteration moved it. Notebook 09 reads a close relative for PPO (the mean over its
# minibatches, each measured before its step) against the ranges practitioners treat as healthy
# (`docs/ppo-checklist.md`):

# %%
# NBVAL_IGNORE_OUTPUT
for s, (_, h) in runs.items():
    print(f"seed {s}: " + rl.health_report(h, cfg.iterations))

# %% [markdown]
# ## Judged by someone else
#
# The score curve is the reward model's opinion, and the policy was trained to please exactly that
# model. The independent judge (VADER) and the KL tell us whether the text really became more
# positive, and at what cost. The headline is measured on **held-out prompts**, openers no training
# tweet starts with (RL never sampled from them); as many of the RL training prompts sit beside them,
# labelled. Every model samples 4 completions of each prompt with the same sampling seed.

# %%
# NBVAL_IGNORE_OUTPUT
models = {"SFT": sft, **{f"PG seed {s}": runs[s][0] for s in seeds}}
by_set = evaluation.evaluate_sets(models, frozen_copy(sft), rm, tok, pipeline.prompt_sets())
tables = {}
for label, measured in by_set.items():
    table = {name: e[0] for name, e in measured.items()}
    table["PG mean"] = {k: sum(table[f"PG seed {s}"][k] for s in seeds) / len(seeds) for k in table["SFT"]}
    tables[label] = table
    print(f"{label} prompts ({len(measured['SFT'][1].texts) // 4}, 4 samples each)"
          f"{': the headline' if label == 'held-out' else ''}")
    print(evaluation.metrics_table(table) + "\n")
metrics = tables["held-out"]
pg_runs = [metrics[f"PG seed {s}"] for s in seeds]
before = metrics["SFT"]
if stages.full_size():  # checks on training results, on the seed mean; skipped at test size
    assert metrics["PG mean"]["rm_score"] > before["rm_score"] + 0.3
    assert metrics["PG mean"]["judge_positive_rate"] > before["judge_positive_rate"]

# %%
# NBVAL_IGNORE_OUTPUT
def spread(key, fmt=".2f", table=None):
    """'lo–hi over the seeds (SFT x, higher on every seed)', from a table's numbers (default: held-out)."""
    table = table or metrics
    values = [table[f"PG seed {s}"][key] for s in seeds]
    lo, hi = min(values), max(values)
    side = ("higher on every seed" if lo > table["SFT"][key] else "lower on every seed" if hi < table["SFT"][key]
            else "not on the same side of SFT for every seed")
    return f"{lo:{fmt}}–{hi:{fmt}} (SFT {table['SFT'][key]:{fmt}}, {side})"


kl_lo, kl_hi = min(m["kl_k1"] for m in pg_runs), max(m["kl_k1"] for m in pg_runs)
display(Markdown(
    f"On the held-out prompts, over seeds 0, 1 and 2, the judge's positive rate ended at "
    f"{spread('judge_positive_rate')} and the reward model's score at {spread('rm_score')}. Meanwhile the KL to "
    f"the SFT model reached {kl_lo:.1f}–{kl_hi:.1f} nats, distinct-2 ended at {spread('distinct_2')} and the "
    f"perplexity under the reference at {spread('ref_perplexity', '.1f')}. On the training prompts the judge's "
    f"positive rate ended at {spread('judge_positive_rate', table=tables['training'])}. The SFT model's rate differs "
    f"between the sets too, so compare each set's gain over SFT, not raw rates (notebook 09 does, with "
    f"intervals)."))

# %% [markdown]
# ## Before and after, for the story's prompts
#
# Seed 0's policy against the SFT model, same prompts, same sampling seed. (One caveat about the
# judge: VADER counts "friend" as a positive word, so "My friend told me" starts with a head start
# whatever follows.)

# %%
# NBVAL_IGNORE_OUTPUT
story = [p for p in corpus.RL_PROMPTS for _ in range(3)]
print(side_by_side({"SFT": sft, "PG": pg}, tok, story))

# %% [markdown]
# ## Summary
#
# - One iteration of the loop is a handful of small functions: sample with `collect_rollout`, a
#   constant reward from `kl_penalised_reward`, advantages from `sequence_advantages`, the loss over
#   generated tokens from `pg_loss`, one clipped AdamW step. Done by hand, it gives the trainer's
#   weights exactly.
# - The batch-mean baseline is biased by the factor 1 − 1/N (small for large batches); the
#   leave-one-out baseline is not.
# - The table above shows, for three seeds, what the independent judge and the KL say about the
#   result; the reading under it is printed from those numbers.
# - Every step uses fresh samples once and throws them away. Notebook 09 makes each batch of
#   samples go further with PPO, and adds a value function to cut the variance per token;
#   notebook 10 shows what happens when the policy is pushed harder against the reward model.

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
# ### Exercise 1: Baselined, normalised advantages
#
# Write `sequence_advantages(rewards)`: subtract the batch's mean reward (the baseline), then divide
# by the rewards' standard deviation (`rewards.std()`, torch's default), using `max(std, 1e-6)` so
# that equal rewards give advantages of 0, not `nan`.

# %%
def sequence_advantages(rewards):
    """rewards: (B,) one reward per completion -> (B,) advantages"""
    raise NotImplementedError  # your code here

# %%
check.sequence_advantages(sequence_advantages)

# %% [markdown]
# ### Exercise 2: The policy-gradient loss over generated tokens only
#
# `token_logp` holds $\log\pi(\text{token}_{j+1} \mid \text{tokens}_{\le j})$ in column $j$ for every
# position of *prompt + completion* (as `model.token_logprobs` returns it); the completion starts at
# token `prompt_len`, so its log-probs are the columns from `prompt_len - 1` on. `response_mask` is 1
# for real completion tokens (up to and including EOS) and 0 for the pads after it. Write
# `pg_loss(token_logp, prompt_len, response_mask, advantages)`:
# $-\frac{1}{B}\sum_i A_i \log\pi(y_i \mid x_i)$, where $\log\pi(y_i \mid x_i)$ sums over the
# completion's real tokens only, and the advantages are constants (detached).

# %%
def pg_loss(token_logp, prompt_len, response_mask, advantages):
    """token_logp: (B, T-1), prompt_len: int, response_mask: (B, R), advantages: (B,) -> loss"""
    raise NotImplementedError  # your code here

# %%
check.pg_loss(pg_loss)
