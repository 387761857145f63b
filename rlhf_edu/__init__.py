"""rlhf_edu: Reinforcement Learning from Human Feedback, from scratch.

One module per idea of the story:

- ``formulas``        the worked formulas (sequence probability, Bradley-Terry, PPO clip, KL ...)
- ``examples``        every worked number of the story, computed by ``formulas``
- ``plots``, ``widgets``, ``figures``  what the notebooks draw and the sliders they show
- ``tokenizer``       GPT-2 BPE (offline) and a compact BPE trained on the corpus
- ``data``            the tweet corpus (synthetic offline default, Hugging Face loader)
- ``judge``           the independent sentiment judge (VADER): evaluates, never trains
- ``model``           the micro GPT-2: config, forward, KV-cache generation, log-probs
- ``train``, ``checkpoint``  pretraining and SFT; safetensors checkpoints that resume exactly
- ``reward_model``    the Bradley-Terry reward model
- ``rollout``         sample completions and score them (shared by both RL loops)
- ``policy_gradient`` RLHF with the vanilla policy-gradient loop
- ``ppo``             RLHF with PPO (the PPO loss lives here)
- ``evaluation``      the metrics every notebook and the CLI report
- ``pipeline``        each stage cached on disk, trained when absent
- ``cli``             ``rlhf-edu`` command line
"""

__version__ = "0.1.0"

# tqdm's monitor thread wakes every 10 s and can print a TqdmSynchronisationWarning to
# stderr in the middle of a *later* notebook cell (it did, once, in CI). Our bars are
# all plain loops that refresh themselves, so the thread is never needed.
import tqdm as _tqdm  # noqa: E402

_tqdm.tqdm.monitor_interval = 0
