"""rl.py: what every RL trainer shares, tested once here instead of five times."""

import warnings

import pytest
import torch
from tiny import PROMPTS, TOK, tiny, tiny_reward_model

from rlhf_edu import algorithms, rl
from rlhf_edu.model import frozen_copy


@pytest.mark.parametrize("field, value", [("lr", 0.0), ("temperature", 0.0), ("beta", -0.1), ("max_new_tokens", 0),
                                          ("max_grad_norm", 0.0)])
def test_every_config_checks_the_shared_settings(field, value):
    for algo in algorithms.ALGORITHMS.values():  # one check, inherited by every algorithm's config
        with pytest.raises(ValueError, match=field):
            algo.config(**{field: value})


def test_pick_prompts_gives_groups_of_k_consecutive_rows():
    g = torch.Generator().manual_seed(0)
    rows = rl.pick_prompts(PROMPTS, 5, 3, g)
    assert len(rows) == 15
    groups = [rows[i:i + 3] for i in range(0, 15, 3)]
    assert all(len(set(grp)) == 1 for grp in groups)
    assert len({grp[0] for grp in groups}) > 1  # drawn, not one prompt repeated


def test_learning_rate_decays_linearly_to_zero_only_when_annealed():
    cfg = rl.RLConfig(lr=1e-3)
    assert [rl.learning_rate(cfg, s, 4) for s in range(4)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert rl.learning_rate(rl.RLConfig(lr=1e-3, anneal_lr=False), 3, 4) == 1e-3


def test_warmup_ramps_the_first_steps_then_leaves_the_schedule_alone():
    from rlhf_edu.rloo import RLOOConfig

    cfg = RLOOConfig(lr=4e-4, warmup_iterations=3)
    assert [rl.learning_rate(cfg, i, 10) for i in range(5)] == pytest.approx([1e-4, 2e-4, 3e-4, 4e-4, 4e-4])
    annealed = RLOOConfig(lr=4e-4, anneal_lr=True, warmup_iterations=1)
    assert rl.learning_rate(annealed, 0, 10) == pytest.approx(2e-4)
    assert rl.learning_rate(annealed, 5, 10) == pytest.approx(2e-4)  # the decay alone after warm-up
    with pytest.raises(ValueError, match="warmup_iterations"):
        RLOOConfig(warmup_iterations=-1)


def test_freeze_stops_gradients_and_dropout():
    m = tiny(dropout=0.5).train()
    rl.freeze(m, None)
    assert not m.training and not any(p.requires_grad for p in m.parameters())


class Recorder:
    """An optimiser that records the gradient it is asked to step with."""

    def __init__(self, w):
        self.w, self.steps = w, []

    def zero_grad(self, set_to_none=True):
        self.w.grad = None

    def step(self):
        self.steps.append(self.w.grad.clone())


def test_optimizer_step_clears_then_clips_the_gradient():
    w = torch.nn.Parameter(torch.zeros(3))
    w.grad = torch.full((3,), 99.0)  # a stale gradient: must be cleared, not added to
    opt = Recorder(w)
    rl.optimizer_step(opt, (w * torch.tensor([300.0, 400.0, 0.0])).sum(), [w], max_grad_norm=1.0)
    assert torch.allclose(opt.steps[0], torch.tensor([0.6, 0.8, 0.0]))  # (300, 400, 0), cut to norm 1


SHARED = {"iteration", "score", "kl_k1", "kl_k3", "length", "tokens", "lr", "beta", "seconds", "seconds_generation",
          "seconds_scoring", "seconds_update"}


@pytest.mark.parametrize("name", [n for n, a in algorithms.ALGORITHMS.items() if a.samples])
def test_every_sampling_trainer_logs_the_shared_keys(name):
    algo = algorithms.get(name)
    small = {"ppo": dict(batch_size=4, minibatch_size=2, ppo_epochs=1), "pg": dict(batch_size=4),
             "rloo": dict(prompts_per_iteration=2, samples_per_prompt=2),
             "grpo": dict(prompts_per_iteration=2, group_size=2, minibatch_size=2, epochs=1)}[name]
    cfg = algo.config(iterations=2, max_new_tokens=4, **small)
    policy = tiny()
    _, hist = algo.train(policy, frozen_copy(policy), tiny_reward_model(), TOK, PROMPTS, cfg, progress=False)
    assert len(hist) == 2
    for h in hist:
        assert SHARED <= set(h), SHARED - set(h)
        # every sampling trainer reports how far an iteration moved the policy (read against rl.HEALTHY_MAX)
        assert h["approx_kl"] >= 0 and h["approx_kl"] < 1
        assert h["beta"] == cfg.beta and h["lr"] == rl.learning_rate(cfg, h["iteration"], 2)
    # The schedule reaches the optimiser: annealed and constant runs part after the first iteration.
    weights = {}
    for anneal in (True, False):
        policy = tiny()
        algo.train(policy, frozen_copy(policy), tiny_reward_model(), TOK, PROMPTS,
                   algo.config(iterations=2, max_new_tokens=4, anneal_lr=anneal, **small), progress=False)
        weights[anneal] = policy.wte.weight.detach().clone()
    assert not torch.equal(weights[True], weights[False])


# ---------------------------------------------------------------- the health of a run


def test_approx_kl_is_k3_over_real_tokens_only():
    old = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    assert rl.approx_kl(old, old, mask) == 0.0
    new = old + torch.tensor([[0.1, -0.2, 0.3], [0.0, 0.5, 50.0]])  # junk at the pad must not count
    d = torch.tensor([0.1, -0.2, 0.3, 0.0, 0.5])
    assert rl.approx_kl(new, old, mask) == pytest.approx(((d.exp() - 1) - d).mean().item(), rel=1e-6)


def test_one_step_trainers_log_the_step_they_took():
    """approx_kl_to_sampler measures the policy after its step against the rollout's log-probs: 0 before."""
    from rlhf_edu.rollout import collect_rollout

    policy = tiny()
    ro = collect_rollout(policy, frozen_copy(policy), tiny_reward_model(), TOK, PROMPTS[:4], 4, 1.0,
                         torch.Generator().manual_seed(0))
    assert rl.approx_kl_to_sampler(policy, ro) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        policy.wte.weight.add_(0.05 * torch.randn(policy.wte.weight.shape, generator=torch.Generator().manual_seed(1)))
    assert rl.approx_kl_to_sampler(policy, ro) > 1e-4


def _history(clip, kl):
    return [{"iteration": i, "clip_frac": c, "approx_kl": k} for i, (c, k) in enumerate(zip(clip, kl))]


def test_health_reads_the_peak_and_the_first_half_mean():
    calm = _history([0.1, 0.05, 0.02, 0.01], [0.01, 0.005, 0.001, 0.0])
    h = rl.health(calm)
    assert h["clip_frac"]["healthy"] and h["approx_kl"]["healthy"]
    assert h["clip_frac"]["max"] == 0.1 and h["clip_frac"]["at"] == 0
    assert h["clip_frac"]["first_half_mean"] == pytest.approx(0.075)
    hot_start = _history([0.38, 0.2, 0.0, 0.0], [0.18, 0.04, 0.0, 0.0])   # a whole-run mean would hide it
    h = rl.health(hot_start)
    assert not h["clip_frac"]["healthy"] and not h["approx_kl"]["healthy"]
    assert "OUTSIDE" in rl.health_report(hot_start) and "iteration 0" in rl.health_report(hot_start)
    # under every maximum, but the first half's mean is too high
    assert not rl.health(_history([0.25, 0.25, 0.0, 0.0], [0.01] * 4))["clip_frac"]["healthy"]
    # a one-step trainer logs approx-KL only
    assert set(rl.health([{"iteration": 0, "approx_kl": 0.001}])) == {"approx_kl"}


class _Bar:
    total = 4

    def set_postfix(self, **kw):
        pass


def test_report_warns_once_in_words_when_a_run_leaves_the_healthy_ranges():
    logs = _history([0.38, 0.35, 0.1, 0.1], [0.01, 0.01, 0.01, 0.01])
    history = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for log in logs:
            rl.report(_Bar(), history, {**log, "score": 0.0, "kl_k1": 0.0})
    assert len(history) == 4
    messages = [str(w.message) for w in caught if w.category is rl.UnhealthyRunWarning]
    # once at iteration 0 (not again at 1), once for the first half's mean clip fraction
    assert len(messages) == 2, messages
    assert messages[0].startswith("clip fraction 0.380 at iteration 0") and "learning rate" in messages[0]
    assert messages[1].startswith("mean clip fraction 0.365 over the first 2 iterations")
    assert rl.health_warnings(history, 4) == messages  # the same words, replayed from a cached run's log
    history = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for log in _history([0.1] * 4, [0.01] * 4):
            rl.report(_Bar(), history, {**log, "score": 0.0, "kl_k1": 0.0})
    assert not [w for w in caught if w.category is rl.UnhealthyRunWarning]
    # a one-iteration run has no first half: only the per-iteration check speaks
    assert rl.health_warnings(_history([0.2], [0.03]), 1) == []
