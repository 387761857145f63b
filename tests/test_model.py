"""The micro GPT-2: shapes, the 3-head resolution, KV cache, padding and log-prob alignment."""

import pytest
import torch
from tiny import TOK, tiny

from rlhf_edu.model import (
    GPT,
    GPTConfig,
    count_parameters,
    filter_logits,
    generate,
    left_pad,
    micro_config,
    response_logprobs,
    token_logprobs,
)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=97, block_size=40, n_layer=2, n_head=3, d_model=32)).eval()


def test_micro_preset_is_the_story_shape():
    cfg = micro_config()
    assert (cfg.n_layer, cfg.n_head, cfg.d_model) == (4, 3, 128)
    assert 128 % 3 != 0 and cfg.head_dim == 42 and cfg.attn_dim == 126


def test_parameter_count_matches_the_built_model():
    for vocab in (2048, 50257):
        cfg = micro_config(vocab_size=vocab)
        assert count_parameters(cfg)["total"] == GPT(cfg).num_parameters()
    assert count_parameters(micro_config(vocab_size=50257))["token_embedding"] == 50257 * 128


def test_cached_and_uncached_logits_agree(model):
    x = torch.randint(0, 97, (3, 12))
    full, _ = model(x)
    with torch.no_grad():
        _, past = model(x[:, :7], past_kv=model.new_kv_cache(3, 12))
        step_logits = []
        for t in range(7, 12):
            mask = torch.ones(3, t + 1, dtype=torch.long)
            logits, past = model(x[:, t:t + 1], attention_mask=mask, past_kv=past)
            step_logits.append(logits)
    assert past.length == 12
    assert torch.allclose(torch.cat(step_logits, 1), full[:, 7:], atol=1e-5)


def test_kv_cache_refuses_what_does_not_fit(model):
    with pytest.raises(ValueError, match="longer than the context"):
        model.new_kv_cache(1, model.config.block_size + 1)
    cache = model.new_kv_cache(2, 4)
    with torch.no_grad():
        model(torch.zeros(2, 3, dtype=torch.long), past_kv=cache)
        with pytest.raises(ValueError, match="the cache holds 4 tokens; 5 do not fit"):
            model(torch.zeros(2, 2, dtype=torch.long), past_kv=cache)
        with pytest.raises(ValueError, match="a batch of 2, got 3 rows"):
            model(torch.zeros(3, 1, dtype=torch.long), past_kv=model.new_kv_cache(2, 4))
    with pytest.raises(RuntimeError, match="torch.no_grad"):  # in-place writes would break backward
        model(torch.zeros(2, 1, dtype=torch.long), past_kv=model.new_kv_cache(2, 4))


def test_left_padded_prompt_gives_the_same_logits_as_unpadded(model):
    prompts = [[5, 6, 7, 8, 9], [10, 11]]
    ids, mask = left_pad(prompts, pad_id=0)
    padded, _ = model(ids, attention_mask=mask)
    for i, p in enumerate(prompts):
        alone, _ = model(torch.tensor([p]))
        assert torch.allclose(padded[i, -len(p):], alone[0], atol=1e-5)


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, None, None), (0.7, None, None), (1.0, 5, None),
                                                     (0.8, None, 0.9)])
def test_sampler_logprobs_match_recomputed(model, temperature, top_k, top_p):
    g = torch.Generator().manual_seed(3)
    gen = generate(model, [[1, 2, 3], [4]], 10, eos_id=96, pad_id=0, temperature=temperature,
                   top_k=top_k, top_p=top_p, generator=g)
    lp = response_logprobs(model, gen, temperature=temperature)
    m = gen.response_mask.bool()
    if top_k is None and top_p is None:
        # Full-distribution sampling: recomputed log-probs equal the sampler's (on-policy).
        assert torch.allclose(lp[m], gen.logprobs[m], atol=1e-5)
    else:
        # Truncated sampling draws from a renormalised distribution: the full softmax
        # gives *lower* log-probs, which is why RL samples from the full distribution.
        assert (lp[m] <= gen.logprobs[m] + 1e-6).all()


def test_scoring_from_a_start_position_equals_slicing_the_full_scores(model):
    # response_logprobs skips the output layer over the prompt; it must not change a single score.
    x = torch.randint(0, 97, (3, 14))
    mask = torch.ones_like(x)
    full, full_ent = token_logprobs(model, x, mask, temperature=0.7, return_entropy=True)
    part, part_ent = token_logprobs(model, x, mask, temperature=0.7, return_entropy=True, start=5)
    assert part.shape == (3, 14 - 1 - 5)
    torch.testing.assert_close(part, full[:, 5:])
    torch.testing.assert_close(part_ent, full_ent[:, 5:])
    with pytest.raises(ValueError, match="start"):
        token_logprobs(model, x, mask, start=13)


def test_cache_and_no_cache_generation_agree(model):
    a = generate(model, [[1, 2, 3], [4, 5]], 8, 96, 0, generator=torch.Generator().manual_seed(0))
    b = generate(model, [[1, 2, 3], [4, 5]], 8, 96, 0, generator=torch.Generator().manual_seed(0),
                 use_cache=False)
    assert torch.equal(a.sequences, b.sequences)
    assert torch.allclose(a.logprobs, b.logprobs, atol=1e-5)


def test_generation_stops_at_eos_and_masks_the_rest():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=10, block_size=30, n_layer=1, n_head=1, d_model=8)).eval()
    with torch.no_grad():
        m.wte.weight.zero_()
        m.wte.weight[9, 0] = 50.0  # make EOS (id 9) overwhelmingly likely...
        m.ln_f.weight.zero_()
        m.ln_f.bias.zero_()
        m.ln_f.bias[0] = 1.0        # ...from every position
    gen = generate(m, [[1, 2]], 5, eos_id=9, pad_id=0)
    assert gen.responses[0, 0] == 9
    assert gen.response_mask[0].tolist()[0] == 1 and gen.responses.shape[1] == 1


def test_top_k_and_top_p_filters():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    kept = ~torch.isinf(filter_logits(logits, top_p=0.5))
    assert kept[0, 0] and not kept[0, 3]


def test_bad_inputs_raise_clear_errors(model):
    with pytest.raises(ValueError, match="empty prompt"):
        generate(model, [[]], 4, 96, 0)
    with pytest.raises(ValueError, match="block_size"):
        generate(model, [list(range(1, 39))], 8, 96, 0)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 41, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        generate(model, [[1]], 4, 96, 0, temperature=0)
    with pytest.raises(ValueError, match="n_head"):
        GPTConfig(n_head=0)


def test_bad_inputs_get_errors_naming_them():
    model = tiny()
    with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 28\]"):
        model(torch.tensor([[1, 2, 29]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="prompts is empty"):
        generate(model, [], 4, TOK.eos_id, TOK.pad_id)
