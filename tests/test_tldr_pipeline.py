"""The summarisation pipeline at both scales, and the known bugs of public implementations."""

import dataclasses
import pathlib

import pytest
import torch

from rlhf_edu.model import GPT, GPTConfig, frozen_copy, generate, response_logprobs
from rlhf_edu.ppo import PPOConfig, train_ppo
from rlhf_edu.reward_model import RewardModel, RMTrainConfig
from rlhf_edu.rollout import collect_rollout
from rlhf_edu.tldr import evaluation as tldr_evaluation
from rlhf_edu.tldr import judge
from rlhf_edu.tldr import pipeline as sm
from rlhf_edu.tldr import posts as tldr_posts
from rlhf_edu.tokenizer import BPETokenizer, GPT2Tokenizer
from rlhf_edu.train import TrainConfig

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def posts():
    return tldr_posts.generate_posts(400, seed=3)


@pytest.fixture(scope="module")
def tok(posts):
    return BPETokenizer.train([p.prompt + p.reference for p in posts], vocab_size=400)


def tiny_gpt(tok, block_size=192, dropout=0.0):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, d_model=32,
                         dropout=dropout))


# ---------------------------------------------------------------- bug: SFT loss leaking onto the prompt

def test_sft_loss_covers_the_summary_and_its_eos_only(posts, tok):
    pairs = tldr_posts.sft_rows(posts[:8])
    x, y, m = sm.sft_data(tok, pairs, block_size=192, batch_size=8, seed=0)(0)
    for row in range(8):
        targets = y[row][m[row].bool()].tolist()
        # Exactly the tokens of *some* label + EOS: never a prompt token, never a pad.
        assert targets[-1] == tok.eos_id
        assert tok.decode(targets[:-1]) in {s for _, s in pairs}
    assert not ((y == tok.pad_id) & m.bool()).any()


def test_long_prompts_are_cut_from_the_left_keeping_tldr(tok):
    ids = tok.encode("SUBREDDIT: r/x\nTITLE: t\nPOST: " + "word " * 200 + "\nTL;DR:")
    kept = sm.fit_prompt(ids, 30)
    assert len(kept) == 30 and tok.decode(kept).endswith("TL;DR:")
    with pytest.raises(ValueError):
        sm.fit_prompt(ids, 0)


# ---------------------------------------------------------------- bug: action mask off by one

def test_first_generated_token_is_trained_and_pads_are_not(posts, tok):
    model = tiny_gpt(tok)
    prompts = [p.prompt for p in posts[:6]]
    gen = generate(model, tok.encode_batch(prompts), 16, tok.eos_id, tok.pad_id,
                   generator=torch.Generator().manual_seed(0))
    assert (gen.response_mask[:, 0] == 1).all()  # the first generated token always counts
    lp = response_logprobs(model, gen)
    # Column 0 is the first generated token's log-prob: the sampler's own number.
    torch.testing.assert_close(lp[:, 0], gen.logprobs[:, 0], atol=1e-5, rtol=0)
    after_eos = (gen.responses == tok.pad_id) & ~gen.response_mask.bool()
    assert (gen.response_mask[after_eos] == 0).all()


# ---------------------------------------------------------------- bug: reward read from a pad

def test_reward_is_read_at_the_eos_not_at_a_pad(tok):
    rm = RewardModel(tiny_gpt(tok)).eval()
    text = tok.encode("SUBREDDIT: r/x\nTITLE: t\nPOST: hello\nTL;DR: a summary") + [tok.eos_id]
    alone = rm(torch.tensor([text]), torch.ones(1, len(text), dtype=torch.long))
    # The same text followed by pads (as after generation) and preceded by left pads.
    ids = torch.tensor([[tok.pad_id] * 3 + text + [tok.pad_id] * 4])
    mask = torch.tensor([[0] * 3 + [1] * len(text) + [0] * 4])
    torch.testing.assert_close(rm(ids, mask), alone, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- bug: a missing EOS

def test_a_summary_that_never_ends_gets_the_no_eos_score(posts, tok):
    model = tiny_gpt(tok)
    rm = RewardModel(tiny_gpt(tok)).eval()
    prompts = [p.prompt for p in posts[:8]]
    # 3 new tokens from an untrained model over 400 ids: almost no row reaches EOS.
    ro = collect_rollout(model, frozen_copy(model), rm, tok, prompts, 3, 1.0,
                         torch.Generator().manual_seed(0), no_eos_penalty=-3.0)
    ended = ((ro.sequences[:, ro.prompt_len:] == tok.eos_id) & ro.response_mask.bool()).any(1)
    assert (~ended).any()
    assert (ro.scores[~ended] == -3.0).all()
    raw = rm(ro.sequences, ro.attention_mask)
    torch.testing.assert_close(ro.scores[ended], raw[ended])


# ---------------------------------------------------------------- the offline pipeline, tiny

@pytest.mark.slow  # trains a tiny pipeline
def test_offline_stages_run_and_ratio_starts_at_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RLHF_EDU_CACHE", str(tmp_path))
    setup = sm.SummarySetup(
        n_posts=600, vocab_size=400, block_size=192, max_new_tokens=12,
        pretrain=TrainConfig(steps=2, batch_size=4, eval_every=2),
        sft=TrainConfig(steps=2, batch_size=4, eval_every=2), rm_pairs=40, rm_heldout_pairs=12,
        rm=RMTrainConfig(steps=2, batch_size=4), calibration_samples=8,
        ppo=PPOConfig(iterations=1, batch_size=4, minibatch_size=2, max_new_tokens=12, no_eos_penalty=-3.0))
    sft, _ = sm.sft_model(setup, progress=False)
    rm, info = sm.reward_model(setup, progress=False)
    assert 0 <= info["heldout_accuracy"] <= 1 and set(info["accuracy_by_reason"]) == set(setup.pair_reasons)
    policy, hist = sm.ppo_policy(setup, progress=False)
    assert abs(hist[0]["ratio_first_minibatch"] - 1) < 1e-6
    metrics, texts = sm.evaluate_offline({"SFT": sft, "PPO": policy}, setup, n=6)
    for m in metrics.values():
        assert {"rouge1", "rouge2", "rougeL", "coverage", "hallucination_rate", "kl_k1"} <= set(m)
        assert 0 <= m["coverage"] <= 1
    assert metrics["SFT"]["kl_k1"] == pytest.approx(0.0, abs=1e-6)  # the SFT model *is* the reference
    # Cached: the second call loads the same weights instead of training.
    again, _ = sm.ppo_policy(setup, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), policy.state_dict().values()))

    # Each stage's key covers only what it depends on: a new beta trains PPO alone, new SFT
    # settings reuse pretraining.
    def new_stages(run):
        before = {d.name for d in tmp_path.iterdir()}
        run()
        return sorted(name.split("-")[1] for name in {d.name for d in tmp_path.iterdir()} - before)

    other_beta = dataclasses.replace(setup, ppo=dataclasses.replace(setup.ppo, beta=0.5))
    assert new_stages(lambda: sm.ppo_policy(other_beta, progress=False)) == ["ppo"]
    other_sft = dataclasses.replace(setup, sft=dataclasses.replace(setup.sft, steps=3))
    assert new_stages(lambda: sm.sft_model(other_sft, progress=False)) == ["sft"]


def test_every_summary_setting_is_in_some_stage_key():
    # A new SummarySetup field that no stage key covers would let a stale checkpoint be reused.
    fields = {f.name for f in dataclasses.fields(sm.SummarySetup)}
    assert fields == set(sm.STAGE_FIELDS["ppo"]) | {"ppo", "eval_posts"}  # eval_posts: read at evaluation only
    # The reward model is calibrated on samples for rl_prompts(), which reads these.
    assert {"n_posts", "seed", "vocab_size", "block_size", "max_new_tokens"} <= set(sm.STAGE_FIELDS["rm"])


def test_rm_judge_agreement_counts_pairs_the_judge_orders(posts, tok):
    # A "reward model" that scores by the judge itself agrees on every pair; its negative on none.
    few = [p for p in posts if len(tok.encode(p.prompt)) < 150][:6]
    by_prompt = {p.prompt: p for p in few}

    class JudgeAsReward:
        def __init__(self, sign):
            self.sign = sign

        def __call__(self, sequences, attention_mask):
            out = []
            for row, m in zip(sequences.tolist(), attention_mask.tolist()):
                text = tok.decode([t for t, keep in zip(row, m) if keep and t != tok.eos_id])
                prompt, summary = text[: text.index("TL;DR:") + 6], text[text.index("TL;DR:") + 6:]
                post = by_prompt[prompt]
                out.append(self.sign * (judge.fact_coverage(post, summary)
                                        - judge.hallucination(post, summary)))
            return torch.tensor(out)

    policy = tiny_gpt(tok)
    agreement = tldr_evaluation.rm_judge_agreement
    good = agreement(policy, JudgeAsReward(1.0), tok, few, samples_per_post=4, max_new_tokens=12)
    bad = agreement(policy, JudgeAsReward(-1.0), tok, few, samples_per_post=4, max_new_tokens=12)
    assert good["pairs"] == bad["pairs"] > 0
    assert good["agreement"] == 1.0 and bad["agreement"] == 0.0
    with pytest.raises(ValueError):
        tldr_evaluation.rm_judge_agreement(policy, JudgeAsReward(1.0), tok, few, samples_per_post=1)


def test_rouge_matches_hand_counts():
    r = tldr_evaluation.rouge(["the cat sat"], ["the cat sat down"])
    assert r["rouge1"] == pytest.approx(2 * 0.75 * 1.0 / 1.75)
    assert tldr_evaluation.rouge(["x"], ["y"])["rouge1"] == 0.0
    with pytest.raises(ValueError):
        tldr_evaluation.rouge(["a"], [])


# ---------------------------------------------------------------- the Hugging Face scale, offline

transformers = pytest.importorskip("transformers")


def test_hf_model_matches_our_conventions():
    from rlhf_edu import hf
    from rlhf_edu.model import left_pad

    tok = GPT2Tokenizer()
    m = hf.tiny_gpt2(tok.vocab_size, block_size=64).eval()
    prompts = [tok.encode("Hello world, how are"), tok.encode("Hi")]
    g = generate(m, prompts, 6, tok.eos_id, tok.pad_id, generator=torch.Generator().manual_seed(0))
    g2 = generate(m, prompts, 6, tok.eos_id, tok.pad_id, generator=torch.Generator().manual_seed(0),
                  use_cache=False)
    assert torch.equal(g.sequences, g2.sequences)  # KV cache == recomputing the prefix
    lp = response_logprobs(m, g)
    torch.testing.assert_close(lp * g.response_mask, g.logprobs * g.response_mask, atol=1e-5, rtol=0)
    ids, mask = left_pad([prompts[1]], tok.pad_id, length=6)
    padded, _ = m(ids, attention_mask=mask)
    plain, _ = m(torch.tensor([prompts[1]]))
    torch.testing.assert_close(padded[:, -1], plain[:, -1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="block_size"):
        m(torch.zeros(1, 65, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_hf_ppo_ratio_is_one_with_dropout_configured_and_in_bf16(dtype):
    # GPT-2's config has dropout 0.1 everywhere: PPO must switch it off, and old and new
    # log-probs must come out of the same float32 computation whatever the weights' dtype.
    from rlhf_edu import hf

    tok = GPT2Tokenizer()
    policy = hf.tiny_gpt2(tok.vocab_size, block_size=64).to(dtype)
    assert policy.hf.config.resid_pdrop > 0
    rm = RewardModel(hf.tiny_gpt2(tok.vocab_size, block_size=64, seed=1)).to(dtype)
    cfg = PPOConfig(iterations=1, batch_size=4, minibatch_size=2, max_new_tokens=6, ppo_epochs=1)
    _, hist = train_ppo(policy, frozen_copy(policy), rm, tok, ["Hello there", "TL;DR:", "A post", "Hi"], cfg,
                        progress=False)
    assert abs(hist[0]["ratio_first_minibatch"] - 1) < 1e-6


@pytest.fixture(scope="module")
def hf_smoke():
    """One smoke-sized run of the Hugging Face path on the CarperAI-schema fixtures (shared: it is slow)."""
    run = sm.HFRun.smoke(tldr_dir=str(FIXTURES / "tldr"), comparisons_dir=str(FIXTURES / "tldr_comparisons"))
    return run, sm.run_hf(run, progress=False)


@pytest.mark.slow  # trains a tiny pipeline
def test_hf_pipeline_runs_on_the_carperai_fixtures(hf_smoke):
    _, res = hf_smoke
    assert set(res["metrics"]) == {"SFT", "PPO"}
    for m in res["metrics"].values():
        assert {"rouge1", "rm_score", "kl_k1"} <= set(m) and "coverage" not in m  # real data: no judge
    assert abs(res["ppo_history"][0]["ratio_first_minibatch"] - 1) < 1e-6
    assert len(res["samples"]["PPO"]) == len(res["eval_prompts"]) > 0


def test_hf_checkpoint_round_trip(tmp_path):
    from rlhf_edu import checkpoint as ckpt
    from rlhf_edu import hf

    m = hf.tiny_gpt2(300, block_size=32)
    ckpt.save_model(m, tmp_path, m.config.to_dict())
    back = hf.from_config_dict(ckpt.read_config(tmp_path)["config"])
    ckpt.load_weights(back, tmp_path)
    x = torch.randint(0, 300, (2, 8))
    torch.testing.assert_close(back.eval()(x)[0], m.eval()(x)[0])


@pytest.mark.slow  # trains a tiny pipeline
def test_cli_summarize_hf_tiny_on_fixtures(tmp_path, capsys, monkeypatch, hf_smoke):
    from rlhf_edu import cli

    # The pipeline itself ran in the fixture; here: the CLI builds the right run and reports it.
    smoke_run, res = hf_smoke
    seen = []
    monkeypatch.setattr(sm, "run_hf", lambda run, progress=True: seen.append(run) or res)
    code = cli.main(["summarize", "--hf-model", "tiny", "--tldr-dir", str(FIXTURES / "tldr"),
                     "--comparisons-dir", str(FIXTURES / "tldr_comparisons"), "--out", str(tmp_path),
                     "--no-progress"])
    out = capsys.readouterr().out
    assert seen == [dataclasses.replace(smoke_run, max_rows=None)]
    assert code == 0 and "ROUGE-1" in out and "reward model held-out pairwise accuracy" in out
    assert res["samples"]["PPO"][0] in out
    assert (tmp_path / "ppo_training.png").stat().st_size > 0
