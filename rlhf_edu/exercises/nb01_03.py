"""The checks of notebooks 01-03: a sentence's log-probability, returns, Bradley-Terry, the policy gradient.

Each ``@exercise`` function builds its cases, and the decorator turns it into the check itself
(``check.py`` gathers them). Expected outputs come from ``rlhf_edu.formulas`` and ``rlhf_edu.examples``:
the story's numbers, computed by the package. Each ``Bug`` is a plausible mistake with its hint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnF

from .. import examples
from .. import formulas as F
from .grading import Bug, Case, exercise
from .inputs import F64, generator, grad_of, randn, tensor, uniform

# ---------------------------------------------------------------- notebook 01

def _bug_forward_returns(r, gamma):
    out, run = [], torch.zeros_like(r[..., 0])
    for t in range(r.shape[-1]):
        run = r[..., t] + gamma * run
        out.append(run)
    return torch.stack(out, -1)


def _bug_unshifted_discount(r, gamma):
    T = r.shape[-1]
    w = gamma ** torch.arange(T, dtype=r.dtype)
    return (r * w).flip(-1).cumsum(-1).flip(-1)


def _bug_flattened_returns(r, gamma):
    return F.discounted_returns(r.reshape(-1), gamma).reshape(r.shape)


@exercise(
    "01", "token_probs", "token_probs: (..., T) probabilities of a reply's tokens -> (...,) its log-probability",
    r"""
**Sequence log-probability.** Write `sequence_logprob(token_probs)`: given the probabilities the model
gave to each token of a reply (a tensor whose last axis is the tokens; any axes before it are a batch),
return $\log \pi(y \mid x) = \sum_t \log \pi(y_t \mid x, y_{<t})$, one number per reply. Add
log-probabilities; don't multiply probabilities (a long reply would underflow).
""",
    [Bug(lambda p: torch.log(p.prod(-1)),
         "the product of many probabilities underflows to 0 and log(0) = -inf: add the log-probs instead"),
     Bug(lambda p: p.log().sum(),
         "sum over the last axis only (dim=-1): one log-prob per reply, not one for the whole batch"),
     Bug(lambda p: p.log().mean(-1), "a reply's log-prob is the sum of its tokens' log-probs, not their mean"),
     Bug(lambda p: p.prod(-1), "return the log-probability (a sum of logs), not the probability")],
)
def sequence_logprob():
    g = generator(101)
    cases = [
        ("the story's reply: 0.8 x 0.7 x 0.9", tensor([0.8, 0.7, 0.9]),
         "take the log of each probability and add them"),
        ("a batch: 3 replies of 5 tokens", uniform((3, 5), g, 0.05, 1.0),
         "one log-prob per reply: sum over the last axis only (dim=-1)"),
        ("two batch axes: 2 x 3 replies of 4 tokens", uniform((2, 3, 4), g, 0.05, 1.0),
         "sum over the last axis (dim=-1), whatever the axes before it"),
        ("a 400-token reply, every token 0.1", torch.full((400,), 0.1, dtype=F64),
         "0.1 ** 400 underflows to 0 and log(0) = -inf: add the log-probs instead of multiplying"),
        ("tokens the model is sure of (probability 1)", tensor([1.0, 1.0, 1.0]), "log 1 = 0, so the sum is 0"),
        ("a one-token reply", tensor([0.25]), "one token: its own log-prob, log 0.25"),
    ]
    return [Case(name, {"token_probs": p}, F.sequence_logprob(p.log()), hint) for name, p, hint in cases]


@exercise(
    "01", "rewards, gamma", "rewards: (..., T), gamma: float -> (..., T) returns G_t",
    r"""
**Discounted returns.** Write `discounted_returns(rewards, gamma)`: for rewards $r_0 \dots r_{T-1}$
(last axis; any axes before it are separate replies), return every $G_t = r_t + \gamma\, G_{t+1}$,
with $G_T = 0$ after the last token. Same shape as `rewards`. Hint: start at the end.
""",
    [Bug(_bug_forward_returns,
         "G_t adds up the rewards still to come (from t on): loop backwards, from the last token to the first"),
     Bug(_bug_unshifted_discount, "discount by the distance from t: the reward at step k counts gamma^(k - t) in G_t"),
     Bug(lambda r, gamma: r.flip(-1).cumsum(-1).flip(-1), "use gamma: G_t = r_t + gamma * G_{t+1}"),
     Bug(_bug_flattened_returns, "each row is its own reply: a return must not run from one row into the next"),
     Bug(lambda r, gamma: F.discounted_returns(r, gamma)[..., 0],
         "return G_t for every t (the same shape as rewards), not only G_0")],
)
def discounted_returns():
    g = generator(102)
    cases = [
        ("the story: rewards [0, 0, 1], gamma = 1", tensor([0.0, 0.0, 1.0]), 1.0,
         "with gamma = 1 every token's return is the final reward"),
        ("the story: rewards [0, 0, 1], gamma = 0.9", tensor([0.0, 0.0, 1.0]), 0.9,
         "G_0 = 0.9^2 * 1 = 0.81, G_1 = 0.9, G_2 = 1"),
        ("a reward at every step, gamma = 0.5", tensor([1.0, 2.0, 3.0, 4.0]), 0.5,
         "G_t = r_t + gamma * G_{t+1}, from the end"),
        ("a batch: 3 replies of 6 tokens, gamma = 0.95", randn((3, 6), g), 0.95,
         "work along the last axis; each row is a separate reply"),
        ("gamma = 0: each return is its own reward", randn((2, 4), g), 0.0, "with gamma = 0, G_t = r_t"),
        ("a one-token reply", tensor([2.0]), 0.9, "one token: G_0 = r_0"),
    ]
    return [Case(name, {"rewards": r, "gamma": gm}, F.discounted_returns(r, gm), hint) for name, r, gm, hint in cases]


# ---------------------------------------------------------------- notebook 02

@exercise(
    "02", "r_chosen, r_rejected", "r_chosen, r_rejected: tensors of the same shape -> P(chosen preferred), same shape",
    r"""
**Bradley–Terry probability.** Write `bradley_terry_prob(r_chosen, r_rejected)`: the probability that
people prefer the chosen reply, $\sigma(r_{\text{chosen}} - r_{\text{rejected}})$, elementwise.
It must stay exact for huge rewards (a gap of 1000 gives 1, never `nan`).
""",
    [Bug(lambda c, r: torch.sigmoid(r - c),
         "P(chosen preferred) = sigma(r_chosen - r_rejected): a higher chosen reward must give more than 0.5"),
     Bug(lambda c, r: c.exp() / (c.exp() + r.exp()),
         "exp(1000) overflows to inf and inf / inf = nan: use torch.sigmoid of the difference"),
     Bug(lambda c, r: c / (c + r),
         "Bradley-Terry compares exp(r): sigma(r_chosen - r_rejected) = e^r_c / (e^r_c + e^r_r), "
         "not r_c / (r_c + r_r)")],
)
def bradley_terry_prob():
    g = generator(201)
    pairs = [
        ("the story's case 1: r_chosen = 3, r_rejected = 1", tensor(3.0), tensor(1.0), "sigma(3 - 1) = 0.881"),
        ("the story's case 2: r_chosen = 1, r_rejected = 3", tensor(1.0), tensor(3.0), "sigma(1 - 3) = 0.119"),
        ("a batch of 6 pairs", randn(6, g, 3.0), randn(6, g, 3.0), "elementwise, one probability per pair"),
        ("equal rewards", tensor(2.0), tensor(2.0), "equal rewards: a coin toss, 0.5"),
        ("a gap of +1000", tensor(1000.0), tensor(0.0), "sigma(1000) = 1; exp(1000) overflows, torch.sigmoid does not"),
        ("a gap of -1000", tensor(0.0), tensor(1000.0), "sigma(-1000) = 0 (not nan)"),
        ("two huge equal rewards, 1000 and 1000", tensor(1000.0), tensor(1000.0),
         "only the difference matters: sigma(0) = 0.5, even when exp(1000) would overflow"),
    ]
    return [Case(n, {"r_chosen": c, "r_rejected": r}, F.bradley_terry_prob(c, r), h) for n, c, r, h in pairs]


def _bt_loss_with_grad(fn, r_chosen, r_rejected):
    leaf = r_chosen.requires_grad_(True)
    loss = fn(leaf, r_rejected)
    return loss.detach(), grad_of(loss, leaf)


@exercise(
    "02", "r_chosen, r_rejected", "r_chosen, r_rejected: tensors of the same shape -> loss per pair, same shape",
    r"""
**The reward model's loss, in the stable form.** Write `reward_model_loss(r_chosen, r_rejected)`:
$-\log \sigma(r_{\text{chosen}} - r_{\text{rejected}})$ for every pair (don't average). A gap of
$-1000$ must give a loss of 1000 with a finite gradient, not `inf`: `torch.log(torch.sigmoid(x))`
does not; `torch.nn.functional.logsigmoid(x)` does.
""",
    [Bug(lambda c, r: -torch.log(torch.sigmoid(c - r)),
         "log(sigmoid(-1000)) = log(0) = -inf: use torch.nn.functional.logsigmoid(x), exact for any gap"),
     Bug(lambda c, r: -torch.log(torch.sigmoid(c - r) + 1e-8),
         "an epsilon inside the log caps the loss at -log(eps) = 18.4: logsigmoid gives the exact 1000"),
     Bug(lambda c, r: -nnF.logsigmoid(r - c),
         "the loss must be small when the chosen reward is higher: -log sigma(r_chosen - r_rejected)"),
     Bug(lambda c, r: nnF.logsigmoid(c - r),
         "the loss is the *negative* log-likelihood: -log sigma(...), never below 0"),
     Bug(lambda c, r: -nnF.logsigmoid(c - r).mean(),
         "return one loss per pair (the same shape as the inputs), without .mean()")],
)
def reward_model_loss():
    g = generator(202)
    pairs = [
        ("the story's case 1: r_chosen = 3, r_rejected = 1", tensor(3.0), tensor(1.0), "-log sigma(2) = 0.127"),
        ("the story's case 2: r_chosen = 1, r_rejected = 3", tensor(1.0), tensor(3.0), "-log sigma(-2) = 2.127"),
        ("a batch of 6 pairs", randn(6, g, 3.0), randn(6, g, 3.0), "elementwise: one loss per pair"),
        ("a gap of -1000 (the model badly wrong)", tensor(0.0), tensor(1000.0),
         "log(sigmoid(-1000)) = log(0) = -inf: use torch.nn.functional.logsigmoid, which gives exactly -1000"),
        ("a gap of +1000 (the model surely right)", tensor(1000.0), tensor(0.0), "-log sigma(1000) = 0"),
    ]
    cases = [Case(n, {"r_chosen": c, "r_rejected": r}, F.reward_model_loss(c, r), h) for n, c, r, h in pairs]
    rc, rr = tensor([0.0, 0.0, 3.0, 1000.0]), tensor([1000.0, 0.0, 1.0, 0.0])
    cases.append(Case("gradient for gaps -1000, 0, 2, +1000", {"r_chosen": rc, "r_rejected": rr},
                      _bt_loss_with_grad(F.reward_model_loss, rc.clone(), rr), labels=("loss", "d loss / d r_chosen"),
                      hint="the gradient must stay finite too: d loss / d r_chosen = -sigma(r_rejected - r_chosen)",
                      run=_bt_loss_with_grad))
    return cases


# ---------------------------------------------------------------- notebook 03

def _pg_loss_grad_logp(fn, logp, advantage):
    leaf = logp.requires_grad_(True)
    loss = fn(leaf, advantage)
    return loss.detach(), grad_of(loss, leaf)


def _pg_loss_grad_adv(fn, logp, advantage):
    logp.requires_grad_(True)
    a = advantage.requires_grad_(True)
    return grad_of(fn(logp, a), a)


def _pg_step_prob(fn, advantage):
    """One SGD step (lr 0.5) on the 3-word policy with the student's loss: pi('great') after it."""
    logits = torch.log(tensor(examples.pg_policy())).requires_grad_(True)
    logp = torch.log_softmax(logits, -1)[:1]
    (g,) = torch.autograd.grad(fn(logp, advantage), logits)
    return torch.softmax(logits.detach() - examples.PG_LR * g, -1)[0]


@exercise(
    "03", "logp, advantage", "logp: (N,) log-probs of the sampled actions, advantage: (N,) -> scalar loss",
    r"""
**The policy-gradient loss and its sign.** Write `policy_gradient_loss(logp, advantage)`: the loss an
optimiser *minimises* so that it follows the policy gradient: minus the mean of the surrogate
$\log\pi(a \mid s)\cdot A$ over the $N$ samples. The advantage is a fixed weight: no gradient may flow into it.
""",
    [Bug(lambda lp, a: (lp * a.detach()).mean(),
         "an optimiser minimises: return minus the surrogate, -mean(log pi * A), "
         "so a positive advantage raises log pi"),
     Bug(lambda lp, a: -(lp * a).mean(),
         "the advantage is a constant weight: multiply by advantage.detach(), so no gradient flows into it"),
     Bug(lambda lp, a: -(lp * a.detach()).sum(), "average over the samples (mean), don't sum"),
     Bug(lambda lp, a: -(lp.exp() * a.detach()).mean(),
         "weight the log-probability, not the probability: the log-derivative trick gives grad log pi")],
)
def policy_gradient_loss():
    g = generator(301)

    def ref(lp, a):
        return -F.policy_gradient_surrogate(lp, a).mean()

    cases = []
    for A in (2.5, -1.0):
        lp, a = tensor([examples.PG_LOGP]), tensor([A])
        cases.append(Case(f"the story: log pi = -1.2, A = {A:+.1f}", {"logp": lp, "advantage": a}, ref(lp, a),
                          "loss = -mean(log pi * A): -(-1.2 * 2.5) = 3.0"))
    lp, a = uniform(8, g, -4.0, -0.05), randn(8, g)
    cases.append(Case("a batch of 8 samples", {"logp": lp, "advantage": a}, ref(lp, a), "minus the mean of log pi * A"))
    lp, a = uniform(5, g, -4.0, -0.05), randn(5, g)
    cases.append(Case("the gradient with respect to logp (5 samples)", {"logp": lp, "advantage": a},
                      _pg_loss_grad_logp(ref, lp.clone(), a), run=_pg_loss_grad_logp,
                      labels=("loss", "d loss / d logp"),
                      hint="d loss / d logp_i = -A_i / N: minus, and averaged over the N samples"))
    lp, a = uniform(4, g, -4.0, -0.05), randn(4, g)
    cases.append(Case("no gradient reaches the advantage", {"logp": lp, "advantage": a}, torch.zeros(4, dtype=F64),
                      run=_pg_loss_grad_adv, shows="d loss / d advantage",
                      hint="use advantage.detach(): the advantage is a constant weight"))
    for A in (2.5, -1.0):
        verb = "rise" if A > 0 else "fall"
        prob_after = tensor(examples.policy_gradient_step(A)["prob_after"])
        cases.append(Case(f"one SGD step on the 3-word policy, A = {A:+.1f}: pi('great') must {verb}",
                          {"advantage": tensor([A])}, prob_after, run=_pg_step_prob,
                          shows="pi('great') after one step of lr 0.5 on your loss (it starts at 0.301)",
                          hint="the step follows -grad(loss): a positive advantage must raise the action's "
                               "probability"))
    return cases


def _grad_log_softmax_ref(logits, action):
    leaf = logits.clone().requires_grad_(True)
    picked = torch.log_softmax(leaf, -1).gather(-1, action[:, None])
    return grad_of(picked, leaf)


@exercise(
    "03", "logits, action", "logits: (N, V), action: (N,) int64 -> (N, V) gradient of log pi(action) w.r.t. logits",
    r"""
**The log-derivative, by hand.** For a softmax policy $\pi = \mathrm{softmax}(z)$, write
`grad_log_softmax(logits, action)`: the gradient of $\log \pi(a)$ with respect to every logit, for each
of the $N$ rows (row $i$ took action `action[i]`). Don't use autograd: work out the formula
($\partial \log\pi(a) / \partial z_j$ is $1 - \pi_a$ for $j = a$ and $-\pi_j$ otherwise).
""",
    [Bug(lambda z, a: torch.softmax(z, -1) - nnF.one_hot(a, z.shape[-1]).to(z.dtype),
         "d log pi(a) / d z = onehot(a) - softmax(z): the chosen logit goes up, the others down"),
     Bug(lambda z, a: nnF.one_hot(a, z.shape[-1]).to(z.dtype) * (1 - torch.softmax(z, -1)),
         "every logit gets a gradient: -pi_j for j != a, not 0"),
     Bug(lambda z, a: nnF.one_hot(a, z.shape[-1]).to(z.dtype) - z.exp() / z.exp().sum(-1, keepdim=True),
         "exp(1000) overflows to inf: use torch.softmax, which subtracts the largest logit first")],
)
def grad_log_softmax():
    g = generator(302)
    story = torch.log(tensor([examples.pg_policy()]))
    cases = [
        ("the story's 3-word policy, action 'great'", story, torch.tensor([0]),
         "the chosen logit gets 1 - pi = 1 - 0.301, the others -pi_j"),
        ("the same policy, action 'awful'", story, torch.tensor([2]), "row i's gradient depends on action[i]"),
        ("a batch: 4 states, 6 words", randn((4, 6), g, 2.0), torch.tensor([0, 5, 2, 2]),
         "one row per state: onehot(action[i]) - softmax(logits[i])"),
        ("huge logits (+-1000)", tensor([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0]]), torch.tensor([1, 2]),
         "exp(1000) overflows: torch.softmax subtracts the largest logit first and stays exact"),
        ("an action the policy is sure of", tensor([[20.0, 0.0, 0.0]]), torch.tensor([0]),
         "pi(a) is almost 1, so every gradient is almost 0"),
    ]
    return [Case(n, {"logits": z, "action": a}, _grad_log_softmax_ref(z, a), h) for n, z, a, h in cases]
