"""Checkpoints: safetensors for tensors, JSON for everything else.

Nothing here unpickles: a checkpoint is a folder with

- ``model.safetensors``  the weights
- ``config.json``        the model config plus free-form metadata (tokenizer, stage, metrics)
- ``trainer.safetensors`` + ``trainer.json``  optimizer state and step, only for resumable runs

A file that is missing, corrupt or shaped for another model gives a
``CheckpointError`` that says which file and what is wrong.
"""

from __future__ import annotations

import json
import os
import pathlib

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file


class CheckpointError(ValueError):
    pass


def _atomic_write_json(path: pathlib.Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _atomic_save_tensors(path: pathlib.Path, tensors: dict) -> None:
    # Write then rename, so an interrupted save never leaves a half-written checkpoint.
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def save_model(module: torch.nn.Module, directory, config: dict, meta: dict | None = None) -> pathlib.Path:
    """Save weights + config (+ metadata) into ``directory``."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = module.state_dict()
    # Tied weights share storage; safetensors refuses duplicates, so store each tensor once.
    seen, tensors = {}, {}
    for k, v in state.items():
        key = (v.data_ptr(), v.shape)
        if key in seen:
            continue
        seen[key] = k
        tensors[k] = v
    _atomic_save_tensors(d / "model.safetensors", tensors)
    _atomic_write_json(d / "config.json", {"config": config, "meta": meta or {}})
    return d


def read_config(directory) -> dict:
    p = pathlib.Path(directory) / "config.json"
    if not p.exists():
        raise CheckpointError(f"no checkpoint at {directory}: {p.name} is missing")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{p} is not valid JSON ({e}); the checkpoint is corrupt") from e


def load_weights(module: torch.nn.Module, directory) -> None:
    """Load ``model.safetensors`` into ``module``, checking every name and shape."""
    p = pathlib.Path(directory) / "model.safetensors"
    if not p.exists():
        raise CheckpointError(f"no weights at {p}")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p} could not be read ({e}); the checkpoint is corrupt") from e
    expected = module.state_dict()
    for k, v in tensors.items():
        if k not in expected:
            raise CheckpointError(f"{p}: unexpected tensor {k!r}; the checkpoint is for another model")
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(f"{p}: tensor {k!r} has shape {tuple(v.shape)}, the model expects "
                                  f"{tuple(expected[k].shape)}; the checkpoint does not match this config")
    missing = [k for k in expected if k not in tensors and not _is_tied_alias(module, k, tensors)]
    if missing:
        raise CheckpointError(f"{p}: missing tensors {missing[:5]}")
    module.load_state_dict(tensors, strict=False)


def _is_tied_alias(module, key, tensors) -> bool:
    state = module.state_dict()
    ptr = state[key].data_ptr()
    return any(state[k].data_ptr() == ptr for k in tensors if k in state)


def save_trainer_state(directory, optimizer, step: int, extra: dict) -> None:
    """AdamW state as tensors (no pickle) + step and history as JSON."""
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors, meta = {}, {"step": step, "extra": extra, "param_groups": []}
    for gi, group in enumerate(optimizer.param_groups):
        meta["param_groups"].append({k: v for k, v in group.items() if k != "params"})
        for pi, p in enumerate(group["params"]):
            for name, value in optimizer.state.get(p, {}).items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{gi}.{pi}.{name}"] = t
    _atomic_save_tensors(d / "trainer.safetensors", tensors)
    _atomic_write_json(d / "trainer.json", meta)


def load_trainer_state(directory, optimizer) -> tuple[int, dict] | None:
    """Restore optimizer state; returns (step, extra) or None when there is nothing to resume."""
    d = pathlib.Path(directory)
    if not (d / "trainer.json").exists():
        return None
    try:
        meta = json.loads((d / "trainer.json").read_text())
        tensors = load_file(str(d / "trainer.safetensors"))
    except (json.JSONDecodeError, SafetensorError, OSError) as e:
        raise CheckpointError(f"trainer state in {d} is corrupt ({e}); delete it to start over") from e
    for gi, group in enumerate(optimizer.param_groups):
        group.update(meta["param_groups"][gi])
        for pi, p in enumerate(group["params"]):
            state = {}
            for key, t in tensors.items():
                g, i, name = key.split(".", 2)
                if int(g) == gi and int(i) == pi:  # moments live where the parameter lives (GPU)
                    state[name] = t if name == "step" else t.to(p.device)
            if state:
                optimizer.state[p] = state
    return meta["step"], meta["extra"]
