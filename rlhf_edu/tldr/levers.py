"""Levers on the reward model's ceiling: round 1's reward model trained again with one setting changed.

``ceiling.py`` measures how far a reward model can lead (best-of-n from SFT). To find what raises
that ceiling, each lever below retrains round 1's reward model (``rounds.round_reward_model``: the
same round 0 policy and seeds, one setting of ``RoundsConfig`` changed) and reads it on the
held-out posts, with no PPO run needed:

- **agreement**: how often it orders two SFT samples of a post as the labeller without noise would
  (``ceiling.agreement``), the ranking that best-of-n and PPO lean on;
- **the ceiling**: best-of-4 and best-of-16 minus best-of-1 (``ceiling.ceiling``).

``LEVERS`` holds what each changes. "label noise 0" is an ablation, not a lever one can buy: it says
how much of the gap the labeller's mistakes explain.
"""

from __future__ import annotations

from dataclasses import replace

from . import pipeline as sm
from . import rounds

# What each lever changes, relative to the rounds' settings (so test size scales them too).
LEVERS = {
    "as built": lambda c: {},
    "twice the labels": lambda c: {"comparisons": 2 * c.comparisons, "posts_per_round": 2 * c.posts_per_round},
    # The same number of labels, spent on the pairs the current reward model is least sure of, out of
    # twice as many candidates (sampling is cheap; labels are what people cost).
    "uncertain pairs": lambda c: {"pick": "uncertain", "posts_per_round": 2 * c.posts_per_round},
    "twice the RM steps": lambda c: {"rm_steps": 2 * c.rm_steps},
    # At 150 steps of 32 pairs the model sees each of twice the labels less than once: more of both.
    "4x labels and steps": lambda c: {"comparisons": 4 * c.comparisons, "posts_per_round": 4 * c.posts_per_round,
                                      "rm_steps": 4 * c.rm_steps},
    "label noise 0.05": lambda c: {"noise": 0.05},
    "label noise 0": lambda c: {"noise": 0.0},
}


def variant(cfg: rounds.RoundsConfig, name: str) -> rounds.RoundsConfig:
    """``cfg`` with lever ``name``'s settings."""
    if name not in LEVERS:
        raise ValueError(f"lever must be one of {list(LEVERS)}, got {name!r}")
    return replace(cfg, **LEVERS[name](cfg))


def reward_model(name: str, s: sm.SummarySetup | None = None, cfg: rounds.RoundsConfig | None = None,
                 progress: bool | None = None) -> tuple:
    """Round 1's reward model with lever ``name``. Returns (reward model, its round's stats).

    Cached as that round's reward model (``rounds.round_reward_model``): "as built" is the rounds' own
    round 1, and ``rounds.run_round(1, s, variant(cfg, name))`` then runs only its PPO."""
    cfg = variant(cfg or rounds.rounds_config(), name)
    rm, _, stats = rounds.round_reward_model(1, s, replace(cfg, rounds=max(cfg.rounds, 1)), progress)
    return rm, stats
