"""Sliders for the foundation notebooks.

Each widget is two things: a plain ``*_readout`` function that turns slider
values into a short text (tests call it directly), and a ``*_widget`` builder
that wires it to ipywidgets sliders. Nothing here needs a running kernel
except the builders' display.
"""

from __future__ import annotations

import html
import math

import ipywidgets as W

from rlhf_edu import examples as E
from rlhf_edu import formulas as F


def _slider(value, lo, hi, step, description, fmt=".2f"):
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         readout_format=fmt, continuous_update=True,
                         style={"description_width": "initial"})


def _panel(readout, **sliders) -> W.VBox:
    """Sliders above a text panel that shows readout(**slider values).

    The panel is an HTML widget updated in place (not print), so the text
    lives in the widget and never becomes a cell output that varies by kernel.
    """
    panel = W.HTML()

    def refresh(_change=None):
        text = readout(**{name: s.value for name, s in sliders.items()})
        panel.value = f"<pre>{html.escape(text)}</pre>"

    for s in sliders.values():
        s.observe(refresh, names="value")
    refresh()
    return W.VBox([*sliders.values(), panel])


# 01 -------------------------------------------------------------------------

def sequence_readout(p1: float, p2: float, p3: float) -> str:
    probs = [p1, p2, p3]
    logps = [math.log(p) for p in probs]
    return (f"pi(y|x) = {p1:.2f} x {p2:.2f} x {p3:.2f} = {F.sequence_prob(probs):.4f}\n"
            f"sum of log-probs = {F.sequence_logprob(logps):.4f}, "
            f"exp of it = {F.sequence_prob_from_logprobs(logps):.4f}")


def sequence_widget() -> W.VBox:
    return _panel(sequence_readout,
                        p1=_slider(0.8, 0.01, 1.0, 0.01, "pi('Pune')"),
                        p2=_slider(0.7, 0.01, 1.0, 0.01, "pi(' is' | 'Pune')"),
                        p3=_slider(0.9, 0.01, 1.0, 0.01, "pi(' great' | 'Pune is')"))


# 02 -------------------------------------------------------------------------

def bt_readout(reward_gap: float) -> str:
    p = F.bradley_terry_prob(reward_gap, 0.0)
    loss = F.reward_model_loss(reward_gap, 0.0)
    # d loss / d r_chosen = -(1 - sigma(gap)): wrong-way pairs get the biggest push
    return (f"reward gap r_chosen - r_rejected = {reward_gap:+.2f}\n"
            f"P(chosen preferred) = sigma(gap) = {p:.3f}\n"
            f"loss = -log sigma(gap) = {loss:.3f}\n"
            f"d loss / d r_chosen = {-(1.0 - p):+.3f}  (and the opposite for r_rejected)")


def bt_widget() -> W.VBox:
    return _panel(bt_readout, reward_gap=_slider(2.0, -10.0, 10.0, 0.1, "reward gap"))


# 03 -------------------------------------------------------------------------

def pg_readout(advantage: float, logp: float = E.PG_LOGP, lr: float = E.PG_LR) -> str:
    step = E.policy_gradient_step(advantage, logp=logp, lr=lr)
    if step["prob_after"] > step["prob_before"]:
        verdict = "raised"
    elif step["prob_after"] < step["prob_before"]:
        verdict = "lowered"
    else:
        verdict = "unchanged"
    return (f"log pi('great') = {step['logp']:.2f}, A = {advantage:+.2f}, lr = {lr:.2f}\n"
            f"surrogate log pi x A = {step['surrogate']:+.3f}\n"
            f"pi('great'): {step['prob_before']:.3f} -> {step['prob_after']:.3f} ({verdict})")


def pg_widget() -> W.VBox:
    return _panel(pg_readout,
                        advantage=_slider(2.5, -3.0, 3.0, 0.1, "advantage A"),
                        logp=_slider(E.PG_LOGP, -4.0, -0.05, 0.05, "log pi('great')"),
                        lr=_slider(E.PG_LR, 0.0, 2.0, 0.05, "learning rate"))


# 04 -------------------------------------------------------------------------

def ppo_readout(ratio: float, advantage: float, epsilon: float = E.EPSILON) -> str:
    g = E.ppo_gradient(ratio, advantage, epsilon)
    if g["grad"] == 0.0:
        effect = "zero gradient: PPO stops pushing this action"
    else:
        effect = f"gradient {g['grad']:+.2f}: PPO keeps pushing"
    return (f"r = {ratio:.2f}, A = {advantage:+.2f}, epsilon = {epsilon:.2f}\n"
            f"unclipped r A = {g['unclipped']:+.3f}\n"
            f"clipped       = {g['clipped']:+.3f}\n"
            f"min (PPO)     = {g['objective']:+.3f}  (picks {g['picked']})\n"
            f"d objective / d r = {g['grad']:+.3f} -> {effect}")


def ppo_widget() -> W.VBox:
    return _panel(ppo_readout,
                        ratio=_slider(1.5, 0.0, 2.5, 0.05, "ratio r"),
                        advantage=_slider(2.0, -3.0, 3.0, 0.1, "advantage A"),
                        epsilon=_slider(E.EPSILON, 0.05, 0.5, 0.05, "epsilon"))


# 05 -------------------------------------------------------------------------

def kl_readout(reward: float, kl: float, beta: float) -> str:
    total = F.kl_penalised_reward(reward, kl, beta)
    return (f"R - beta x KL = {reward:.2f} - {beta:.2f} x {kl:.2f} = {total:.3f}\n"
            f"the penalty takes away {beta * kl:.3f} of the reward")


def kl_widget() -> W.VBox:
    return _panel(kl_readout,
                        reward=_slider(3.5, 0.0, 10.0, 0.1, "reward R"),
                        kl=_slider(0.8, 0.0, 20.0, 0.1, "KL"),
                        beta=_slider(0.1, 0.0, 1.0, 0.01, "beta"))
