"""Trainer: resumption is exact, SFT loss covers the completion only, checkpoints fail loudly."""

import json

import pytest
import torch

from rlhf_edu import checkpoint as ckpt
from rlhf_edu.model import GPT, GPTConfig
from rlhf_edu.stages import load_model
from rlhf_edu.train import TrainConfig, lr_at, pack_stream, pretrain_batches, sft_batches, sft_rows, train

CFG = GPTConfig(vocab_size=50, block_size=16, n_layer=1, n_head=2, d_model=16)


def _stream():
    # Learnable documents: counting runs (a, a+1, a+2, ...) of random start and length.
    g = torch.Generator().manual_seed(0)
    starts = torch.randint(2, 40, (200,), generator=g).tolist()
    lengths = torch.randint(3, 10, (200,), generator=g).tolist()
    return pack_stream([list(range(a, a + n)) for a, n in zip(starts, lengths)], eos_id=1)


def _fresh():
    torch.manual_seed(0)
    return GPT(CFG)


def test_resumed_run_reaches_the_same_weights(tmp_path):
    tc = TrainConfig(steps=12, batch_size=4, lr=1e-2, warmup_steps=3, checkpoint_every=0, eval_every=100)
    get = pretrain_batches(_stream(), CFG.block_size, tc.batch_size, seed=0)
    straight = _fresh()
    train(straight, get, tc, out_dir=tmp_path / "a", progress=False)
    interrupted = _fresh()
    train(interrupted, get, tc, out_dir=tmp_path / "b", progress=False, stop_after=5)
    resumed = _fresh()  # a new process would start from fresh weights like these
    hist = train(resumed, get, tc, out_dir=tmp_path / "b", progress=False)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert hist.step == list(range(12))
    assert not torch.equal(interrupted.state_dict()["wte.weight"], resumed.state_dict()["wte.weight"])


def test_training_lowers_the_loss():
    tc = TrainConfig(steps=60, batch_size=8, lr=1e-2, warmup_steps=5, checkpoint_every=0)
    get = pretrain_batches(_stream(), CFG.block_size, tc.batch_size, seed=0)
    hist = train(_fresh(), get, tc, progress=False)
    assert sum(hist.loss[-10:]) / 10 < sum(hist.loss[:10]) / 10 - 0.2


def test_lr_schedule_warms_up_then_decays():
    tc = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, tc) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] >= 0.1


def test_sft_loss_mask_covers_completion_and_eos_only():
    ids, mask = sft_rows([([5, 6, 7], [8, 9]), ([5], [8])], eos_id=1, pad_id=0, block_size=16)
    assert ids[0].tolist() == [5, 6, 7, 8, 9, 1] and mask[0].tolist() == [0, 0, 0, 1, 1, 1]
    assert ids[1].tolist() == [5, 8, 1, 0, 0, 0] and mask[1].tolist() == [0, 1, 1, 0, 0, 0]
    x, y, m = sft_batches(ids, mask, batch_size=2, seed=0)(0)
    # The first target that counts is the first completion token, predicted from the prompt's last.
    for row in range(2):
        first = int(m[row].nonzero()[0])
        assert y[row, first] == 8


def test_corrupt_or_mismatched_checkpoint_gives_a_clear_error(tmp_path):
    model = _fresh()
    ckpt.save_model(model, tmp_path / "ok", CFG.to_dict())
    assert torch.equal(load_model(tmp_path / "ok").wte.weight, model.wte.weight)
    bad = tmp_path / "ok" / "model.safetensors"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        load_model(tmp_path / "ok")
    other = GPT(GPTConfig(vocab_size=60, block_size=16, n_layer=1, n_head=2, d_model=16))
    ckpt.save_model(other, tmp_path / "other", CFG.to_dict())  # config says 50 tokens, weights have 60
    with pytest.raises(ckpt.CheckpointError, match="does not match"):
        load_model(tmp_path / "other")
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "ok" / "config.json").write_text("{not json")
    with pytest.raises(ckpt.CheckpointError, match="JSON"):
        load_model(tmp_path / "ok")


def test_interrupt_saves_a_resumable_checkpoint(tmp_path):
    tc = TrainConfig(steps=10, batch_size=4, checkpoint_every=0)
    base = pretrain_batches(_stream(), CFG.block_size, 4, seed=0)

    def get(step):
        if step == 4:
            raise KeyboardInterrupt
        return base(step)

    with pytest.raises(KeyboardInterrupt):
        train(_fresh(), get, tc, out_dir=tmp_path, progress=False)
    assert json.loads((tmp_path / "trainer.json").read_text())["step"] == 4


def test_training_never_builds_a_torch_optimizer(monkeypatch, tmp_path):
    # Any torch.optim optimizer imports torch._dynamo (tens of seconds per kernel on slow machines).
    def refuse(*args, **kwargs):
        raise AssertionError("a torch.optim optimizer was built")

    monkeypatch.setattr(torch.optim.Optimizer, "__init__", refuse)
    tc = TrainConfig(steps=3, batch_size=4, lr=1e-2, warmup_steps=1, checkpoint_every=0)
    get = pretrain_batches(_stream(), CFG.block_size, tc.batch_size, seed=0)
    hist = train(_fresh(), get, tc, out_dir=tmp_path, progress=False)
    assert hist.step == [0, 1, 2]
    import pathlib

    import rlhf_edu
    sources = pathlib.Path(rlhf_edu.__file__).parent.glob("*.py")
    assert not [p.name for p in sources if "torch.optim." in p.read_text()]


def test_logits_where_loss_gives_the_same_loss_and_gradients():
    from rlhf_edu.train import lm_loss

    ids, mask = sft_rows([([5, 6, 7, 9, 9], [8, 9]), ([5], [8, 3, 4])], eos_id=1, pad_id=0, block_size=16)
    x, y, m = sft_batches(ids, mask, batch_size=4, seed=0)(0)
    model = _fresh()
    out = []
    for fast in (False, True):
        model.zero_grad()
        loss = lm_loss(model, x, y, m, logits_where_loss=fast)
        loss.backward()
        out.append((loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters()])))
    torch.testing.assert_close(out[0][0], out[1][0])
    torch.testing.assert_close(out[0][1], out[1][1], atol=1e-6, rtol=1e-4)
    # No counted position: 0, as the full path gives, and still a graph to call backward on.
    zero = lm_loss(model, x, y, torch.zeros_like(m), logits_where_loss=True)
    assert zero.item() == 0.0 and zero.requires_grad
