"""The checks of notebooks 06-08: next-token loss, attention mask, positions, reading the reward, the PG loss.

Expected outputs come from the package's own code on the same tensors: ``train.lm_loss``,
``model.positions_from_mask``, ``reward_model.last_real_index`` and ``RewardModel.raw_score`` (on a tiny
model), ``policy_gradient.sequence_advantages`` and ``policy_gradient.pg_loss`` (on a tiny policy).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as nnF

from .. import formulas as F
from ..model import positions_from_mask, token_logprobs
from ..policy_gradient import pg_loss as _pkg_pg_loss
from ..policy_gradient import sequence_advantages as _pkg_sequence_advantages
from ..reward_model import RewardModel, last_real_index
from ..train import lm_loss as _pkg_lm_loss
from .grading import Bug, Case, exercise
from .inputs import F64, generator, grad_of, randn, right_mask, rollout_mask, tensor, tiny_gpt, uniform

# ---------------------------------------------------------------- notebook 06

class _FixedLogits(torch.nn.Module):
    """Stands in for a model inside ``train.lm_loss``: returns logits fixed in advance."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # lm_loss asks the model for its device

    def forward(self, inputs):
        return self.logits, None


def _lm_loss_ref(logits, tokens, mask):
    return _pkg_lm_loss(_FixedLogits(logits[:, :-1]), tokens[:, :-1], tokens[:, 1:], mask[:, 1:])


def _ce(logits, targets):
    return nnF.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)


def _bug_per_row_mean(z, y, m):
    nll, mm = _ce(z[:, :-1], y[:, 1:]), m[:, 1:].float()
    return ((nll * mm).sum(1) / mm.sum(1)).mean()


def _bug_naive_softmax(z, y, m):
    p = z.exp() / z.exp().sum(-1, keepdim=True)
    nll = -p[:, :-1].gather(-1, y[:, 1:, None]).squeeze(-1).log()
    mm = m[:, 1:].float()
    return (nll * mm).sum() / mm.sum()


@exercise(
    "06", "logits, tokens, mask",
    "logits: (B, T, V), tokens: (B, T) int64, mask: (B, T) int64 -> scalar mean loss",
    r"""
**Next-token loss with a padding mask.** Write `next_token_loss(logits, tokens, mask)`. `logits[:, t]` is
the model's output at position $t$, which predicts token $t+1$. `mask[b, t]` is 1 where token $t$ is a
target that counts (0 for the prompt in SFT, and for pads). Return the mean cross-entropy over the
counted targets of the whole batch (their total divided by their number), as `train.lm_loss` does.
""",
    [Bug(lambda z, y, m: (_ce(z, y) * m).sum() / m.sum(),
         "logits at position t predict token t + 1: score logits[:, :-1] against tokens[:, 1:] (and use mask[:, 1:])"),
     Bug(lambda z, y, m: _ce(z[:, :-1], y[:, 1:]).mean(),
         "average only over the counted targets (mask = 1): the prompt and the pads are not targets"),
     Bug(lambda z, y, m: (_ce(z[:, :-1], y[:, 1:]) * m[:, :-1]).sum() / m[:, :-1].sum(),
         "the mask marks targets: use mask[:, 1:], aligned with tokens[:, 1:]"),
     Bug(_bug_per_row_mean, "average over all counted targets of the batch at once (sum / count), not per row first"),
     Bug(_bug_naive_softmax,
         "exp of a large logit overflows: use torch.log_softmax or torch.nn.functional.cross_entropy "
         "(both stay exact)")],
)
def next_token_loss():
    g = generator(601)
    F32 = torch.float32
    hand = tensor([[[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 3.0]]], F32)
    sft_mask = torch.tensor([[0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0, 0]])
    tokens = torch.randint(0, 11, (3, 7), generator=g)
    logits = randn((3, 7, 11), g, 2.0, F32)
    cases = [
        ("one row of 3 tokens, vocabulary 3, every target counts", hand, torch.tensor([[0, 2, 1]]),
         torch.tensor([[1, 1, 1]]), "tokens 1 and 2 are the targets, scored by the logits at positions 0 and 1"),
        ("3 SFT rows: prompt (mask 0), completion (mask 1), pads (mask 0)", logits, tokens, sft_mask,
         "the mean over the targets with mask 1 only"),
        ("pretraining: every token counts", randn((2, 6, 5), g, 2.0, F32), torch.randint(0, 5, (2, 6), generator=g),
         torch.ones(2, 6, dtype=torch.long), "the mean cross-entropy of tokens 1..T-1"),
        ("huge logits (scaled x 1000)", logits * 1000, tokens, sft_mask,
         "exp(1000) overflows: use torch.log_softmax or torch.nn.functional.cross_entropy"),
    ]
    return [Case(n, {"logits": z, "tokens": y, "mask": m}, _lm_loss_ref(z, y, m), h, atol=1e-5, rtol=1e-4)
            for n, z, y, m, h in cases]


def causal_reference(attention_mask):
    """The mask ``model.GPT`` attends with: causal, no pad keys, and every query sees itself.

    Restated here because the model builds it inside ``forward``; tests/test_exercises.py checks that
    it equals the mask the model passes to attention.
    """
    T = attention_mask.shape[1]
    q, k = torch.arange(T)[:, None], torch.arange(T)[None, :]
    return ((k <= q)[None] & attention_mask.bool()[:, None, :]) | (k == q)[None]


def _tril(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


@exercise(
    "06", "attention_mask", "attention_mask: (B, T) int64, 1 = real token -> (B, T, T) bool, [b, query, key]",
    r"""
**The causal attention mask.** Write `causal_attention_mask(attention_mask)`: a boolean tensor
`allowed[b, q, k]`, True where query position $q$ may attend to key position $k$: keys at or before the
query ($k \le q$) that are real tokens. Also let every query see itself ($k = q$), even a pad: a row with
nothing allowed would make the softmax `nan`.
""",
    [Bug(lambda m: _tril(m.shape[1]).expand(m.shape[0], -1, -1),
         "pads must not be attended to: also require attention_mask[b, k] == 1 for the key"),
     Bug(lambda m: m.bool()[:, None, :].expand(-1, m.shape[1], -1) | torch.eye(m.shape[1], dtype=torch.bool),
         "causal: a query at position q may only see keys k <= q"),
     Bug(lambda m: (_tril(m.shape[1]).T[None] & m.bool()[:, None, :]) | torch.eye(m.shape[1], dtype=torch.bool),
         "rows are queries, columns are keys: allowed where k <= q (the lower triangle)"),
     Bug(lambda m: _tril(m.shape[1])[None] & m.bool()[:, None, :],
         "a left pad sees no real key at all, and a softmax over nothing is nan: "
         "always let a query see itself (k == q)"),
     Bug(lambda m: (_tril(m.shape[1])[None] & m.bool()[:, :, None]) | torch.eye(m.shape[1], dtype=torch.bool),
         "mask the keys (columns, attention_mask[b, k]), not the queries (rows)")],
)
def causal_attention_mask():
    cases = [
        ("no padding, 4 tokens", torch.ones(1, 4, dtype=torch.long), "no pads: the lower triangle, k <= q"),
        ("left-padded prompts", torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]),
         "a key that is a pad is never allowed; a pad query sees only itself"),
        ("left-padded prompt + response with pads after EOS",
         torch.tensor([[0, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 0, 0]]),
         "pads after EOS are masked as keys too"),
        ("a row with a single real token", torch.tensor([[0, 0, 0, 1]]),
         "only the real token is a key; the pad queries see only themselves"),
    ]
    return [Case(n, {"attention_mask": m}, causal_reference(m), h) for n, m, h in cases]


@exercise(
    "06", "attention_mask", "attention_mask: (B, T) int64, 1 = real token -> (B, T) int64 position ids",
    r"""
**Position ids under left padding.** Write `position_ids(attention_mask)`: the position of each token
counted over real tokens only, starting at 0 (the number of real tokens up to and including it, minus 1),
and 0 where that would be negative (left pads). A padded prompt then gets the same positions as the
unpadded one.
""",
    [Bug(lambda m: torch.arange(m.shape[1]).expand(m.shape),
         "count real tokens only: a left-padded row's first real token is at position 0"),
     Bug(lambda m: m.cumsum(1), "positions start at 0: subtract 1 from the running count of real tokens"),
     Bug(lambda m: m.cumsum(1) - 1, "left pads would get -1, not a valid position: clamp at 0")],
)
def position_ids():
    g = generator(603)
    lengths = torch.randint(1, 9, (5,), generator=g)
    rand = (torch.arange(8)[None, :] >= 8 - lengths[:, None]).long()
    cases = [
        ("no padding", torch.ones(1, 4, dtype=torch.long), "no pads: 0, 1, 2, 3"),
        ("left-padded prompts", torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]), "the first real token is position 0"),
        ("left-padded prompt + response with pads after EOS", torch.tensor([[0, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1]]),
         "(running count of real tokens) - 1, clamped at 0"),
        ("5 left-padded rows", rand, "(running count of real tokens) - 1, clamped at 0"),
    ]
    return [Case(n, {"attention_mask": m}, positions_from_mask(m), h) for n, m, h in cases]


# ---------------------------------------------------------------- notebook 07

def _read_last(values, mask):
    return values.gather(1, last_real_index(mask)[:, None]).squeeze(1)




def _tiny_rm(seed):
    rm = RewardModel(tiny_gpt(seed), seed=seed).eval()
    g = generator(seed)
    with torch.no_grad():
        rm.head.weight.copy_(torch.randn(rm.head.weight.shape, generator=g))  # a head that says something
    return rm


def _rm_values(rm, ids, mask):
    """The head's output at every position: what the reward model reads one entry of."""
    with torch.no_grad():
        hidden, _ = rm.backbone(ids, attention_mask=mask, return_hidden=True)
        return rm.head(hidden).squeeze(-1)


_LAST_COLUMN_HINT = "the last column can be a pad (after EOS): read each row's value at its last real token"


@exercise(
    "07", "values, attention_mask",
    "values: (B, T), attention_mask: (B, T) int64 -> (B,) value at each last real token",
    r"""
**Reading the reward at the last real token.** The reward head outputs one number per position;
the score of a text is the one at its *last real token* (its end-of-text token), where the model has
read everything. Write `sequence_reward(values, attention_mask)`. Prompts are left-padded and generated
completions have pads after their end-of-text token, so neither the last column nor `mask.sum(1) - 1`
is the right index.
""",
    [Bug(lambda v, m: v[:, -1], _LAST_COLUMN_HINT),
     Bug(lambda v, m: v.gather(1, (m.sum(1) - 1)[:, None]).squeeze(1),
         "mask.sum(1) - 1 counts real tokens: that is the last index only with right padding; find each row's last 1"),
     Bug(lambda v, m: v.gather(1, m.argmax(1)[:, None]).squeeze(1),
         "that is the first real token; the score is read at the last one, where the whole text has been seen"),
     Bug(lambda v, m: (v * m).sum(1) / m.sum(1),
         "read one position (the last real token), don't average over the text")],
)
def sequence_reward():
    g = generator(701)
    left = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    rollout = rollout_mask([2, 4, 3], [3, 5, 1], 4, 5)  # row 3's completion is just EOS
    right = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    rm = _tiny_rm(702)
    ids = torch.randint(0, 13, (4, 9), generator=g)
    rm_mask = rollout_mask([4, 2, 3, 1], [5, 2, 1, 4], 4, 5)
    cases = [
        ("left-padded texts that end with EOS", randn((3, 5), g), left, "the value at each row's last real token"),
        ("left-padded prompts + completions with pads after EOS (one is just EOS)", randn((3, 9), g), rollout,
         _LAST_COLUMN_HINT),
        ("right padding", randn((3, 5), g), right, "find each row's last real token, whatever the padding"),
    ]
    out = [Case(n, {"values": v, "attention_mask": m}, _read_last(v, m), h) for n, v, m, h in cases]
    out.append(Case("a tiny reward model's head outputs: must equal RewardModel.raw_score",
                    {"values": _rm_values(rm, ids, rm_mask), "attention_mask": rm_mask},
                    rm.raw_score(ids, rm_mask).detach(), _LAST_COLUMN_HINT, atol=1e-5, rtol=1e-4))
    return out


def _gap(values, mask):
    """r_chosen - r_rejected for the pairs of a batch: chosen rows first, then their rejected partners."""
    r = _read_last(values, mask)
    n = len(r) // 2
    return r[:n] - r[n:]


def _rm_batch_loss_ref(values, mask):
    r = _read_last(values, mask)
    n = len(r) // 2
    return F.reward_model_loss(r[:n], r[n:]).mean()


@exercise(
    "07", "values, attention_mask",
    "values, attention_mask: (2n, T); rows [0, n) chosen, [n, 2n) rejected -> scalar loss",
    r"""
**The reward model's batch loss.** Training runs the chosen and the rejected texts of $n$ pairs in one
batch: rows $0..n-1$ are the chosen texts, rows $n..2n-1$ their rejected partners (same order). Write
`reward_model_batch_loss(values, attention_mask)`: read each row's score at its last real token, then
return the mean Bradley–Terry loss $-\log\sigma(r_{\text{chosen}} - r_{\text{rejected}})$ over the pairs.
""",
    [Bug(lambda v, m: -nnF.logsigmoid(v[: len(v) // 2, -1] - v[len(v) // 2:, -1]).mean(), _LAST_COLUMN_HINT),
     Bug(lambda v, m: -nnF.logsigmoid(_read_last(v, m)[0::2] - _read_last(v, m)[1::2]).mean(),
         "rows [0, n) are the chosen texts and rows [n, 2n) the rejected ones (n = number of rows / 2)"),
     Bug(lambda v, m: -nnF.logsigmoid(-_gap(v, m)).mean(),
         "the loss is -log sigma(r_chosen - r_rejected): the chosen rows come first"),
     Bug(lambda v, m: -torch.log(torch.sigmoid(_gap(v, m))).mean(),
         "log(sigmoid(-1000)) = -inf: use torch.nn.functional.logsigmoid"),
     Bug(lambda v, m: -nnF.logsigmoid(_gap(v, m)).sum(), "average the loss over the pairs (mean), don't sum")],
)
def reward_model_batch_loss():
    g = generator(703)
    story_mask = rollout_mask([2, 3], [2, 3], 3, 3)
    story = randn((2, 6), g)
    story[0, 4], story[1, 5] = 3.0, 1.0  # the last real tokens: the story's rewards 3 and 1
    mask4 = rollout_mask([3, 1, 2, 3, 2, 3, 1, 1], [4, 1, 2, 4, 3, 4, 1, 2], 3, 4)
    big = randn((2, 5), g)
    big_mask = rollout_mask([2, 1], [2, 3], 2, 3)
    big[0, 3], big[1, 4] = 0.0, 1000.0
    rm = _tiny_rm(704)
    ids = torch.randint(0, 13, (6, 8), generator=g)
    rm_mask = rollout_mask([3, 1, 2, 2, 3, 1], [5, 1, 3, 2, 4, 5], 3, 5)
    with torch.no_grad():
        r = rm.raw_score(ids, rm_mask)
    cases = [
        ("one pair, the story's rewards 3 and 1 (pads after EOS)", story, story_mask, "-log sigma(3 - 1) = 0.127"),
        ("4 pairs, left-padded prompts and pads after EOS", randn((8, 7), g), mask4,
         "rows [0, 4) chosen, [4, 8) rejected; each score at its row's last real token"),
        ("a gap of -1000 (the model badly wrong)", big, big_mask, "logsigmoid stays exact: the loss is 1000"),
    ]
    out = [Case(n, {"values": v, "attention_mask": m}, _rm_batch_loss_ref(v, m), h) for n, v, m, h in cases]
    out.append(Case("a tiny reward model: 3 pairs, as train_reward_model computes it",
                    {"values": _rm_values(rm, ids, rm_mask), "attention_mask": rm_mask},
                    F.reward_model_loss(r[:3], r[3:]).mean(), _LAST_COLUMN_HINT, atol=1e-5, rtol=1e-4))
    return out


# ---------------------------------------------------------------- notebook 08

@exercise(
    "08", "rewards", "rewards: (B,) one reward per completion -> (B,) advantages",
    r"""
**Baselined, normalised advantages.** Write `sequence_advantages(rewards)`: subtract the batch's mean
reward (the baseline), then divide by the rewards' standard deviation (`rewards.std()`, torch's default),
using `max(std, 1e-6)` so that equal rewards give advantages of 0, not `nan`.
""",
    [Bug(lambda r: r / r.std().clamp(min=1e-6), "subtract the baseline (the batch's mean reward) first"),
     Bug(lambda r: (r - r.mean()) / r.std(unbiased=False).clamp(min=1e-6),
         "divide by rewards.std() (torch's default: n - 1 in the denominator)"),
     Bug(lambda r: (r - r.mean()) / r.std(),
         "equal rewards have std 0: divide by max(std, 1e-6) so they give 0, not nan"),
     Bug(lambda r: r - r.mean(),
         "divide by the standard deviation too, so the step size does not depend on the reward's scale")],
)
def sequence_advantages():
    g = generator(801)
    cases = [
        ("four rewards [1, 2, 3, 6]", tensor([1.0, 2.0, 3.0, 6.0]), "mean 3, std 2.16: (r - 3) / 2.16"),
        ("a batch of 16 rewards around 1000", 1000 + randn(16, g, 2.0), "subtract the mean, divide by the std"),
        ("all rewards equal", tensor([0.5, 0.5, 0.5, 0.5]), "std 0: max(std, 1e-6) makes every advantage 0, not nan"),
    ]
    return [Case(n, {"rewards": r}, _pkg_sequence_advantages(r, True, True), h) for n, r, h in cases]


def _pg_ref(token_logp, prompt_len, response_mask, advantages):
    seq = (token_logp[:, prompt_len - 1:] * response_mask).sum(1)
    return -F.policy_gradient_surrogate(seq, advantages).mean()


def _pg_with_grad(fn, token_logp, prompt_len, response_mask, advantages):
    leaf = token_logp.requires_grad_(True)
    loss = fn(leaf, prompt_len, response_mask, advantages)
    return loss.detach(), grad_of(loss, leaf)


def _pg_grad_adv(fn, token_logp, prompt_len, response_mask, advantages):
    token_logp.requires_grad_(True)
    a = advantages.requires_grad_(True)
    return grad_of(fn(token_logp, prompt_len, response_mask, a), a)


@exercise(
    "08", "token_logp, prompt_len, response_mask, advantages",
    "token_logp: (B, T-1), prompt_len: int, response_mask: (B, R), advantages: (B,) -> loss",
    r"""
**The policy-gradient loss over generated tokens only.** `token_logp` holds
$\log\pi(\text{token}_{j+1} \mid \text{tokens}_{\le j})$ in column $j$ for every position of
*prompt + completion* (as `model.token_logprobs` returns it); the completion starts at token
`prompt_len`, so its log-probs are the columns from `prompt_len - 1` on. `response_mask` is 1 for real
completion tokens (up to and including EOS) and 0 for the pads after it. Write
`pg_loss(token_logp, prompt_len, response_mask, advantages)`: $-\frac{1}{B}\sum_i A_i \log\pi(y_i \mid x_i)$,
where $\log\pi(y_i \mid x_i)$ sums over the completion's real tokens only, and the advantages are constants (detached).
""",
    [Bug(lambda lp, P, m, a: -(a.detach() * ((lp[:, P - 1:] * m).sum(1) + lp[:, :P - 1].sum(1))).mean(),
         "only generated tokens count: the prompt was given, not chosen; use the columns from prompt_len - 1 on"),
     Bug(lambda lp, P, m, a: -(a.detach() * (lp[:, P - 2:-1] * m).sum(1)).mean(),
         "column j scores token j + 1: the first completion token (token prompt_len) is in column prompt_len - 1"),
     Bug(lambda lp, P, m, a: -(a.detach() * lp[:, P - 1:].sum(1)).mean(),
         "mask the pads after EOS (response_mask = 0): they were never generated"),
     Bug(lambda lp, P, m, a: (a.detach() * (lp[:, P - 1:] * m).sum(1)).mean(),
         "minimise -mean(A * log pi(y)): with the sign flipped, good completions become less likely"),
     Bug(lambda lp, P, m, a: -(a * (lp[:, P - 1:] * m).sum(1)).mean(),
         "the advantage is a constant (the reward was computed without gradients): use advantages.detach()"),
     Bug(lambda lp, P, m, a: -(a.detach() * (lp[:, P - 1:] * m).sum(1) / m.sum(1)).mean(),
         "sum the log-probs over a completion's tokens (its log-probability), then average over completions")],
)
def pg_loss():
    g = generator(802)
    P, R = 4, 5
    m = right_mask([5, 2, 1], R)  # the third completion is just EOS
    lp = uniform((3, P + R - 1), g, -6.0, -0.05)
    adv = randn(3, g)
    cases = [
        ("2 completions, prompts of 3 tokens", uniform((2, 6), g, -6.0, -0.05), 3, right_mask([4, 3], 4),
         tensor([1.5, -0.5]), "the completion's log-probs are columns prompt_len - 1 onwards"),
        ("3 completions, prompts of 4 tokens, pads after EOS (one is just EOS)", lp, P, m, adv,
         "sum over real completion tokens only (response_mask = 1), then -mean of A * that sum"),
    ]
    out = [Case(n, {"token_logp": a, "prompt_len": p, "response_mask": mk, "advantages": ad}, _pg_ref(a, p, mk, ad), h)
           for n, a, p, mk, ad, h in cases]
    inputs = {"token_logp": lp, "prompt_len": P, "response_mask": m, "advantages": adv}
    out.append(Case("the gradient: -A_i / B on real completion tokens, 0 on the prompt and the pads", inputs,
                    _pg_with_grad(_pg_ref, lp.clone(), P, m, adv), run=_pg_with_grad,
                    labels=("loss", "d loss / d token_logp"),
                    hint="only real completion tokens get a gradient: -A_i / B on them, 0 on the prompt and the pads"))
    out.append(Case("no gradient reaches the advantages", inputs, torch.zeros(3, dtype=F64), run=_pg_grad_adv,
                    shows="d loss / d advantages",
                    hint="use advantages.detach(): the advantages are constants"))
    # The package's own pg_loss on a tiny policy, with the log-probs it computes.
    policy = tiny_gpt(803)
    prompt_mask = rollout_mask([2, 4, 3], [0, 0, 0], 4, 0)
    seqs = torch.randint(0, 13, (3, 9), generator=g)
    attn = torch.cat([prompt_mask, m.long()], 1)
    ro = SimpleNamespace(sequences=seqs, attention_mask=attn, prompt_len=P, response_mask=m.float())
    adv = randn(3, g).float()
    with torch.no_grad():
        expected = _pkg_pg_loss(policy, ro, adv)
        tl = token_logprobs(policy, seqs, attn)
    inputs = {"token_logp": tl, "prompt_len": P, "response_mask": m.float(), "advantages": adv}
    out.append(Case("a tiny policy: must equal policy_gradient.pg_loss", inputs, expected,
                    "-mean over completions of A_i * (sum of its real completion tokens' log-probs)",
                    atol=1e-5, rtol=1e-4))
    return out
