"""Every worked number of the RLHF story, computed by ``rlhf_edu.formulas``.

``worked_examples()`` returns the numbers as an ordered dict of sections (the
tests assert them), ``format_worked_examples()`` the printable report (the CLI
prints it). Two small autograd demos live here too, because the notebooks,
the widgets and the report all use them:

- ``policy_gradient_step``: one gradient step on a tiny softmax policy;
- ``ppo_gradient``: d(PPO objective)/d(ratio), to see where PPO stops pushing.
"""

from __future__ import annotations

import math

import torch

from rlhf_edu import formulas as F

# Example 1: "Pune is great", one token at a time.
TOKENS = ["Pune", " is", " great"]
TOKEN_PROBS = [0.8, 0.7, 0.9]

# Example 3: a tiny policy over three possible next words after "Pune is".
# "great" has log-probability exactly -1.2, the number in the story.
PG_WORDS = ["great", "okay", "awful"]
PG_LOGP = -1.2
PG_LR = 0.5

# The k1 truth: a policy and a reference over three words.
KL_WORDS = ["great", "good", "fine"]
KL_PI = [0.6, 0.3, 0.1]
KL_REF = [0.4, 0.4, 0.2]

EPSILON = 0.2


def pg_policy(logp: float = PG_LOGP) -> list[float]:
    """The tiny policy: 'great' has log-probability logp, the rest is split 60/40."""
    p = math.exp(logp)
    return [p, 0.6 * (1.0 - p), 0.4 * (1.0 - p)]


def policy_gradient_step(advantage: float, logp: float = PG_LOGP, lr: float = PG_LR) -> dict:
    """One SGD step on -A * log pi('great') for the 3-word softmax policy.

    Returns the probability of 'great' before and after the step, and the
    gradient of the surrogate on its logit (A * (1 - pi), by calculus).
    """
    logits = torch.log(torch.tensor(pg_policy(logp), dtype=torch.float64))  # softmax(log p) = p
    logits.requires_grad_(True)
    logp_t = torch.log_softmax(logits, dim=-1)[0]
    surrogate = F.policy_gradient_surrogate(logp_t, advantage)
    (-surrogate).backward()  # minimise -J, i.e. maximise log pi * A
    with torch.no_grad():
        new_logits = logits - lr * logits.grad
    before, after = torch.softmax(logits.detach(), -1), torch.softmax(new_logits, -1)
    return {
        "advantage": float(advantage),
        "logp": logp_t.item(),
        "surrogate": surrogate.item(),
        "grad_logit": -logits.grad[0].item(),  # gradient of J (ascent direction)
        "prob_before": before[0].item(),
        "prob_after": after[0].item(),
        "probs_before": before.tolist(),
        "probs_after": after.tolist(),
    }


def ppo_gradient(ratio: float, advantage: float, epsilon: float = EPSILON) -> dict:
    """Evaluate the PPO clip objective and its gradient with respect to the ratio.

    The ratio is pi_theta / pi_old, so a zero gradient here means a zero
    gradient for every parameter of the policy through this sample.
    """
    r = torch.tensor(float(ratio), dtype=torch.float64, requires_grad=True)
    terms = F.ppo_clip_objective(r, advantage, epsilon)
    terms.objective.backward()
    picked = "clipped" if terms.clipped.item() < terms.unclipped.item() else (
        "unclipped" if terms.unclipped.item() < terms.clipped.item() else "both")
    return {
        "ratio": float(ratio),
        "advantage": float(advantage),
        "unclipped": terms.unclipped.item(),
        "clipped": terms.clipped.item(),
        "objective": terms.objective.item(),
        "picked": picked,
        "grad": r.grad.item(),
    }


def worked_examples() -> dict:
    """Every worked number, in story order, each computed (never typed in)."""
    ex = {}

    logps = [math.log(p) for p in TOKEN_PROBS]
    ex["1_sequence_probability"] = {
        "tokens": TOKENS,
        "token_probs": TOKEN_PROBS,
        "product": F.sequence_prob(TOKEN_PROBS),
        "token_logprobs": logps,
        "sum_logprobs": F.sequence_logprob(logps),
        "from_logprobs": F.sequence_prob_from_logprobs(logps),
    }

    ex["2_bradley_terry"] = {
        "r_chosen": 3.0,
        "r_rejected": 1.0,
        "p_case1": F.bradley_terry_prob(3.0, 1.0),
        "exp_minus_2": math.exp(-2.0),
        "loss_case1": F.reward_model_loss(3.0, 1.0),
        "p_case2": F.bradley_terry_prob(1.0, 3.0),
        "loss_case2": F.reward_model_loss(1.0, 3.0),
        # The story rounds sigma(-2) to 0.119 first: -log 0.119 = 2.1286, which it
        # writes as 2.128. The exact loss is log(1 + e^2) = 2.1269, i.e. 2.127.
        "loss_case2_from_rounded_p": -math.log(round(F.bradley_terry_prob(1.0, 3.0), 3)),
        "loss_gap_minus_1000": F.reward_model_loss(0.0, 1000.0),
    }

    ex["3_policy_gradient"] = {
        "words": PG_WORDS,
        "lr": PG_LR,
        "up": policy_gradient_step(2.5),
        "down": policy_gradient_step(-1.0),
    }

    ex["4_importance_ratio"] = {
        "prob_new": 0.45,
        "prob_old": 0.3,
        "ratio": F.importance_ratio(0.45, 0.3),
        "big_prob_new": 0.5,
        "big_prob_old": 0.05,
        "big_ratio": F.importance_ratio(0.5, 0.05),
        "big_advantage": 2.0,
        "big_unclipped": F.ppo_clip_objective(F.importance_ratio(0.5, 0.05), 2.0, EPSILON).unclipped,
        "big_clipped": F.ppo_clip_objective(F.importance_ratio(0.5, 0.05), 2.0, EPSILON).objective,
    }

    ex["5_ppo_clip"] = {
        "epsilon": EPSILON,
        "a": F.ppo_clip_objective(1.5, 2.0, EPSILON)._asdict() | {"ratio": 1.5, "advantage": 2.0},
        "b": F.ppo_clip_objective(0.5, -1.0, EPSILON)._asdict() | {"ratio": 0.5, "advantage": -1.0},
    }

    ex["6_kl_penalty"] = {
        "reward": 3.5,
        "beta": 0.1,
        "kl_small": 0.8,
        "total_small": F.kl_penalised_reward(3.5, 0.8, 0.1),
        "kl_large": 15.0,
        "total_large": F.kl_penalised_reward(3.5, 15.0, 0.1),
    }

    # Truth 1: the gradient of the PPO objective in the four corners.
    ex["truth_ppo_gradients"] = [
        ppo_gradient(ratio, adv, EPSILON)
        for adv in (2.0, -1.0) for ratio in (1.5, 0.5)
    ]

    # Truth 2: a single token's k1 can be negative; KL and k3 cannot.
    lp, lr = [math.log(p) for p in KL_PI], [math.log(q) for q in KL_REF]
    k1 = [F.per_token_kl_k1(a, b) for a, b in zip(lp, lr)]
    k3 = [F.kl_k3(a, b) for a, b in zip(lp, lr)]
    ex["truth_k1_negative"] = {
        "words": KL_WORDS,
        "pi": KL_PI,
        "pi_ref": KL_REF,
        "k1": k1,
        "k3": k3,
        "exact_kl": F.exact_kl(KL_PI, KL_REF),
        "mean_k1": sum(p * k for p, k in zip(KL_PI, k1)),  # E_pi[k1]
        "mean_k3": sum(p * k for p, k in zip(KL_PI, k3)),  # E_pi[k3]
    }
    return ex


def _effect(row: dict) -> str:
    direction = "raising" if row["advantage"] > 0 else "lowering"
    if row["grad"] == 0.0:
        return f"zero gradient: PPO stops {direction} this action"
    return f"gradient {row['grad']:+.1f}: PPO keeps {direction} this action"


def format_worked_examples() -> str:
    """The worked examples as a readable report."""
    ex = worked_examples()
    out = []

    def section(title):
        out.append("")
        out.append(title)
        out.append("-" * len(title))

    s = ex["1_sequence_probability"]
    section("1. A sentence is a sequence of actions")
    out.append("pi(y|x) = " + " x ".join(f"{p:.1f}" for p in s["token_probs"])
               + f" = {s['product']:.3f}   ({''.join(s['tokens'])!r})")
    out.append("sum of log-probs = " + " + ".join(f"({l:.3f})" for l in s["token_logprobs"])
               + f" = {s['sum_logprobs']:.3f};  exp({s['sum_logprobs']:.3f}) = {s['from_logprobs']:.3f}")

    s = ex["2_bradley_terry"]
    section("2. Rewards from preferences (Bradley-Terry)")
    out.append(f"case 1: sigma(3.0 - 1.0) = {s['p_case1']:.3f}   (e^-2 = {s['exp_minus_2']:.3f})"
               f",  loss = -log {s['p_case1']:.3f} = {s['loss_case1']:.3f}")
    out.append(f"case 2: sigma(1.0 - 3.0) = {s['p_case2']:.3f},  loss = {s['loss_case2']:.3f}"
               f"   (exact; -log 0.119 = {s['loss_case2_from_rounded_p']:.4f}, the story's 2.128)")
    out.append(f"stable loss for a reward gap of -1000: {s['loss_gap_minus_1000']:.1f}  (not inf, not nan)")

    s = ex["3_policy_gradient"]
    section("3. Policy gradient on a tiny softmax policy (one SGD step, lr = 0.5)")
    for key in ("up", "down"):
        r = s[key]
        verb = "raises" if r["prob_after"] > r["prob_before"] else "lowers"
        out.append(f"log pi = {r['logp']:.1f}, A = {r['advantage']:+.1f}: surrogate = {r['surrogate']:+.2f}; "
                   f"pi('great') {r['prob_before']:.3f} -> {r['prob_after']:.3f}  ({verb} it)")

    s = ex["4_importance_ratio"]
    section("4. Importance sampling")
    out.append(f"ratio = {s['prob_new']:.2f} / {s['prob_old']:.2f} = {s['ratio']:.1f}")
    out.append(f"ratio = {s['big_prob_new']:.2f} / {s['big_prob_old']:.2f} = {s['big_ratio']:.1f}: "
               f"with A = {s['big_advantage']:.1f} one sample would weigh {s['big_unclipped']:.1f} "
               f"unclipped; PPO's clip caps it at {s['big_clipped']:.1f}")

    s = ex["5_ppo_clip"]
    section(f"5. PPO clip (epsilon = {s['epsilon']:.1f})")
    for key in ("a", "b"):
        r = s[key]
        out.append(f"A = {r['advantage']:+.1f}, r = {r['ratio']:.1f}: unclipped {r['unclipped']:+.1f}, "
                   f"clipped {r['clipped']:+.1f}, min {r['objective']:+.1f}")

    s = ex["6_kl_penalty"]
    section("6. KL penalty")
    for k in ("small", "large"):
        out.append(f"{s['reward']:.1f} - {s['beta']:.1f} x {s['kl_' + k]:.1f} = {s['total_' + k]:.2f}")

    section("Truth 1: where PPO's gradient is zero (d objective / d ratio, epsilon = 0.2)")
    out.append(f"{'A':>5} {'r':>5} {'unclipped':>10} {'clipped':>8} {'min picks':>10} {'grad':>6}  effect")
    for r in ex["truth_ppo_gradients"]:
        out.append(f"{r['advantage']:+5.1f} {r['ratio']:5.1f} {r['unclipped']:+10.2f} {r['clipped']:+8.2f} "
                   f"{r['picked']:>10} {r['grad']:+6.1f}  {_effect(r)}")
    out.append("Case 5b (A = -1, r = 0.5) is the bottom row: the min picks the clipped term, which is")
    out.append("constant in theta, so PPO does not push this action's probability any further down.")

    s = ex["truth_k1_negative"]
    section("Truth 2: the per-token KL estimate k1 can be negative")
    out.append(f"{'word':>6} {'pi':>5} {'pi_ref':>6} {'k1':>7} {'k3':>7}")
    for w, p, q, a, b in zip(s["words"], s["pi"], s["pi_ref"], s["k1"], s["k3"]):
        out.append(f"{w:>6} {p:5.2f} {q:6.2f} {a:+7.3f} {b:+7.3f}")
    out.append(f"exact KL(pi || pi_ref) = {s['exact_kl']:.4f};  E_pi[k1] = {s['mean_k1']:.4f};  "
               f"E_pi[k3] = {s['mean_k3']:.4f}")
    out.append("Both estimators are right on average, but one token's k1 can be negative; k3 never is.")
    return "\n".join(out[1:])
