"""Each algorithm's default run: where the time goes, whether its updates stay healthy, and whether the
judge on held-out prompts still rises in the second half.

- time split (generation / scoring / update), sampled tokens and tokens/s;
- health: the largest clip fraction and approx-KL of any iteration and their first-half means, against
  ``rl.HEALTHY_MAX`` / ``rl.HEALTHY_FIRST_HALF`` (docs/ppo-checklist.md);
- the judge's positive rate on the held-out prompts at the middle, three quarters and end of the run
  (a callback evaluates the policy in place; evaluation samples with its own generator, so the run's
  weights are the same as without it).

Uses the cached SFT model and reward model (trains them if absent), then trains every algorithm of
``rlhf-edu sentiment --algo`` once with its default settings (``RLHFSetup``), outside the cache so that
it really trains, and prints where the time goes: the seconds each trainer logs per iteration, split
where it logs a split (the policy-gradient loop logs only the total; DPO samples nothing).

    python bench/bench_algorithms.py [--algos ppo grpo]
"""

import argparse
import copy
import time

from rlhf_edu import algorithms, rl, stages
from rlhf_edu.model import frozen_copy
from rlhf_edu.sentiment import evaluation, pipeline

NAMES = {"ppo": "PPO", "pg": "policy gradient", "rloo": "RLOO", "grpo": "GRPO", "dpo": "DPO"}


def run(kind, sft, rm, tok, setup):
    cfg = getattr(setup, kind)
    algo = algorithms.get(kind)
    policy, reference = copy.deepcopy(sft), frozen_copy(sft)
    heldout = pipeline.heldout_prompts(setup)
    n = getattr(cfg, "iterations", 0)
    checkpoints, judge_at = {n // 2, (3 * n) // 4, n}, {}

    def measure(log, batch):  # the held-out judge at a few iterations, on the policy being trained
        if log["iteration"] + 1 in checkpoints:
            m, _ = evaluation.evaluate(policy, reference, rm, tok, heldout, setup.max_new_tokens)
            judge_at[log["iteration"] + 1] = m["judge_positive_rate"]

    t0 = time.perf_counter()
    if algo.samples:
        _, hist = algo.train(policy, reference, rm, tok, pipeline.rl_prompts(), cfg, progress=False, callback=measure)
    else:
        _, hist = algo.train(policy, reference, tok, pipeline.train_pairs(rl=setup), cfg, progress=False,
                             reward_model=rm, prompts=pipeline.rl_prompts())
    wall = time.perf_counter() - t0
    logged = sum(h["seconds"] for h in hist)
    tokens = sum(h["tokens"] for h in hist)
    if kind == "dpo":
        what = f"{len(hist)} steps of {cfg.batch_size} pairs ({cfg.epochs} pass)"
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
    report = rl.health_report(hist, n or None)
    if report:
        print("  " + report.replace("\n", "\n  "))
    if judge_at:
        at = ", ".join(f"{i}: {v:.3f}" for i, v in sorted(judge_at.items()))
        print(f"  held-out judge positive rate at iteration {at} (the wall time above includes these evaluations)")
    return wall, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--algos", nargs="+", choices=list(NAMES), default=list(NAMES))
    args = ap.parse_args()
    print(stages.describe_size())
    tok = pipeline.tokenizer()
    sft, _ = pipeline.sft_model()
    rm, _ = pipeline.reward_model()
    setup = pipeline.rl_setup()
    results = {kind: run(kind, sft, rm, tok, setup) for kind in args.algos}
    print("\nalgorithm         seconds   sampled tokens   tokens/s")
    for kind, (wall, tokens) in results.items():
        print(f"{NAMES[kind]:<16}{wall:>9.1f}{tokens:>17,}{tokens / wall:>11,.0f}")


if __name__ == "__main__":
    main()
