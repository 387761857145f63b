"""Time split of each algorithm's default run (generation / scoring / update), sampled tokens and tokens/s.

Uses the cached SFT model and reward model (trains them if absent), then trains every algorithm of
``rlhf-edu sentiment --algo`` once with its default settings (``RLHFSetup``), outside the cache so that
it really trains, and prints where the time goes: the seconds each trainer logs per iteration, split
where it logs a split (the policy-gradient loop logs only the total; DPO samples nothing).

    python bench/bench_algorithms.py [--algos ppo grpo]
"""

import argparse
import time

from rlhf_edu import stages
from rlhf_edu.sentiment import pipeline

NAMES = {"ppo": "PPO", "pg": "policy gradient", "rloo": "RLOO", "grpo": "GRPO", "dpo": "DPO"}


def run(kind, sft, rm, tok, rl):
    cfg = getattr(rl, kind)
    pairs = pipeline.train_pairs(rl=rl) if kind == "dpo" else None
    t0 = time.perf_counter()
    _, hist = stages.train_policy(kind, sft, rm, tok, pipeline.rl_prompts(), cfg, progress=False, pairs=pairs)
    wall = time.perf_counter() - t0
    logged = sum(h["seconds"] for h in hist)
    tokens = sum(h["tokens"] for h in hist)
    if kind == "dpo":
        what = f"{len(hist)} steps of {cfg.batch_size} pairs ({len(pairs)} pairs, {cfg.epochs} pass)"
    else:
        what = f"{len(hist)} iterations, {cfg.iterations * cfg.batch_size} completions sampled"
    print(f"{NAMES[kind]}: {what}")
    split = [k for k in ("generation", "scoring", "update") if f"seconds_{k}" in hist[0]]
    if split:
        parts = {k: sum(h[f"seconds_{k}"] for h in hist) for k in split}
        other = wall - sum(parts.values())  # set-up (copies, optimizer, value head), prompt drawing, decoding, logging
        print(f"  {wall:.1f} s = " + " + ".join(f"{k} {v:.1f} s" for k, v in parts.items()) + f" + other {other:.1f} s")
        print("  share: " + ", ".join(f"{k} {100 * v / wall:.0f}%" for k, v in parts.items())
              + f", other {100 * other / wall:.0f}%")
    else:
        print(f"  {wall:.1f} s ({logged:.1f} s logged by the trainer; it logs no split)")
    if tokens:
        print(f"  {tokens:,} sampled response tokens, {tokens / wall:,.0f} tokens/s through the whole loop")
    else:
        read = sum(h.get("pair_tokens", 0) for h in hist)
        print(f"  0 sampled tokens; {read:,} response tokens of pairs read, {read / wall:,.0f} tokens/s")
    return wall, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--algos", nargs="+", choices=list(NAMES), default=list(NAMES))
    args = ap.parse_args()
    print(stages.describe_size())
    tok = pipeline.tokenizer()
    sft, _ = pipeline.sft_model()
    rm, _ = pipeline.reward_model()
    rl = pipeline.rl_setup()
    results = {kind: run(kind, sft, rm, tok, rl) for kind in args.algos}
    print("\nalgorithm         seconds   sampled tokens   tokens/s")
    for kind, (wall, tokens) in results.items():
        print(f"{NAMES[kind]:<16}{wall:>9.1f}{tokens:>17,}{tokens / wall:>11,.0f}")


if __name__ == "__main__":
    main()
