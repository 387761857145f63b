"""DPO: the loss by hand, the direction of its gradient, the pair layout, the frozen reference, bad settings."""

import math

import pytest
import torch
from tiny import TOK, tiny

from rlhf_edu.dpo import DPOConfig, dpo_loss, pair_batch, preference_spans, sequence_logprobs, train_dpo
from rlhf_edu.model import frozen_copy, token_logprobs
from rlhf_edu.reward_model import RewardModel

PAIRS = [("good day", "bad day"), ("so happy", "so sad"), ("love it", "hate it"), ("nice", "awful mess")]


def test_loss_equals_the_hand_computed_value():
    # log-ratios: chosen -1 - (-1.5) = 0.5, rejected -2 - (-1.5) = -0.5; beta 0.5 -> margin 0.5
    pc, pr = torch.tensor([-1.0]), torch.tensor([-2.0])
    rc, rr = torch.tensor([-1.5]), torch.tensor([-1.5])
    loss, r_w, r_l = dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-0.5)))  # -log sigma(0.5) = 0.474077
    assert (r_w.item(), r_l.item()) == pytest.approx((0.25, -0.25))
    # Stable far from 0: a margin of -1000 costs 1000, not inf.
    far, _, _ = dpo_loss(torch.tensor([-2000.0]), torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0]), 0.5)
    assert far.item() == pytest.approx(1000.0)


def test_gradient_raises_the_chosen_and_lowers_the_rejected_log_ratio():
    pc = torch.tensor([-3.0, -1.0], requires_grad=True)
    pr = torch.tensor([-2.0, -4.0], requires_grad=True)
    loss, _, _ = dpo_loss(pc, pr, torch.tensor([-2.5, -1.5]), torch.tensor([-2.5, -3.0]), beta=0.1)
    loss.sum().backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()  # descent: chosen up, rejected down
    assert torch.allclose(pc.grad, -pr.grad)  # only the difference matters


def test_pair_batch_layout_and_response_only_logprobs():
    spans = preference_spans(TOK, PAIRS, block_size=32)
    assert all(p == [TOK.eos_id] for p, _, _ in spans)  # one shared prompt: the start of a text
    assert spans[0][1] == TOK.encode("good day") + [TOK.eos_id]
    batch = pair_batch(spans, TOK.pad_id)
    n = len(PAIRS)
    assert batch.sequences.shape[0] == 2 * n and batch.prompt_len == 1
    assert batch.response_mask.sum(1).tolist() == [len(c) for _, c, _ in spans] + [len(r) for _, _, r in spans]
    model = tiny()
    got = sequence_logprobs(model, batch)
    for row, (p, y) in enumerate([(p, c) for p, c, _ in spans] + [(p, r) for p, _, r in spans]):
        seq = torch.tensor([p + y])  # the same text alone, unpadded: the pads change nothing
        want = token_logprobs(model, seq, torch.ones_like(seq))[0, len(p) - 1:].sum()
        assert got[row].item() == pytest.approx(want.item(), abs=1e-5)


def test_training_moves_the_margin_keeps_the_reference_and_logs():
    policy = tiny()
    reference = frozen_copy(policy)
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    prompts = ["good", "the"]
    cfg = DPOConfig(epochs=15, batch_size=4, lr=3e-3, anneal_lr=False, monitor_every=10, monitor_samples=4,
                    max_new_tokens=5)
    _, hist = train_dpo(policy, reference, TOK, PAIRS, cfg, progress=False, reward_model=RewardModel(tiny(1)),
                        prompts=prompts)
    for k, v in before.items():
        assert torch.equal(v, reference.state_dict()[k]), k
    assert len(hist) == 15
    assert hist[0]["margin"] == 0.0 and hist[0]["loss"] == pytest.approx(math.log(2))  # policy == reference
    assert hist[-1]["margin"] > 0.5 and hist[-1]["accuracy"] == 1.0
    for h in hist:
        for key in ("iteration", "loss", "accuracy", "margin", "chosen_reward", "rejected_reward", "chosen_logp",
                    "rejected_logp", "tokens", "pair_tokens", "seconds"):
            assert key in h and math.isfinite(h[key]), key
        assert h["tokens"] == 0  # offline: nothing sampled to train on
    monitored = [h for h in hist if "score" in h]
    assert [h["iteration"] for h in monitored] == [0, 10, 14]
    assert monitored[0]["kl_k1"] == 0.0 and monitored[-1]["kl_k3"] > 0


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=-0.1)
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0.0)
    with pytest.raises(ValueError, match=r"pairs\[1\] has an empty rejected response"):
        preference_spans(TOK, [("good", "bad"), ("fine", " ")], block_size=32)
    with pytest.raises(ValueError, match=r"pairs\[0\] has an empty chosen response"):
        pair_batch([([TOK.eos_id], [], [3])], TOK.pad_id)
    with pytest.raises(ValueError, match="monitor_every"):
        train_dpo(tiny(), frozen_copy(tiny()), TOK, PAIRS, DPOConfig(monitor_every=1), progress=False)


def test_the_reference_is_read_at_the_policys_temperature():
    # Policy = reference at the start, so every implicit reward is 0 and the first loss is log 2,
    # at any temperature, if (and only if) both log-probs use the same one.
    policy = tiny()
    _, hist = train_dpo(policy, frozen_copy(policy), TOK, PAIRS, DPOConfig(batch_size=4, temperature=0.7),
                        progress=False)
    assert hist[0]["loss"] == pytest.approx(math.log(2), abs=1e-6) and hist[0]["margin"] == pytest.approx(0, abs=1e-6)


def test_monitoring_does_not_change_the_training():
    runs = []
    for every in (0, 2):
        cfg = DPOConfig(epochs=3, batch_size=2, lr=3e-3, monitor_every=every, monitor_samples=4, max_new_tokens=4)
        _, hist = train_dpo(tiny(), frozen_copy(tiny()), TOK, PAIRS, cfg, progress=False,
                            reward_model=RewardModel(tiny(seed=1)), prompts=["good", "the"])
        runs.append([h["loss"] for h in hist])
    assert runs[0] == runs[1]


def test_the_trained_policy_prefers_chosen_over_rejected_relative_to_the_reference():
    # Recomputed from the pairs themselves, not read from the loss's own log: for every pair,
    # log pi(y_w)/pi_ref(y_w) - log pi(y_l)/pi_ref(y_l) > 0 after training, and exactly 0 before.
    policy = tiny()
    reference = frozen_copy(policy)
    batch = pair_batch(preference_spans(TOK, PAIRS, policy.config.block_size), TOK.pad_id)
    n = len(PAIRS)

    def margins():
        with torch.no_grad():
            lp, ref = sequence_logprobs(policy, batch), sequence_logprobs(reference, batch)
        return (lp[:n] - ref[:n]) - (lp[n:] - ref[n:])

    assert torch.equal(margins(), torch.zeros(n))
    train_dpo(policy, reference, TOK, PAIRS, DPOConfig(epochs=15, batch_size=4, lr=3e-3, anneal_lr=False),
              progress=False)
    assert (margins() > 0).all(), margins()
