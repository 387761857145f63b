"""One check per exercise: ``check.<name>(your_function)`` grades it and prints a report.

Each check runs your function on fixed cases (the story's numbers where there are some), seeded
random batches with padding, and edge cases, and compares it with the package's own code on the same
tensors. It prints ✓ per case, or the first failing case with its inputs, the expected and the actual
output, and a hint (a specific one when your output matches a known mistake). It returns a ``Result``
(``passed``, ``report``, and for a failure the case's ``inputs``, ``expected`` and ``got``). A function
that still raises ``NotImplementedError`` is reported as "not done yet": a check never raises.

``help(check.gae)`` shows an exercise's statement. The checks are declared in ``nb01_03.py``,
``nb04_05.py``, ``nb06_08.py``, ``nb09.py`` and ``nb10_12.py``.
"""

from .nb01_03 import (
                      bradley_terry_prob,
                      discounted_returns,
                      grad_log_softmax,
                      policy_gradient_loss,
                      reward_model_loss,
                      sequence_logprob,
)
from .nb04_05 import importance_ratio, kl_k1, kl_k3, kl_penalised_reward, ppo_clip_objective
from .nb06_08 import (
                      causal_attention_mask,
                      next_token_loss,
                      pg_loss,
                      position_ids,
                      reward_model_batch_loss,
                      sequence_advantages,
                      sequence_reward,
)
from .nb09 import gae, leave_one_out, ppo_policy_loss, ppo_value_loss, token_rewards, whiten
from .nb10_12 import (
                      best_of_n,
                      crossed_variance_of_mean,
                      dpo_loss,
                      grpo_advantages,
                      judge_agreement,
                      kl_regularised_objective,
                      optimal_policy,
)

__all__ = [
    "sequence_logprob", "discounted_returns",                                   # 01
    "bradley_terry_prob", "reward_model_loss",                                  # 02
    "policy_gradient_loss", "grad_log_softmax",                                 # 03
    "importance_ratio", "ppo_clip_objective",                                   # 04
    "kl_k1", "kl_k3", "kl_penalised_reward",                                    # 05
    "next_token_loss", "causal_attention_mask", "position_ids",                 # 06
    "sequence_reward", "reward_model_batch_loss",                               # 07
    "sequence_advantages", "pg_loss",                                           # 08
    "token_rewards", "gae", "whiten", "ppo_policy_loss", "ppo_value_loss", "leave_one_out",  # 09
    "kl_regularised_objective", "optimal_policy",                               # 10
    "judge_agreement", "crossed_variance_of_mean",                              # 11
    "dpo_loss", "grpo_advantages", "best_of_n",                                 # 12
]
