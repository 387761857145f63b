"""Training and generation speed of the micro GPT-2 on this machine.

Prints: a GEMM peak measured now (fp32, square matrices), training throughput
in tokens/s and achieved GFLOP/s as a share of that peak, generation
tokens/s with and without the KV cache (prompts of 4, 16 and 64 tokens), and the time to generate the tweet corpus.

    python bench/bench_train.py [--steps 20] [--batch 32] [--threads N]
"""

import argparse
import time

import torch

from rlhf_edu.model import GPT, count_parameters, generate, micro_config
from rlhf_edu.sentiment.corpus import generate_tweets
from rlhf_edu.train import TrainConfig, lm_loss, make_optimizer


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), sorted(times)[len(times) // 2]


def gemm_peak(n=1024, repeats=10):
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=c)
    best, _ = best_of(lambda: torch.mm(a, b, out=c), repeats)
    return 2 * n ** 3 / best / 1e9


def train_flops_per_token(cfg):
    # 6 N per token for the weight matmuls (forward 2N, backward 4N), plus attention scores and mixing:
    # 12 * n_layer * T * attn_dim per token (forward + backward, QK^T and AV).
    n = count_parameters(cfg)["total"] - cfg.vocab_size * cfg.d_model - cfg.block_size * cfg.d_model
    n += cfg.vocab_size * cfg.d_model  # the tied output layer is a matmul too
    return 6 * n + 12 * cfg.n_layer * cfg.block_size * cfg.attn_dim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = gemm_peak()
    print(f"GEMM peak (fp32 1024x1024, best of 10): {peak:.1f} GFLOP/s")

    cfg = micro_config(vocab_size=2048, block_size=64)
    model = GPT(cfg)
    opt = make_optimizer(model, TrainConfig())
    x = torch.randint(0, cfg.vocab_size, (args.batch, cfg.block_size))
    y = torch.randint(0, cfg.vocab_size, (args.batch, cfg.block_size))
    m = torch.ones_like(x)

    def step():
        loss = lm_loss(model, x, y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    best, median = best_of(step, args.steps)
    tokens = x.numel()
    gflops = train_flops_per_token(cfg) * tokens / best / 1e9
    print(f"training, batch {args.batch}x{cfg.block_size}: best step {best * 1000:.0f} ms, "
          f"median {median * 1000:.0f} ms")
    print(f"  {tokens / best:,.0f} tokens/s (best), {tokens / median:,.0f} tokens/s (median)")
    print(f"  {gflops:.1f} GFLOP/s = {100 * gflops / peak:.0f}% of the GEMM peak (best step), "
          f"{100 * gflops * best / median / peak:.0f}% (median step)")

    # Generation: 32 prompts x 32 new tokens, with and without the KV cache, at three prompt lengths
    # (a tweet prompt is ~4 tokens, a summarisation prompt 60-85). A cached step costs nearly the
    # same at any prompt length (only attention grows); recomputing the prefix costs more the longer it is.
    gen_cfg = micro_config(vocab_size=2048, block_size=128)
    gen_model = GPT(gen_cfg).eval()
    for prompt_len in (4, 16, 64):
        prompts = [list(range(5, 5 + prompt_len))] * 32
        times = {}
        for use_cache in (True, False):
            generate(gen_model, prompts, 4, eos_id=-1, pad_id=0, use_cache=use_cache)
            times[use_cache], _ = best_of(
                lambda p=prompts, c=use_cache: generate(gen_model, p, 32, eos_id=-1, pad_id=0, use_cache=c), 3)
        print(f"generation, 32 prompts of {prompt_len} tokens x 32 new tokens: "
              f"{32 * 32 / times[True]:,.0f} tokens/s with KV cache, {32 * 32 / times[False]:,.0f} without; "
              f"speed-up {times[False] / times[True]:.1f}x")
    # Where a cached step goes: at this size sampling (multinomial draws one exponential per
    # vocabulary entry) costs about as much as the whole 4-layer forward pass.
    probs = torch.softmax(torch.randn(32, gen_cfg.vocab_size), -1)
    sample, _ = best_of(lambda: torch.multinomial(probs, 1), 20)
    print(f"  sampling 32 tokens from {gen_cfg.vocab_size:,} ids takes {sample * 1000:.2f} ms; a cached step "
          f"(64-token prompt, its prefill averaged in) {times[True] / 32 * 1000:.2f} ms")

    # The offline corpus is generated in every fresh process that needs it (notebooks 06-10).
    t = time.perf_counter()
    tweets = generate_tweets()
    print(f"corpus: {len(tweets):,} synthetic tweets generated in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
