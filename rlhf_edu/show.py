"""What the notebooks show of the package itself: its source, and settings one field a line.

``source(fn)`` renders ``inspect.getsource(fn)`` with syntax highlighting (HTML in Jupyter, plain
text anywhere else), so a notebook shows the code that actually runs, never a copy that can drift.
``settings(cfg)`` lays a dataclass out one field a line, for configs too long for one ``print``.
``build_times(notebook)`` says how long executing a notebook took, from an empty cache and with every
stage cached, as ``tools/build_notebooks.py`` measured it (``notebooks/build_times.json``).
"""

from __future__ import annotations

import dataclasses
import html
import inspect
import json
import pathlib


class Source:
    """The source of a function or class; Jupyter shows it highlighted, ``print`` shows it plain."""

    def __init__(self, obj):
        self.name = f"{obj.__module__}.{obj.__qualname__}"
        self.file = inspect.getsourcefile(obj)
        self.text = inspect.getsource(obj)

    def __repr__(self) -> str:
        return f"# {self.name}\n{self.text.rstrip()}"

    def _repr_html_(self) -> str:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:  # pygments comes with Jupyter; without it, plain but readable
            return f"<pre>{html.escape(repr(self))}</pre>"
        formatter = HtmlFormatter(noclasses=True, style="friendly")
        return (f"<div style='font-size:0.85em'><b><code>{html.escape(self.name)}</code></b>"
                + highlight(self.text, PythonLexer(), formatter) + "</div>")


def source(obj) -> Source:
    """``source(ppo.gae)`` as the last line of a cell shows the package's ``gae``, highlighted."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.ismethod(obj)):
        raise TypeError(f"source() shows a function or class, got {type(obj).__name__}")
    return Source(obj)


def settings(cfg, title: str | None = None) -> str:
    """A dataclass (nested ones indented) as ``name = value`` lines."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"settings() lays out a dataclass instance, got {type(cfg).__name__}")
    lines = [title or type(cfg).__name__]

    def walk(obj, indent):
        width = max(len(f.name) for f in dataclasses.fields(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                lines.append(f"{' ' * indent}{f.name}: {type(value).__name__}")
                walk(value, indent + 4)
            else:
                lines.append(f"{' ' * indent}{f.name:<{width}} = {value!r}")

    walk(cfg, 2)
    return "\n".join(lines)


BUILD_TIMES = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "build_times.json"
CACHE_STATES = {"cold": "from an empty cache", "warm": "with every stage already cached"}


def build_times(notebook: str, path: pathlib.Path | None = None) -> str:
    """How long executing ``notebook`` ("09") took at full size, cold and warm, as the build measured it."""
    path = BUILD_TIMES if path is None else pathlib.Path(path)
    measured = json.loads(path.read_text()).get(notebook, {}) if path.is_file() else {}
    parts = [f"{label}, {measured[k]['seconds']:.0f} s ({measured[k]['date']})" if k in measured
             else f"{label}, not measured yet" for k, label in CACHE_STATES.items()]
    return (f"How long at full size: {parts[0]}; {parts[1]}.\n(Wall-clock, measured by "
            "tools/build_notebooks.py on a 2-core CPU; a shared or busy machine is slower.)")
