"""Our AdamW (rlhf_edu/optim.py) against torch's, step by step."""

import pytest
import torch

from rlhf_edu.optim import AdamW, adamw


def _adam_trajectory(make_opt, steps=6):
    torch.manual_seed(0)
    w, b = torch.randn(5, 4, requires_grad=True), torch.randn(4, requires_grad=True)
    opt = make_opt(w, b)
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = 0.05 / (step + 1)  # the trainers set the lr every step
        x = torch.randn(3, 5, generator=g)
        loss = (x @ w + b).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach(), b.detach(), opt


@pytest.mark.parametrize("foreach", [False, True])
def test_our_adamw_makes_torch_adamw_updates(foreach):
    def groups(w, b):
        return [{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}]

    ours = _adam_trajectory(lambda w, b: AdamW(groups(w, b), lr=0.05, betas=(0.9, 0.95)))
    ref = _adam_trajectory(lambda w, b: torch.optim.AdamW(groups(w, b), lr=0.05, betas=(0.9, 0.95),
                                                          foreach=foreach))
    for a, r in zip(ours[:2], ref[:2]):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-6)
    (w_state,) = [ours[2].state[p] for p in ours[2].param_groups[0]["params"]]
    assert w_state["step"].item() == 6 and set(w_state) == {"step", "exp_avg", "exp_avg_sq"}


@pytest.mark.parametrize("eps", [1e-5, 0.1])  # a large eps shows where it enters the update
def test_our_adamw_without_decay_is_adam(eps):
    ours = _adam_trajectory(lambda w, b: AdamW([w, b], lr=0.05, eps=eps))
    ref = _adam_trajectory(lambda w, b: torch.optim.Adam([w, b], lr=0.05, eps=eps))
    for a, r in zip(ours[:2], ref[:2]):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-6)


def test_adamw_takes_a_lone_tensor_and_rejects_duplicates():
    w = torch.zeros(3, 2, requires_grad=True)
    opt = AdamW(w, lr=0.1)
    w.sum().backward()
    opt.step()
    assert (w != 0).all()  # the whole matrix moved, not rows treated as separate parameters
    with pytest.raises(ValueError, match="more than once"):
        AdamW([{"params": [w]}, {"params": w}])


def test_adamw_rejects_bad_settings():
    with pytest.raises(ValueError, match="bad AdamW settings"):
        AdamW([torch.zeros(2, requires_grad=True)], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="bad AdamW settings"):
        AdamW([torch.zeros(2, requires_grad=True)], lr=-1.0)


def test_factory_names_every_setting_and_defaults_to_no_decay():
    w = torch.zeros(2, requires_grad=True)
    opt = adamw([w], lr=0.1)
    assert opt.param_groups[0]["weight_decay"] == 0.0 and opt.param_groups[0]["eps"] == 1e-8
    assert adamw([w], lr=0.1, weight_decay=0.1, eps=1e-5).param_groups[0]["weight_decay"] == 0.1
