"""Wall time of every stage of ``rlhf-edu summarize`` from an empty cache, rounds included.

Our budget for it is 9 minutes on a quiet 2-core machine; shared machines stall, so next to the
seconds this prints the rounds' cost as a share of the base pipeline's, measured in the same run
(a ratio survives a slow machine better than a time does).

    python bench/bench_summarize.py [--cache DIR] [--rounds R]   # full size unless RLHF_EDU_SIZE=test

Without --cache it trains in a fresh temporary folder, removed at the end (the point is to time
training, not loading).
"""

import argparse
import dataclasses
import os
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=None, help="cache folder (default: a new temporary one)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds after round 0 (default: notebook 11's)")
    args = ap.parse_args()
    tmp = None if args.cache else tempfile.TemporaryDirectory(prefix="bench-summarize-")
    os.environ["RLHF_EDU_CACHE"] = args.cache or tmp.name
    from rlhf_edu import stages
    from rlhf_edu.tldr import pipeline as sm
    from rlhf_edu.tldr import rounds

    s = sm.setup()
    cfg = rounds.rounds_config()
    if args.rounds is not None:
        cfg = dataclasses.replace(cfg, rounds=args.rounds)
    print(f"size: {'full' if stages.full_size() else 'test'}; cache: {stages.cache_dir()}\n{cfg}")
    seconds = {}
    for name, fn in (("tokenizer + posts", lambda: sm.tokenizer(s)),
                     ("pretraining", lambda: sm.pretrained_model(s, progress=False)),
                     ("SFT", lambda: sm.sft_model(s, progress=False)),
                     ("reward model", lambda: sm.reward_model(s, progress=False)),
                     ("PPO (round 0)", lambda: sm.ppo_policy(s, progress=False))):
        t0 = time.perf_counter()
        fn()
        seconds[name] = time.perf_counter() - t0
        print(f"{name:>20}: {seconds[name]:6.1f} s", flush=True)
    base = sum(seconds.values())
    print(f"{'base pipeline':>20}: {base:6.1f} s")
    total_rounds = 0.0
    for r in range(1, cfg.rounds + 1):
        t0 = time.perf_counter()
        st = rounds.run_round(r, s, cfg, progress=False)["stats"]
        wall = time.perf_counter() - t0
        total_rounds += wall
        ppo = st["seconds_ppo"]
        print(f"{f'round {r}':>20}: {wall:6.1f} s (labels {st['seconds_labels']:.1f} s, reward model "
              f"{st['seconds_reward_model']:.1f} s, PPO {ppo:.1f} s)", flush=True)
    print(f"{'total':>20}: {base + total_rounds:6.1f} s; the rounds add {100 * total_rounds / base:.0f}% "
          f"to the base pipeline")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
