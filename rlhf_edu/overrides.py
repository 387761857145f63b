"""Change any setting from the command line: ``--set ppo.beta=0.3 --set pretrain.steps=300``.

A task's settings are dataclasses (``SentimentSetup`` and ``RLHFSetup``, or ``SummarySetup`` and
``RoundsConfig``); a path names a field of one of them, then fields of nested configs, joined by
dots. Values are parsed by the field's type (int, float, bool, str, an optional one with "none",
a tuple as comma-separated values). All settings of one command are applied together, one
``dataclasses.replace`` per config, so each config checks its final values as it would in code
(``ppo.batch_size`` and ``ppo.minibatch_size`` may change together). Setting the task's
``max_new_tokens`` sets every RL config's too (they must agree).

Every stage's cache key is made from these settings, so a changed setting trains a new
checkpoint instead of reusing one trained with the old value.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing

from .stages import with_max_new_tokens


def _hints(obj) -> dict:
    return typing.get_type_hints(type(obj))


def _type_name(tp) -> str:
    if typing.get_origin(tp) is not None:  # tuple[float, ...], float | None: say it all
        return str(tp).replace("typing.", "").replace("NoneType", "None")
    return getattr(tp, "__name__", None) or str(tp)


def parse_value(text: str, tp, path: str):
    """``text`` as a value of type ``tp``; a ValueError naming ``path`` and the type if it is not one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.strip().lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return parse_value(text, inner[0], path)
    if origin is tuple:
        parts = [part for part in text.split(",") if part.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            if not parts:
                raise ValueError(f"--set {path}: expected comma-separated values, got {text!r}")
            return tuple(parse_value(part, args[0], path) for part in parts)
        if len(parts) != len(args):
            raise ValueError(f"--set {path}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse_value(part, a, path) for part, a in zip(parts, args))
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if tp is str:
            return text
    except ValueError:
        raise ValueError(f"--set {path}: expected {_type_name(tp)}{' (finite)' if tp is float else ''}, "
                         f"got {text!r}") from None
    raise ValueError(f"{path} ({_type_name(tp)}) cannot be set from the command line")


def settable(roots: dict, prefixed=()) -> list[tuple[str, str, object]]:
    """(path, type name, current value) of every setting the roots hold, nested configs expanded."""
    out = []

    def walk(obj, prefix):
        hints = _hints(obj)
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                out.append((f"{prefix}{f.name}", _type_name(hints[f.name]), value))

    for label, obj in roots.items():
        walk(obj, f"{label}." if label in prefixed else "")
    return out


def _parse(obj, parts: list[str], text: str, path: str):
    """The value ``text`` for the field at ``parts`` of dataclass ``obj``, parsed by its type."""
    names = [f.name for f in dataclasses.fields(obj)]
    name = parts[0]
    if name not in names:
        raise ValueError(f"--set {path}: {type(obj).__name__} has no field {name!r}; its fields: {', '.join(names)}")
    value = getattr(obj, name)
    if len(parts) > 1:
        if not dataclasses.is_dataclass(value):
            raise ValueError(f"--set {path}: {name} is a {type(value).__name__}, not a config with fields")
        return _parse(value, parts[1:], text, path)
    if dataclasses.is_dataclass(value):
        fields = ", ".join(f"{name}.{f.name}" for f in dataclasses.fields(value))
        raise ValueError(f"--set {path}: {name} is a config; set one of its fields: {fields}")
    return parse_value(text, _hints(obj)[name], path)


def _rebuild(obj, changes: dict):
    """``obj`` with ``changes`` ({field: value, or {subfield: ...} for a nested config}) applied in one
    ``replace`` per dataclass, so each config checks its final values together (batch_size with
    minibatch_size, say), not one --set at a time."""
    if "max_new_tokens" in changes and hasattr(obj, "ppo"):  # the task's: every RL config follows it
        obj = with_max_new_tokens(obj, changes.pop("max_new_tokens"))
    new = {name: _rebuild(getattr(obj, name), v) if isinstance(v, dict) else v for name, v in changes.items()}
    return dataclasses.replace(obj, **new)


def apply(roots: dict, assignments: list[str], prefixed=()) -> dict:
    """The roots (label -> dataclass) with every ``path=value`` of ``assignments`` applied (a later one
    for the same path wins).

    A root's fields are named bare (``ppo.beta``), or after its label if the label is in ``prefixed``
    (``rounds.noise``). A bad path or value raises a one-line ``ValueError`` naming the setting, its
    type and the valid fields; a config's own check names the --set that broke it.
    """
    changes: dict[str, dict] = {}
    used: dict[str, list[str]] = {}
    for item in assignments:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ValueError(f"--set takes FIELD=VALUE, e.g. ppo.beta=0.3; got {item!r}")
        parts = path.split(".")
        owners = [label for label, obj in roots.items()
                  if (label in prefixed and parts[0] == label and len(parts) > 1)
                  or (label not in prefixed and parts[0] in {f.name for f in dataclasses.fields(obj)})]
        if not owners:
            known = sorted({f.name for label, obj in roots.items() if label not in prefixed
                            for f in dataclasses.fields(obj)} | {f"{label}.*" for label in prefixed})
            raise ValueError(f"--set {path}: no setting {parts[0]!r}; settings: {', '.join(known)}")
        if len(owners) > 1:
            raise ValueError(f"--set {path}: {parts[0]!r} is ambiguous")
        label = owners[0]
        rest = parts[1:] if label in prefixed else parts
        value = _parse(roots[label], rest, text, path)
        node = changes.setdefault(label, {})
        for name in rest[:-1]:
            node = node.setdefault(name, {})
        node[rest[-1]] = value
        used.setdefault(label, []).append(item)
    out = dict(roots)
    for label, change in changes.items():
        try:
            out[label] = _rebuild(roots[label], change)
        except (TypeError, ValueError) as e:  # a config's own check: say which --set broke it
            raise ValueError(f"--set {' --set '.join(used[label])}: {e}") from None
    return out


def help_text(roots: dict, prefixed=(), hide=()) -> str:
    """Every setting with its type and default, for ``--help`` (an RL config's ``max_new_tokens``
    follows the task's and is left out; so are settings of a type the command line cannot give, and
    those whose path matches a regular expression of ``hide``)."""
    rows = [(p, t, v) for p, t, v in settable(roots, prefixed)
            if not (p.count(".") == 1 and p.endswith(".max_new_tokens")) and not t.startswith("dict")
            and not any(re.match(pattern, p) for pattern in hide)]
    width = max(len(p) for p, _, _ in rows)
    return "\n".join(f"  {p:<{width}}  {t:<20} {v!r}" for p, t, v in rows)
