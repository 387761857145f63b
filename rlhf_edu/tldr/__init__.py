"""The TL;DR summarisation task (notebook 11, ``rlhf-edu summarize``).

- ``phrases``      the phrase banks posts and summaries are built from (data)
- ``text``         text helpers shared by the generator and the judge
- ``posts``        posts, reference summaries and their key facts; splits; SFT rows
- ``judge``        the independent fact judge: coverage and hallucination
- ``comparisons``  preference pairs with a stated reason, for the reward model
- ``carperai``     the real CarperAI datasets (Hub, cache or local files)
- ``evaluation``   ROUGE, the judge's rates, reward and KL; the reward model on the policy's summaries
- ``pipeline``     the task's settings and stages at two scales: the micro GPT-2 (cached) and Hugging Face
- ``rounds``       online rounds: a simulated labeller compares the policy's own summaries, the reward
                   model retrains, PPO runs again; ``control``: round 0's reward model with the rounds' PPO
- ``ceiling``      best-of-n from SFT picked by each reward model: how far that reward model can lead;
                   its agreement with the labeller on those samples
- ``levers``       round 1's reward model retrained with one setting changed, to see what raises the ceiling
"""
