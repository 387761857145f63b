"""rlhf_edu: Reinforcement Learning from Human Feedback, from scratch.

One module per idea; the core is flat, each task has its folder.

The core, in the order of the story:

- ``formulas``        the worked formulas (sequence probability, Bradley-Terry, PPO clip, KL ...)
- ``tokenizer``       GPT-2 BPE (offline) and a compact BPE trained on the corpus
- ``model``           the micro GPT-2: config, forward, KV-cache generation, log-probs
- ``optim``           AdamW, written out (why: see the module), and its one factory
- ``train``           pretraining and SFT (next-token loss, batches, the training loop)
- ``checkpoint``      safetensors checkpoints that resume exactly
- ``reward_model``    the Bradley-Terry reward model and its calibration
- ``rollout``         sample completions and score them (shared by every RL loop)
- ``rl``              what every RL trainer shares: base config, freezing, prompt picking, lr schedule,
                      optimiser step, log keys, masked statistics, the leave-one-out baseline, and the
                      healthy ranges of clip fraction and approx-KL (a warning when a run leaves them)
- ``policy_gradient`` RLHF with the vanilla policy-gradient loop
- ``ppo``             RLHF with PPO (the PPO loss is ``ppo_losses``)
- ``rloo``            REINFORCE with the leave-one-out baseline (Ahmadian et al., 2024)
- ``grpo``            group-relative advantages and PPO's clip, no value head (Shao et al., 2024)
- ``dpo``             Direct Preference Optimisation: preference pairs train the policy directly
- ``algorithms``      the registry: name -> config, trainer, display name, whether it samples
- ``evaluation``      sampling for evaluation, text metrics, the metrics table (shared by both tasks)
- ``stats``           confidence intervals over seeds x prompts, paired differences, a common KL
- ``best_of_n``       best-of-n with the reward model (no training): one rollout gives a whole curve, and its KL
- ``overoptimization`` Gao et al.'s gold reward against sqrt(KL): the two fits, R^2, their peaks
- ``stages``          run size, the on-disk cache, stages trained once (shared by both tasks)
- ``overrides``       ``--set FIELD=VALUE``: any setting changed from the command line, typed and checked
- ``files``           reading a dataset's rows from the Hub or local files
- ``hf``              a Hugging Face ``transformers`` model behind our model interface

The tasks:

- ``sentiment/``      tweets made positive (notebooks 06-10): corpus, VADER judge, evaluation, pipeline
- ``tldr/``           TL;DR summaries (notebook 11): posts, fact judge, comparisons, CarperAI loaders,
                      evaluation, pipeline

Teaching helpers:

- ``examples``        every worked number of the story, computed by ``formulas``
- ``plots``, ``widgets``, ``figures``  what the notebooks draw and the sliders they show
- ``show``            a function's source, highlighted, and settings one field a line
- ``words``           the real-word rate: does the micro model write words?
- ``explore``         what the live widgets compute on the trained models (tested without a browser)
- ``exercises/``      graded exercises for notebooks 01-12: checks, solutions, a grading command

- ``cli``             the ``rlhf-edu`` command line
"""

__version__ = "0.1.0"

# tqdm's monitor thread wakes every 10 s and can print a TqdmSynchronisationWarning to
# stderr in the middle of a *later* notebook cell (it did, once, in CI). Our bars are
# all plain loops that refresh themselves, so the thread is never needed.
import tqdm as _tqdm  # noqa: E402

_tqdm.tqdm.monitor_interval = 0
