"""What the notebooks show of the package itself: its source, and settings one field a line.

``source(fn)`` renders ``inspect.getsource(fn)`` with syntax highlighting (HTML in Jupyter, plain
text anywhere else), so a notebook shows the code that actually runs, never a copy that can drift.
``settings(cfg)`` lays a dataclass out one field a line, for configs too long for one ``print``.
"""

from __future__ import annotations

import dataclasses
import html
import inspect


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
