"""Sliders for the foundation notebooks, and live explorers of the trained models (05-10).

Each widget is two things: a plain function that turns control values into a short text (and,
for the explorers, a figure), which tests call directly, and a ``*_widget`` builder that wires
it to ipywidgets controls. The explorers' compute functions live in ``explore.py``; here is only
the wiring. Nothing here needs a running kernel except the builders' display.
"""

from __future__ import annotations

import html
import io
import math
import warnings

import ipywidgets as W

from rlhf_edu import examples as E
from rlhf_edu import explore as X
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


# ---------------------------------------------------------------------------
# live explorers of the trained models (05-10); compute functions in explore.py
# ---------------------------------------------------------------------------

def _png(fig) -> bytes:
    """A figure as PNG bytes for an Image widget: lives in the widget, needs no kernel display."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Glyph missing from font" for a typed emoji
        fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    return buf.getvalue()


def _live(render, **controls) -> W.VBox:
    """Controls above a text panel and an optional picture, both from render(**control values).

    ``render`` returns (text, figure or None). Controls that recompute a model should have
    ``continuous_update=False``: one update when the student lets go, not one per pixel.
    """
    panel, image = W.HTML(), W.Image(format="png")
    image.layout.display = "none"

    def refresh(_change=None):
        text, fig = render(**{name: c.value for name, c in controls.items()})
        panel.value = f"<pre>{html.escape(text)}</pre>"
        if fig is not None:
            image.value, image.layout.display = _png(fig), None

    for c in controls.values():
        c.observe(refresh, names="value")
    refresh()
    return W.VBox([*controls.values(), panel, image])


def _still(slider):
    slider.continuous_update = False
    return slider


def _int(value, lo, hi, description):
    return W.IntSlider(value=value, min=lo, max=hi, description=description, continuous_update=False,
                       style={"description_width": "initial"})


def _text(value, description, width="36em"):
    # continuous_update=False: the model runs when the student presses Enter or leaves the box.
    return W.Text(value=value, description=description, continuous_update=False,
                  style={"description_width": "initial"}, layout=W.Layout(width=width))


# 05 -------------------------------------------------------------------------

def kl_spread_view(distance: float = 1.0, n_samples: int = 10):
    r = X.kl_estimator_spread(distance, n_samples)
    return X.kl_spread_text(r), X.plot_kl_spread(r)


def kl_spread_widget(distance: float = 1.0, n_samples: int = 10) -> W.VBox:
    return _live(kl_spread_view,
                 distance=_still(_slider(distance, 0.0, 4.0, 0.1, "distance d of pi from pi_ref")),
                 n_samples=W.SelectionSlider(options=[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], value=n_samples,
                                             description="tokens per estimate", continuous_update=False,
                                             style={"description_width": "initial"}))


# 06 -------------------------------------------------------------------------

def generation_widget(models: dict, tokenizer, prompt: str = "Today I feel", n_samples: int = 3) -> W.VBox:
    """Prompt, temperature, top-k, top-p and seed; samples of every model in ``models`` side by side."""
    def render(prompt, temperature, top_k, top_p, seed, show):
        r = X.explore_generation(models, tokenizer, prompt, temperature, top_k, top_p, n_samples, seed=seed,
                                 show=show)
        return X.generation_text(r), None

    return _live(render, prompt=_text(prompt, "prompt"),
                 temperature=_still(_slider(1.0, 0.1, 2.0, 0.05, "temperature")),
                 top_k=_int(0, 0, 50, "top-k (0 = off)"),
                 top_p=_still(_slider(1.0, 0.05, 1.0, 0.05, "top-p (1 = off)")),
                 seed=_int(0, 0, 99, "seed"),
                 show=W.Dropdown(options=list(models), value=list(models)[-1], description="tokens of"))


# 07 -------------------------------------------------------------------------

def reward_view(reward_model, tokenizer, text: str, judge):
    r = X.reward_by_prefix(reward_model, tokenizer, text, judge=judge)
    return X.reward_text(r), (X.plot_reward_by_prefix(r) if r["tokens"] else None)


def reward_playground(reward_model, tokenizer, *, judge,
                      text: str = "Today I feel great, my friends are the best") -> W.VBox:
    """Type a tweet (Enter to score): reward-model score, the judge's (``judge(texts)``), the score token by token."""
    return _live(lambda text: reward_view(reward_model, tokenizer, text, judge), text=_text(text, "tweet"))


# 09 -------------------------------------------------------------------------

def ppo_step_widget(batch: "X.PPOBatch", row: int = 0) -> W.VBox:
    """Move epsilon, gamma, lambda and beta over one real rollout and PPO update (``explore.ppo_batch``)."""
    c = batch.cfg

    def render(clip_eps, gamma, lam, beta, whiten, row):
        s = X.ppo_step(batch, clip_eps, gamma, lam, beta, whiten)
        return X.ppo_step_text(batch, s, row), None

    return _live(render,
                 clip_eps=_slider(c.clip_eps, 0.05, 0.5, 0.01, "clip epsilon"),
                 gamma=_slider(c.gamma, 0.5, 1.0, 0.01, "gamma"),
                 lam=_slider(c.lam, 0.0, 1.0, 0.01, "lambda"),
                 beta=_slider(c.beta, 0.0, 0.5, 0.01, "beta"),
                 whiten=W.Checkbox(value=c.whiten_advantages, description="whiten advantages"),
                 row=W.IntSlider(value=row, min=0, max=len(batch.texts) - 1, description="rollout row",
                                 style={"description_width": "initial"}))


# 10 -------------------------------------------------------------------------

def beta_view(policies: dict, rows: list[dict], reference, reward_model, tokenizer, prompts: list[str],
              beta: float, judge, seed: int = 0):
    samples = X.beta_samples(policies[beta], reference, reward_model, tokenizer, prompts, judge=judge, seed=seed)
    return X.beta_text(rows, beta, samples), X.plot_frontier(rows, beta)


def beta_widget(policies: dict, rows: list[dict], reference, reward_model, tokenizer, prompts: list[str], *,
                judge, beta: float | None = None) -> W.VBox:
    """Pick a beta of the sweep: fresh samples of its policy (``judge(texts)`` scores them), and where it
    sits on the frontier."""
    betas = sorted(policies)
    return _live(lambda beta, seed: beta_view(policies, rows, reference, reward_model, tokenizer, prompts, beta,
                                              judge, seed),
                 beta=W.SelectionSlider(options=betas, value=betas[0] if beta is None else beta, description="beta",
                                        continuous_update=False),
                 seed=_int(0, 0, 99, "sample seed"))
