"""The tweet-sentiment task (notebooks 06-10 and 12, ``rlhf-edu sentiment`` and ``compare``).

- ``phrases``     the phrase banks synthetic tweets are built from (data)
- ``corpus``      the tweets: offline generator, splits, prompts, the Hugging Face loader
- ``judge``       the independent sentiment judge (VADER): evaluates, never trains
- ``evaluation``  what every table of the task reports (judge, reward, KL, diversity, perplexity)
- ``pipeline``    the task's settings and stages: pretrain -> SFT -> reward model -> RL, cached
- ``compare``     PPO, policy gradient, RLOO, GRPO and DPO under one budget (notebook 12, ``rlhf-edu compare``)
- ``frontiers``   the runs read at equal KL with intervals, best-of-n, Gao et al.'s over-optimisation fits
"""
