"""The tweet-sentiment task (notebooks 06-10, ``rlhf-edu sentiment``).

- ``phrases``     the phrase banks synthetic tweets are built from (data)
- ``corpus``      the tweets: offline generator, splits, prompts, the Hugging Face loader
- ``judge``       the independent sentiment judge (VADER): evaluates, never trains
- ``evaluation``  what every table of the task reports (judge, reward, KL, diversity, perplexity)
- ``pipeline``    the task's settings and stages: pretrain -> SFT -> reward model -> RL, cached
"""
