"""The algorithm registry: every RL (and DPO) trainer the package has, by name.

The CLI (``--algo``), ``stages.train_policy``, the comparison of notebook 12 and the notebooks read
this one table. Adding an algorithm is one module (its config, loss and loop) and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .dpo import DPOConfig, train_dpo
from .grpo import GRPOConfig, train_grpo
from .policy_gradient import PGConfig, train_policy_gradient
from .ppo import PPOConfig, train_ppo
from .rloo import RLOOConfig, train_rloo


@dataclass(frozen=True)
class Algorithm:
    name: str          # the short name: --algo, cache folders, RLHFSetup's field
    display: str       # how tables and plots name it
    config: type       # its config dataclass (an ``rl.RLConfig``)
    train: Callable    # its trainer: (policy, reference, ...) -> (model, per-iteration history)
    samples: bool      # True: learns from completions it samples and the reward model scores;
                       # False: learns from fixed preference pairs (DPO), its trainer takes pairs


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("ppo", "PPO", PPOConfig, train_ppo, samples=True),
    Algorithm("pg", "policy gradient", PGConfig, train_policy_gradient, samples=True),
    Algorithm("rloo", "RLOO", RLOOConfig, train_rloo, samples=True),
    Algorithm("grpo", "GRPO", GRPOConfig, train_grpo, samples=True),
    Algorithm("dpo", "DPO", DPOConfig, train_dpo, samples=False),
)}
NAMES = tuple(ALGORITHMS)
DISPLAY = {name: a.display for name, a in ALGORITHMS.items()}


def get(name: str) -> Algorithm:
    """The algorithm called ``name``, or a ``ValueError`` listing the known ones."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown RL algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
