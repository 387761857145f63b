"""The grading machinery shared by every exercise: cases, comparison, the printed report.

A check never raises because of the student's code: a stub that still raises
``NotImplementedError`` is reported as "not done yet", any other exception as a
failed case. That keeps a notebook with its stubs left in runnable under nbval.
Every case is built from fixed seeds and printed with fixed formatting, so the
report is the same on every run.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

MAX_LINE = 190  # printed lines stay short enough to read in a notebook (and under 200 chars)


# ---------------------------------------------------------------- cases and bugs

@dataclass
class Bug:
    """A plausible wrong answer: if the student's output matches its output, its hint is shown."""

    fn: Callable
    hint: str


@dataclass
class Case:
    """One graded call: ``fn(*inputs.values())`` (or ``run(fn, *inputs)``) must give ``expected``."""

    name: str
    inputs: dict[str, Any]
    expected: Any
    hint: str
    run: Callable | None = None       # custom call, e.g. to take a gradient
    labels: tuple[str, ...] = ()      # names of the parts when expected is a tuple
    shows: str = ""                   # what a single expected value is, when not the plain output
    atol: float = 1e-6
    rtol: float = 1e-5

    def call(self, fn: Callable):
        # The student gets copies, so a function that writes into its inputs is caught
        # (its caller's tensors would change under it) and the next case is unharmed.
        args = [_copy(v) for v in self.inputs.values()]
        got = self.run(fn, *args) if self.run is not None else fn(*args)
        for (name, orig), arg in zip(self.inputs.items(), args):
            if isinstance(orig, torch.Tensor) and not torch.equal(orig, arg.detach()):
                raise InputModified(name)
        return got


class InputModified(Exception):
    pass


def _copy(v):
    return v.detach().clone() if isinstance(v, torch.Tensor) else v


# ---------------------------------------------------------------- comparison

def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    return torch.tensor(x, dtype=torch.float64)


def mismatch(got, expected, atol: float, rtol: float, labels: tuple[str, ...] = ()) -> str | None:
    """None if got matches expected, else one line saying how it differs."""
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            what = f"a {type(got).__name__}" if not isinstance(got, (tuple, list)) else f"{len(got)} values"
            return f"expected a tuple of {len(expected)} values ({', '.join(labels)}), got {what}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = mismatch(g, e, atol, rtol)
            if problem:
                return f"{labels[i] if labels else f'part {i}'}: {problem}"
        return None
    if got is None:
        return "got None: did the function forget to return its result?"
    try:
        g = _as_tensor(got)
    except (TypeError, ValueError, RuntimeError):
        return f"expected a tensor or number, got {type(got).__name__}"
    e = _as_tensor(expected)
    if g.shape != e.shape:
        return f"expected shape {tuple(e.shape)}, got shape {tuple(g.shape)}"
    bad = ~torch.isfinite(g) & torch.isfinite(e)
    if bad.any():
        idx = _index(bad)
        where = f" at {_idx_str(idx)}" if idx else ""
        return f"got {_num(g[idx].item())}{where} where {_num(e[idx].item())} was expected"
    # nan matches nan and inf matches the same inf: that is how a known bug's output is recognised
    same_nonfinite = (g.isnan() & e.isnan()) | (g.isinf() & (g == e))
    wrong = ~(((g - e).abs() <= atol + rtol * e.abs()) | same_nonfinite)
    if wrong.any():
        idx = _index(wrong)
        if not idx:
            return f"expected {_num(e.item())}, got {_num(g.item())}"
        return f"first difference at {_idx_str(idx)}: expected {_num(e[idx].item())}, got {_num(g[idx].item())}"
    return None


def _focus(expected, got):
    """For outputs of 3 or more axes, the batch row where they first differ (a whole batch is too big to print)."""
    if not isinstance(expected, torch.Tensor) or expected.dim() < 3:
        return expected, got, ""
    try:
        g, e = _as_tensor(got), _as_tensor(expected)
    except (TypeError, ValueError, RuntimeError):
        return expected, got, ""
    if g.shape != e.shape:
        return expected, got, ""
    same = ((g - e).abs() <= 1e-6) | (g.isnan() & e.isnan())
    b = _index(~same)[0] if (~same).any() else 0
    return expected[b], g[b], f"[{b}]"


def _index(flags: torch.Tensor) -> tuple[int, ...]:
    if flags.dim() == 0:
        return ()
    return tuple(int(i) for i in flags.nonzero()[0])


def _idx_str(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, idx)) + "]" if idx else "the value"


# ---------------------------------------------------------------- formatting

def _num(v) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = f"{v:.6g}"
    return "0" if s == "-0" else s


def _row(t: torch.Tensor) -> str:
    return "[" + ", ".join(_num(v) for v in t.tolist()) + "]"


def fmt(x, indent: int = 0, rows: bool = False) -> list[str]:
    """Lines showing x: small tensors in full (one row per line), big ones by shape."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.dtype == torch.bool:
            t = t.long()
        if t.dim() == 0:
            return [_num(t.item())]
        if t.dim() == 1 and t.numel() <= 16:
            return [_row(t)]
        if t.dim() == 2 and t.shape[0] <= 6 and t.shape[1] <= 16:
            lines = [_row(r) for r in t]
            one = "[" + ", ".join(lines) + "]"
            if len(one) + indent <= 110 and not rows:
                return [one]
            return ["[" + lines[0] + ","] + [" " + r + "," for r in lines[1:-1]] + [" " + lines[-1] + "]"]
        head = ", ".join(_num(v) for v in t.flatten()[:6].tolist())
        return [f"tensor of shape {tuple(t.shape)}, {str(t.dtype).replace('torch.', '')}, starting [{head}, …]"]
    if isinstance(x, (tuple, list)) and all(not isinstance(v, (torch.Tensor, tuple, list)) for v in x):
        return ["[" + ", ".join(_num(v) if isinstance(v, (int, float)) else repr(v) for v in x) + "]"]
    if isinstance(x, (int, float)):
        return [_num(x)]
    if x is None:
        return ["None"]
    return [type(x).__name__]


def _block(label: str, value, labels: tuple[str, ...] = (), width: int = 10, rows: bool = False) -> list[str]:
    """'  label value' with continuation lines aligned; tuples get one labelled line per part."""
    head = f"  {label:<{width}}"
    pad = " " * len(head)
    if isinstance(value, (tuple, list)) and labels and len(value) == len(labels):
        width = max(len(n) for n in labels)
        out = []
        for i, (n, v) in enumerate(zip(labels, value)):
            lines = fmt(v, len(pad) + width + 3)
            out.append(f"{head if i == 0 else pad}{n:<{width}} = {lines[0]}")
            out += [pad + " " * (width + 3) + l for l in lines[1:]]
        return out
    lines = fmt(value, len(pad), rows)
    return [f"{head}{lines[0]}"] + [pad + l for l in lines[1:]]


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 2] + " …"


# ---------------------------------------------------------------- results

@dataclass
class Result:
    """What a check returns: ``passed`` plus the report it printed and, on failure, the failing case."""

    name: str
    passed: bool
    status: str                 # "passed", "failed" or "not done"
    n_passed: int
    n_cases: int
    message: str                # the report's last line
    report: str = ""
    hint: str = ""
    case: str | None = None     # the failing case
    inputs: dict = field(default_factory=dict)
    expected: Any = None
    got: Any = None

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Result({self.name}: {self.status}, {self.n_passed}/{self.n_cases} cases)"

    def _ipython_display_(self):
        # The check already printed its report; showing the object too would only repeat it.
        pass


# ---------------------------------------------------------------- exercises

@contextlib.contextmanager
def _quiet_torch():
    """Fork the global RNG (a check neither depends on nor disturbs the notebook's random state)
    and use one thread: the tensors are tiny, and on a busy 2-core machine waiting for a second
    thread made a check 20 times slower. The caller's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if threads != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if threads != 1:
                torch.set_num_threads(threads)


@dataclass
class Exercise:
    name: str
    notebook: str               # "01" … "12"
    args: str                   # the stub's parameters, e.g. "token_probs"
    doc: str                    # the stub's one-line docstring: shapes in, shapes out
    statement: str              # markdown shown above the stub
    build_cases: Callable[[], list[Case]]
    bugs: list[Bug]

    @property
    def signature(self) -> str:
        return f"{self.name}({self.args})"

    def stub(self) -> str:
        return f'def {self.signature}:\n    """{self.doc}"""\n    raise NotImplementedError  # your code here'

    def cases(self) -> list[Case]:
        with _quiet_torch():
            return self.build_cases()

    def check(self, fn, quiet: bool = False) -> Result:
        result = self._grade(fn)
        if not quiet:
            print(result.report)
        return result

    def _grade(self, fn) -> Result:
        if not callable(fn):
            msg = f"not done yet: pass your function to the check, e.g. check.{self.name}({self.name})"
            return Result(self.name, False, "not done", 0, 0, msg, msg)
        with _quiet_torch():
            cases = self.build_cases()
            lines: list[str] = []
            for i, case in enumerate(cases):
                torch.manual_seed(1000 + i)
                try:
                    got = case.call(fn)
                    problem = mismatch(got, case.expected, case.atol, case.rtol, case.labels)
                    hint = self._diagnose(fn, cases, i, got) if problem else ""
                except NotImplementedError:
                    msg = f"not done yet: {self.name} still raises NotImplementedError"
                    return Result(self.name, False, "not done", 0, len(cases), msg, msg)
                except InputModified as e:
                    got, problem = None, f"the function changed its input `{e}` in place"
                    hint = ("work on a copy (x = x.clone()) or with out-of-place operations: "
                            "the caller still needs its tensors")
                except Exception as e:  # the student's code failed: report it as this case's result
                    got = None
                    problem = f"raised {type(e).__name__}: {' '.join(str(e).split())}"
                    hint = case.hint
                if problem is None:
                    lines.append(f"  ✓ {case.name}")
                    continue
                lines.append(f"✗ case {i + 1} of {len(cases)}: {case.name}")
                lines.append("  inputs:")
                width = max(len(k) for k in case.inputs)
                for k, v in case.inputs.items():
                    vl = fmt(v, 6 + width + 3)
                    lines.append(f"    {k:<{width}} = {vl[0]}")
                    lines += [" " * (4 + width + 3) + l for l in vl[1:]]
                if case.shows:
                    lines.append(f"  compared: {case.shows}")
                expected, shown, row = _focus(case.expected, got)
                width = max(10, len(row) + 10)
                lines += _block(f"expected{row}:", expected, case.labels, width, bool(row))
                if got is not None:
                    lines += _block(f"got{row}:", shown, case.labels, width, bool(row))
                lines.append(f"  problem:  {problem}")
                lines.append(f"  hint: {hint}")
                msg = f"{self.name}: {i} of {len(cases)} cases pass; fix the failing case and run this cell again"
                lines.append(msg)
                report = "\n".join(_clip(l) for l in [f"{self.name}:"] + lines)
                return Result(self.name, False, "failed", i, len(cases), msg, report, hint, case.name,
                              dict(case.inputs), case.expected, got)
            msg = f"✓ {self.name}: all {len(cases)} cases pass"
            report = "\n".join(_clip(l) for l in [f"{self.name}:"] + lines + [msg])
            return Result(self.name, True, "passed", len(cases), len(cases), msg, report)

    def _diagnose(self, fn, cases: list[Case], i: int, got) -> str:
        """The hint of the known bug that best explains the student's output, else the case's hint.

        First choice: a bug whose outputs equal the student's on *every* case (two bugs can agree on
        one case, e.g. "max instead of min" and "no clip" at r = 1.5, A = 2). Second: a bug whose
        output equals the student's wrong output on the failing case.
        """
        if got is None:
            return "return the result (the function returned None)"
        case = cases[i]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a bug's nan is expected; its warnings are noise here
            student = [got if j == i else _attempt(c, fn) for j, c in enumerate(cases)]
            on_this_case = None
            for bug in self.bugs:
                wrong = _attempt(case, bug.fn)
                if wrong is _FAILED or mismatch(wrong, case.expected, case.atol, case.rtol, case.labels) is None:
                    continue  # this bug gives the right answer here: it cannot explain the difference
                if mismatch(got, wrong, case.atol, case.rtol, case.labels) is not None:
                    continue
                if all(_same(s, _attempt(c, bug.fn), c) for s, c in zip(student, cases)):
                    return bug.hint
                on_this_case = on_this_case or bug.hint
        return on_this_case or case.hint


_FAILED = object()


def _attempt(case: Case, fn):
    try:
        return case.call(fn)
    except Exception:
        return _FAILED


def _same(a, b, case: Case) -> bool:
    if a is _FAILED or b is _FAILED:
        return a is b
    return mismatch(a, b, case.atol, case.rtol, case.labels) is None


# ---------------------------------------------------------------- the registry

EXERCISES: dict[str, Exercise] = {}  # name -> exercise, in notebook order


def exercise(notebook: str, args: str, doc: str, statement: str, bugs: list[Bug]):
    """Register an exercise. The decorated function builds its cases; what is returned is its check,
    ``check(student_fn, quiet=False) -> Result``, whose docstring is the statement."""

    def wrap(build_cases):
        ex = Exercise(build_cases.__name__, notebook, args, doc, statement.strip(), build_cases, bugs)
        EXERCISES[ex.name] = ex

        def check(student_fn, quiet: bool = False) -> Result:
            return ex.check(student_fn, quiet)

        check.__name__ = check.__qualname__ = ex.name
        check.__doc__ = ex.statement + f"\n\nSignature: {ex.signature}\n{ex.doc}"
        check.exercise = ex
        return check

    return wrap


def table(names: tuple[str, ...], reference: Callable, rows: list[tuple], **case_kw) -> list[Case]:
    """Cases from rows ``(case name, *inputs, hint)``: the inputs get ``names``, the expected output
    is ``reference(*inputs)``, the package's own answer."""
    return [Case(row[0], dict(zip(names, row[1:-1])), reference(*row[1:-1]), row[-1], **case_kw) for row in rows]
