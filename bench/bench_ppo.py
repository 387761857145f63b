"""Time split of PPO iterations (generation / scoring / update) and tokens/s.

Uses the cached SFT model and reward model (trains them if absent), runs a few
PPO iterations with the default PPOConfig, and prints where the time goes.

    python bench/bench_ppo.py [--iterations 5]
"""

import argparse
import copy
import dataclasses
import time

from rlhf_edu.model import frozen_copy
from rlhf_edu.ppo import train_ppo
from rlhf_edu.sentiment import pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()
    tok = pipeline.tokenizer()
    sft, _ = pipeline.sft_model()
    rm, _ = pipeline.reward_model()
    cfg = dataclasses.replace(pipeline.rl_setup().ppo, iterations=args.iterations)
    policy, reference = copy.deepcopy(sft), frozen_copy(sft)
    t0 = time.perf_counter()
    _, hist = train_ppo(policy, reference, rm, tok, pipeline.rl_prompts(), cfg, progress=False)
    wall = time.perf_counter() - t0
    gen = sum(h["seconds_generation"] for h in hist)
    score = sum(h["seconds_scoring"] for h in hist)
    upd = sum(h["seconds_update"] for h in hist)
    tokens = sum(h["tokens"] for h in hist)
    print(f"PPO, {args.iterations} iterations of {cfg.batch_size} completions (max {cfg.max_new_tokens} new tokens), "
          f"{cfg.ppo_epochs} epochs x {cfg.batch_size // cfg.minibatch_size} minibatches")
    other = wall - gen - score - upd  # set-up (value head, optimizer), prompt drawing, decoding, logging
    n = len(hist)
    print(f"  per iteration: {wall / n:.2f} s = generation {gen / n:.2f} s + scoring {score / n:.2f} s"
          f" + update {upd / n:.2f} s + other {other / n:.2f} s")
    print(f"  share: generation {100 * gen / wall:.0f}%, scoring {100 * score / wall:.0f}%, "
          f"update {100 * upd / wall:.0f}%, other {100 * other / wall:.0f}%")
    print(f"  {tokens / wall:,.0f} response tokens/s through the whole loop")


if __name__ == "__main__":
    main()
