# %% [markdown]
# # 07 · Training the reward model
#
# **What you will learn.** Stage 3 of the pipeline. We turn the SFT model into a **reward model**:
# same backbone, but the token head is replaced by one linear layer that reads the hidden state of
# the *last real token* and returns a single number. First we take one real batch of preference
# pairs through it by hand: the scores, the Bradley–Terry loss from notebook 02, and one optimiser
# step, each checked against the package's trainer. Then the package trains it; we check it on
# held-out pairs and against the independent judge, look at how its scores are distributed,
# calibrate it so its scores have mean 0 and standard deviation 1 on the SFT model's own samples,
# and finally read the story's 0.881 off real pairs.
#
# **What you need first.** Notebook 02 (Bradley–Terry, the 0.881 example, why `logsigmoid`) and
# notebook 06 (the micro GPT-2 and its SFT stage; its checkpoint is loaded from the cache, or
# trained here if missing).
#
# **How long.** At full size on our 2-core CPU, executing this notebook took 72.5 s with the SFT
# model and the reward model already in the cache (measured with `tools/build_notebooks.py`, on a
# machine shared with other jobs). From an empty cache, add the training of the reward model and of
# the stages of notebook 06.

# %%
%matplotlib inline
import copy
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from rlhf_edu import formulas, optim, plots, show, stages, train
from rlhf_edu import reward_model as rmod
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import corpus, evaluation, judge, pipeline

_ = torch.manual_seed(0)

# %%
# NBVAL_IGNORE_OUTPUT
# Which size is running: full in JupyterLab, test under pytest (see the README).
print(stages.describe_size())
rl = pipeline.rl_setup()  # reward-model (and RL) settings at this size
print(f"training pairs {rl.rm_pairs}, held-out pairs {rl.rm_heldout_pairs}, "
      f"calibration samples {rl.calibration_samples}")
print(show.settings(rl.rm, "reward-model training (RMTrainConfig)"))

# %% [markdown]
# ## Preference pairs
#
# Real RLHF asks people which of two replies is better. We have labelled tweets instead, so we let
# the label speak for the person: of two tweets, the **more positive** one is "chosen". Three kinds
# of pair appear equally often: positive over negative, positive over neutral, neutral over
# negative. (This encodes *our* preference, "be positive", which is exactly what RLHF does: the
# reward model learns whatever the labellers preferred.) Here are the first pairs the reward model
# trains on:

# %%
# NBVAL_IGNORE_OUTPUT
splits = pipeline.corpus()
pairs = pipeline.train_pairs()  # (chosen, rejected) texts from the training split
label_of = {t.text: corpus.LABELS[t.label] for t in splits["train"]}
print(f"{len(pairs)} pairs")
for chosen, rejected in pairs[:3]:
    print(f"chosen   ({label_of[chosen]}): {chosen}\nrejected ({label_of[rejected]}): {rejected}\n")

# %% [markdown]
# ## One Bradley–Terry batch, by hand
#
# The trainer draws a batch of pairs, puts the chosen texts and then the rejected ones into one
# batch (each text followed by the end-of-text token, left-padded), and runs the model once. We
# take the very batch the trainer draws at step 0 and the reward model exactly as training starts:
# the SFT model plus a fresh one-number head.

# %%
# NBVAL_IGNORE_OUTPUT
sft, _ = pipeline.sft_model()
tok = pipeline.tokenizer()
start = rmod.RewardModel(copy.deepcopy(sft), seed=rl.rm.seed)  # what pipeline.reward_model trains
g = torch.Generator().manual_seed(rl.rm.seed)                   # the trainer's batch generator
rows = torch.randint(0, len(pairs), (rl.rm.batch_size,), generator=g).tolist()
n = len(rows)
texts = [pairs[i][0] for i in rows] + [pairs[i][1] for i in rows]    # chosen first, then rejected
ids, mask = rmod.encode_for_rm(tok, texts, sft.config.block_size)     # text + EOS, left-padded
print(f"batch: {n} pairs -> ids {tuple(ids.shape)}, attention mask {tuple(mask.shape)}")

# %% [markdown]
# The head gives one number at *every* position; the score of a text is the one at its last real
# token, the end-of-text token, where the model has read the whole text. With left padding that is
# the last column here, but the package finds it from the mask (`last_real_index`), which also works
# when pads follow the text, as in generated samples.

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    hidden, _ = start.backbone(ids, attention_mask=mask, return_hidden=True)  # (2n, T, d_model)
    per_position = start.head(hidden).squeeze(-1)                             # (2n, T)
    last = rmod.last_real_index(mask)
    raw = per_position.gather(1, last[:, None]).squeeze(1)                    # (2n,)
    assert torch.equal(raw, start.raw_score(ids, mask))
    assert (ids[torch.arange(2 * n), last] == tok.eos_id).all()  # every score is read at an EOS
print(f"hidden {tuple(hidden.shape)} -> head, per position {tuple(per_position.shape)} -> score per text {tuple(raw.shape)}")
r_c, r_r = raw[:n], raw[n:]

# %%
show.source(rmod.RewardModel.raw_score)

# %% [markdown]
# The loss is $-\log\sigma(r_c - r_r)$, averaged over the pairs. We compute it with `logsigmoid`,
# the stable form: `log(sigmoid(x))` rounds σ to 0 for a large negative gap and returns infinity.

# %%
# NBVAL_IGNORE_OUTPUT
loss = -F.logsigmoid(r_c - r_r).mean()
package_loss = formulas.reward_model_loss(r_c, r_r).mean()
assert torch.equal(loss, package_loss)
gap = torch.tensor(-200.0)
print(f"a gap of -200: -log(sigmoid) = {-torch.log(torch.sigmoid(gap)).item()}, -logsigmoid = {-F.logsigmoid(gap).item()}")
print(f"\nbatch loss by hand {loss.item():.6f} = formulas.reward_model_loss {package_loss.item():.6f}")
print(f"pairs ordered right before any training: {(r_c > r_r).float().mean().item():.2f} (a fresh head guesses)")

# %%
show.source(formulas.reward_model_loss)

# %% [markdown]
# ### One optimiser step, by hand
#
# The trainer's step: AdamW from `optim.adamw` (no weight decay here), gradients clipped to a total
# norm of 1. We take it by hand on a copy of the starting model, and let the package's trainer
# (`reward_model.train_reward_model`) run one step on another copy, with the same batch.
#
# One difference to know about: the trainer has no way to stop early, so "one step of the trainer"
# means a run configured with `steps=1`, whose learning-rate warm-up lasts that one step. Its step
# therefore uses the full learning rate, while the real run's first step uses the first rate of its
# warm-up (both printed below). The batch, the loss and the gradient are the real run's; we check the
# loss against the one the real run logged at its step 0.

# %%
# NBVAL_IGNORE_OUTPUT
by_hand = copy.deepcopy(start)
opt = optim.adamw(by_hand.parameters(), lr=rl.rm.lr, weight_decay=rl.rm.weight_decay)
raw_h = by_hand.raw_score(ids, mask)
loss_h = -F.logsigmoid(raw_h[:n] - raw_h[n:]).mean()
loss_h.backward()
grad_norm = torch.nn.utils.clip_grad_norm_(by_hand.parameters(), rl.rm.grad_clip)
opt.step()

by_package = copy.deepcopy(start)
one_step = rmod.train_reward_model(by_package, tok, pairs, dataclasses.replace(rl.rm, steps=1), progress=False)

_, info = pipeline.reward_model()  # the trained stage; its history is the real run's
differ = max((a - b).abs().max().item() for a, b in zip(by_hand.parameters(), by_package.parameters()))
print(f"loss at step 0: by hand {loss_h.item():.6f}, package step {one_step['loss'][0]:.6f}, "
      f"real run {info['history']['loss'][0]:.6f}")
print(f"batch accuracy at step 0: by hand {(raw_h[:n] > raw_h[n:]).float().mean().item():.4f}, "
      f"real run {info['history']['accuracy'][0]:.4f}")
print(f"gradient norm {grad_norm:.3f} (clipped to {rl.rm.grad_clip}); largest difference in the parameters "
      f"after the step, by hand vs package: {differ:.1e}")
# The trainer's schedule (see its source below): warm-up over max(1, steps // 20) steps, then cosine.
real_lr = train.lr_at(0, train.TrainConfig(steps=rl.rm.steps, lr=rl.rm.lr, warmup_steps=max(1, rl.rm.steps // 20)))
print(f"learning rate of this step {rl.rm.lr:.1e}; of the real run's step 0: {real_lr:.2e}")
assert abs(loss_h.item() - one_step["loss"][0]) < 1e-6 and abs(loss_h.item() - info["history"]["loss"][0]) < 1e-5
assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(by_hand.parameters(), by_package.parameters()))

# %%
show.source(rmod.train_reward_model)

# %% [markdown]
# ## Training
#
# The package repeats that step over random batches of the training pairs (the cell above already
# loaded the result). `pipeline.reward_model()` trains, measures the accuracy on held-out pairs from
# the test split, calibrates (below), and caches the result.

# %%
# NBVAL_IGNORE_OUTPUT
rm, info = pipeline.reward_model()
print(f"held-out pairwise accuracy: {info['heldout_accuracy']:.3f} on {rl.rm_heldout_pairs} pairs")
print(f"calibration: score = {info['gain']:.3f} * raw + {info['bias']:.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert info["heldout_accuracy"] >= 0.85

# %%
plots.plot_rm_training(info["history"])

# %% [markdown]
# The same batch, scored by the trained model (raw scores, before calibration):

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    before, after = start.raw_score(ids, mask), rm.raw_score(ids, mask)
print(f"raw score {'at start':>9} {'trained':>8}  text")
for i in range(3):
    for name, j in (("chosen", i), ("rejected", n + i)):
        text = texts[j] if len(texts[j]) <= 110 else texts[j][:107] + "..."
        print(f"{name:>9} {before[j].item():+9.3f} {after[j].item():+8.3f}  {text}")
    print()
print(f"pairs of this batch ordered right: {(before[:n] > before[n:]).float().mean().item():.2f} at the start, "
      f"{(after[:n] > after[n:]).float().mean().item():.2f} after training")

# %% [markdown]
# ## What the scores look like
#
# If the reward model learned sentiment, the three labels should separate: negative tweets low,
# neutral in the middle, positive high.

# %%
# NBVAL_IGNORE_OUTPUT
test = splits["test"]
scores = rm.score_texts(tok, [t.text for t in test]).numpy()
labels = np.array([t.label for t in test])
for k, name in enumerate(corpus.LABELS):
    print(f"{name:>8}: mean score {scores[labels == k].mean():+.2f}  (n={int((labels == k).sum())})")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert scores[labels == 0].mean() < scores[labels == 1].mean() < scores[labels == 2].mean()

# %%
plots.plot_reward_by_label(scores, labels, corpus.LABELS)

# %% [markdown]
# And on the held-out pairs, the pairs the accuracy above was measured on (drawn from the test split
# as `pipeline.reward_model` draws them): the scores of the chosen and of the rejected texts, and the
# gap of each pair. Bradley–Terry only cares about the gap; a pair is ordered right when its gap is
# positive.

# %%
# NBVAL_IGNORE_OUTPUT
held_out = rmod.preference_pairs(test, rl.rm_heldout_pairs, seed=99)
with torch.no_grad():
    s_chosen = rm.score_texts(tok, [c for c, _ in held_out])
    s_rejected = rm.score_texts(tok, [r for _, r in held_out])
accuracy = (s_chosen > s_rejected).float().mean().item()
assert accuracy == info["heldout_accuracy"], "not the pairs the pipeline measured"
raw_gap = (s_chosen - s_rejected) / rm.gain  # the bias cancels in a gap; the gain does not
print(f"{len(held_out)} held-out pairs: accuracy {accuracy:.3f} (as the pipeline measured)")
print(f"mean score: chosen {s_chosen.mean().item():+.2f}, rejected {s_rejected.mean().item():+.2f} (calibrated)")
print(f"mean P(chosen preferred) = mean sigma(raw gap) = {torch.sigmoid(raw_gap).mean().item():.3f}")

# %%
fig = Figure(figsize=(11, 3.6), layout="constrained")
a, b = fig.subplots(1, 2)
bins = np.linspace(float(min(s_chosen.min(), s_rejected.min())), float(max(s_chosen.max(), s_rejected.max())), 40)
a.hist(s_chosen.numpy(), bins=bins, alpha=0.6, label="chosen")
a.hist(s_rejected.numpy(), bins=bins, alpha=0.6, label="rejected")
a.set(title="held-out pairs: scores", xlabel="calibrated score", ylabel="texts")
a.legend(loc="upper left")
b.hist((s_chosen - s_rejected).numpy(), bins=40, color="tab:green")
b.axvline(0, color="black", lw=1)
b.set(title="gap per pair (right of 0: ordered right)", xlabel="score(chosen) - score(rejected)", ylabel="pairs")
for ax in (a, b):
    plots.style_grid(ax)
fig

# %% [markdown]
# ## Does it agree with the independent judge?
#
# VADER never saw our training pairs. If our reward model ranks tweets the way VADER does, it has
# learned sentiment rather than some quirk of the generator. We check the rank correlation between
# the reward model's score and VADER's compound score on the test tweets.

# %%
# NBVAL_IGNORE_OUTPUT
compound = judge.vader_compound([t.text for t in test])
def ranks(x):
    return np.argsort(np.argsort(x))
spearman = np.corrcoef(ranks(scores), ranks(compound))[0, 1]
print(f"Spearman correlation, reward model vs VADER: {spearman:.3f}")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert spearman > 0.4

# %% [markdown]
# ## Calibration
#
# Bradley–Terry sees only differences of scores. Adding the same number to every score changes no
# probability and no loss, so the raw score's zero is arbitrary. Its *scale* is not: multiplying every
# score by 2 doubles every gap, and the probabilities move toward 0 and 1.

# %%
r_c, r_r = 1.0, 0.0
for name, (a, b) in {"as trained": (r_c, r_r), "shifted by +5": (r_c + 5, r_r + 5),
                     "doubled": (2 * r_c, 2 * r_r)}.items():
    print(f"{name:>14}: P = sigma({a:.0f} - {b:.0f}) = {formulas.bradley_terry_prob(a, b):.3f}, "
          f"loss {formulas.reward_model_loss(a, b):.3f}")

# %% [markdown]
# The RL stage adds the score to $-\beta \cdot \mathrm{KL}$, so the score's scale decides what $\beta$
# means. We fix it where it matters: calibration here is a *standardisation*, score = gain × raw +
# bias, with gain and bias chosen so that on samples of the SFT model (the policy RL starts from) the
# scores have mean 0 and standard deviation 1. It keeps every ranking but, with gain ≠ 1, not the
# Bradley–Terry probabilities: those come from the raw scores the model was trained on. The same
# check on the held-out pairs: shifting by the bias alone leaves every probability as it was,
# multiplying by the gain does not.

# %%
# NBVAL_IGNORE_OUTPUT
with torch.no_grad():
    raw_c = rm.raw_score(*rmod.encode_for_rm(tok, [c for c, _ in held_out], rm.config.block_size))
    raw_r = rm.raw_score(*rmod.encode_for_rm(tok, [r for _, r in held_out], rm.config.block_size))
assert torch.allclose(rm.gain * raw_c + rm.bias, s_chosen, atol=1e-5)  # score = gain * raw + bias
p_raw = formulas.bradley_terry_prob(raw_c, raw_r)
p_shift = formulas.bradley_terry_prob(raw_c + rm.bias, raw_r + rm.bias)
p_scaled = formulas.bradley_terry_prob(rm.gain * raw_c + rm.bias, rm.gain * raw_r + rm.bias)
print(f"largest change of P over {len(held_out)} pairs: shift only {(p_shift - p_raw).abs().max().item():.1e}, "
      f"gain and shift {(p_scaled - p_raw).abs().max().item():.3f} (gain {rm.gain.item():.3f})")
print(f"rankings kept by the calibration: {torch.equal(s_chosen > s_rejected, raw_c > raw_r)}")
assert (p_shift - p_raw).abs().max() < 1e-5

# %% [markdown]
# Do the calibrated scores have mean 0 and standard deviation 1 on the SFT model's samples? Fresh ones
# (another seed than the calibration's, for RL prompts drawn at random as the calibration draws them),
# through the sentiment evaluation the later notebooks use. Expect close to 0 and 1, not exactly: the
# gain and bias were fitted on other samples.

# %%
# NBVAL_IGNORE_OUTPUT
fresh = torch.Generator().manual_seed(7)
pool = pipeline.rl_prompts()
picked = [pool[i] for i in torch.randint(0, len(pool), (rl.calibration_samples // 2,), generator=fresh).tolist()]
metrics, ro = evaluation.evaluate(sft, frozen_copy(sft), rm, tok, picked, samples_per_prompt=2)
print(f"on {len(ro.texts)} fresh SFT samples: mean {ro.scores.mean():+.3f}, std {ro.scores.std():.3f}")
print(f"(and of their words, {metrics['real_word_rate']:.3f} are words of the training tweets: the real-word rate)")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert abs(ro.scores.mean().item()) < 0.5 and 0.5 < ro.scores.std().item() < 1.5

# %% [markdown]
# ## Try it: the reward-model playground
#
# Type a tweet and press Enter. You get the reward model's (calibrated) score next to the VADER
# judge's compound score, and a picture of the score *as the text grows*: every prefix of your
# tweet, token by token, scored as if the tweet ended there. Where the blue line jumps is where the
# reward model "decides". Things to try: a positive tweet that turns negative half-way ("Today I
# feel great but then my phone broke"); a negation ("not bad at all"); a word repeated ("good good
# good good"); an emoji. Where do the reward model and VADER disagree? Notebook 10 shows what a
# policy does with such disagreements.
#
# The widget needs a running kernel; without one (on GitHub, say) the cell after it shows the
# starting state.

# %%
from rlhf_edu import explore, widgets

widgets.reward_playground(rm, tok, judge=judge.vader_compound, text="Today I feel great, my friends are the best")

# %%
# NBVAL_IGNORE_OUTPUT
played = explore.reward_by_prefix(rm, tok, "Today I feel great, my friends are the best", judge=judge.vader_compound)
print(explore.reward_text(played))
explore.plot_reward_by_prefix(played)

# %% [markdown]
# ## The story's 0.881, on real pairs
#
# In notebook 02 a reward model scored a chosen reply 3.0 and a rejected one 1.0, and
# $\sigma(3.0 - 1.0) = 0.881$ was the probability that people prefer the first. Here is the same
# reading for a pair our trained model scores now. The probability comes from the *raw* scores (the
# ones Bradley–Terry trained); the calibrated ones are printed next to them for comparison.

# %%
# NBVAL_IGNORE_OUTPUT
chosen = "Today I feel amazing, the sun is out and my friends are here 😊"
rejected = "Today I feel awful, my phone broke and the bus never came"
with torch.no_grad():
    r_c, r_r = rm.raw_score(*rmod.encode_for_rm(tok, [chosen, rejected], rm.config.block_size)).tolist()
s_c, s_r = rm.score_texts(tok, [chosen, rejected]).tolist()   # calibrated: gain * raw + bias
p = formulas.bradley_terry_prob(r_c, r_r)
print(f"raw:        r_chosen = {r_c:+.2f}, r_rejected = {r_r:+.2f}")
print(f"P(chosen preferred) = sigma({r_c:.2f} - ({r_r:.2f})) = {p:.4f}")
print(f"loss = -log P = {formulas.reward_model_loss(r_c, r_r):.4f}")
print(f"calibrated: r_chosen = {s_c:+.2f}, r_rejected = {s_r:+.2f} (gain {rm.gain.item():.3f}: "
      f"sigma of their gap, {formulas.bradley_terry_prob(s_c, s_r):.3f}, is not the model's probability)")
if stages.full_size():  # checks on training results; skipped at test size (see the first cell)
    assert p > 0.5

# %%
# NBVAL_IGNORE_OUTPUT
story_gap = 3.0 - 1.0
surer = "surer" if r_c - r_r > story_gap else "less sure"
display(Markdown(
    f"Its raw gap is {r_c - r_r:.2f}, against the story's {story_gap:.0f}, so the trained model is {surer} about "
    f"this pair than the story's reward model (P = {p:.4f} against 0.881). Standardising multiplies every gap by the "
    f"gain, {rm.gain.item():.3f}, which is why σ of the calibrated gap, "
    f"{formulas.bradley_terry_prob(s_c, s_r):.3f}, is a different number: not the model's probability."))

# %% [markdown]
# The story's own reading exists among the held-out pairs too: the pair whose raw gap is nearest to
# 2.0, read the same way.

# %%
# NBVAL_IGNORE_OUTPUT
i = int((raw_c - raw_r - story_gap).abs().argmin())
print(f"chosen:   {held_out[i][0]}\nrejected: {held_out[i][1]}")
print(f"raw scores {raw_c[i].item():+.2f} and {raw_r[i].item():+.2f}: "
      f"P(chosen preferred) = sigma({(raw_c[i] - raw_r[i]).item():.2f}) = {p_raw[i].item():.3f}")

# %% [markdown]
# ## Summary
#
# - A reward model is the SFT backbone plus a one-number head read at the last real token.
# - One batch by hand (scores at the end-of-text token, the `logsigmoid` loss, an AdamW step) is
#   exactly what the package's trainer computes.
# - Bradley–Terry training on pairs gives a model that ranks most held-out pairs correctly (the
#   accuracy printed above) and agrees with an independent judge.
# - Calibration (a standardisation on the SFT policy's own samples) makes the reward scale, and so
#   $\beta$, meaningful; preference probabilities are read from the raw scores.
# - Next, notebook 08 uses this reward to fine-tune the SFT model with the policy gradient.

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
# ### Exercise 1: Reading the reward at the last real token
#
# The reward head outputs one number per position; the score of a text is the one at its *last real
# token* (its end-of-text token), where the model has read everything. Write
# `sequence_reward(values, attention_mask)`. Prompts are left-padded and generated completions have
# pads after their end-of-text token, so neither the last column nor `mask.sum(1) - 1` is the right
# index.

# %%
def sequence_reward(values, attention_mask):
    """values: (B, T), attention_mask: (B, T) int64 -> (B,) value at each last real token"""
    raise NotImplementedError  # your code here

# %%
check.sequence_reward(sequence_reward)

# %% [markdown]
# ### Exercise 2: The reward model's batch loss
#
# Training runs the chosen and the rejected texts of $n$ pairs in one batch: rows $0..n-1$ are the
# chosen texts, rows $n..2n-1$ their rejected partners (same order). Write
# `reward_model_batch_loss(values, attention_mask)`: read each row's score at its last real token,
# then return the mean Bradley–Terry loss $-\log\sigma(r_{\text{chosen}} - r_{\text{rejected}})$ over
# the pairs.

# %%
def reward_model_batch_loss(values, attention_mask):
    """values, attention_mask: (2n, T); rows [0, n) chosen, [n, 2n) rejected -> scalar loss"""
    raise NotImplementedError  # your code here

# %%
check.reward_model_batch_loss(reward_model_batch_loss)
