"""The optimiser every trainer uses: AdamW, written out, and one factory for it.

Why our own and not the AdamW of ``torch.optim``: building any optimizer of ``torch.optim`` imports
``torch._dynamo``, the compiler stack, which took seconds in every fresh notebook kernel (47 s on
our 2-core CI machine), and we never compile. The update is the same as PyTorch's:
tests/test_optim.py checks that both give the same parameters, step by step.

Note the default weight decay: 0 here (plain Adam), 0.01 in the AdamW of ``torch.optim``. Every caller
says what it wants through ``adamw``.
"""

from __future__ import annotations

import torch


class AdamW:
    """Adam with decoupled weight decay: the same update as PyTorch's own ``AdamW``.

    With ``weight_decay=0`` it is plain Adam. The state has torch's names (``step``,
    ``exp_avg``, ``exp_avg_sq``), so checkpoints read like torch's.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        def as_list(ps):  # a lone tensor is one parameter, not a sequence of rows
            return [ps] if isinstance(ps, torch.Tensor) else list(ps)

        params = as_list(params)
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        self.param_groups = [{**defaults, **g, "params": as_list(g["params"])} for g in groups]
        every = [p for g in self.param_groups for p in g["params"]]
        if len({id(p) for p in every}) != len(every):
            raise ValueError("a parameter appears more than once in the optimizer's groups")
        for g in self.param_groups:
            if g["lr"] < 0 or g["eps"] < 0 or g["weight_decay"] < 0 or not all(0 <= b < 1 for b in g["betas"]):
                raise ValueError(f"bad AdamW settings: { {k: v for k, v in g.items() if k != 'params'} }")
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for g in self.param_groups:
            beta1, beta2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state.get(p)
                if not st:
                    st = self.state[p] = {"step": torch.tensor(0.0), "exp_avg": torch.zeros_like(p),
                                          "exp_avg_sq": torch.zeros_like(p)}
                st["step"] += 1
                t = st["step"].item()
                if g["weight_decay"]:
                    p.mul_(1 - g["lr"] * g["weight_decay"])  # decoupled: not part of the gradient
                st["exp_avg"].lerp_(p.grad, 1 - beta1)
                st["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                # Bias correction: the moving averages start at zero.
                denom = (st["exp_avg_sq"].sqrt() / (1 - beta2 ** t) ** 0.5).add_(g["eps"])
                p.addcdiv_(st["exp_avg"], denom, value=-g["lr"] / (1 - beta1 ** t))


def adamw(params, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
          eps: float = 1e-8) -> AdamW:
    """The one place a trainer builds its optimiser (every setting named at the call)."""
    return AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
