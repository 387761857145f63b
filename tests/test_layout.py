"""The package's layout stays findable: small modules, every one described, no reach into privates."""

import ast
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "rlhf_edu"
MODULES = sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py")


def _dotted(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_no_module_is_long():
    # One idea a module: past ~450 lines a module holds two (tools/mutate.py keeps its own count).
    long = {_dotted(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > 460}
    assert not long, long


def test_every_module_is_described_in_its_package_docstring():
    for path in MODULES:
        init = path.parent / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert f"``{path.stem}``" in doc or f"``{path.stem}``," in doc, f"{init} does not describe {path.stem}"


def test_no_module_imports_another_modules_private_names():
    for path in MODULES:
        tree = ast.parse(path.read_text())
        modules = set()  # names this file binds to one of our modules: from . import x, from .. import y as z
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{_dotted(path)} imports {private} from {node.module}"
                if node.level or (node.module or "").startswith("rlhf_edu"):
                    modules |= {a.asname or a.name for a in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                raise AssertionError(f"{_dotted(path)} uses {node.value.id}.{node.attr}")


def test_ruff_is_clean():
    # ruff is in the test extra; CI runs this with the rest of the suite.
    ruff = shutil.which("ruff") or str(pathlib.Path(sys.executable).parent / "ruff")
    out = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# The import rule: the core and the teaching helpers know no task; a task knows no other task.
# Only the command line (cli.py) puts tasks together. A judge or a task's data is passed in.
TASKS = ("sentiment", "tldr")


def _imported_modules(path: pathlib.Path, root: pathlib.Path) -> set[str]:
    """Every rlhf_edu module ``path`` imports, as dotted names (relative imports resolved)."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {m for m in out if m == "rlhf_edu" or m.startswith("rlhf_edu.")}


def import_rule_breaks(root: pathlib.Path = ROOT) -> list[str]:
    """'a imports b' for every import that breaks the rule, in the package under ``root``."""
    breaks = []
    for path in sorted((root / "rlhf_edu").rglob("*.py")):
        rel = path.relative_to(root / "rlhf_edu").parts
        if rel == ("cli.py",):
            continue
        own = rel[0] if len(rel) > 1 and rel[0] in TASKS else None
        for module in sorted(_imported_modules(path, root)):
            parts = module.split(".")
            task = parts[1] if len(parts) > 1 and parts[1] in TASKS else None
            if task is not None and task != own:
                breaks.append(f"{'/'.join(rel)} imports {module}")
    return breaks


def test_core_and_teaching_modules_import_no_task_and_tasks_no_other_task():
    assert not import_rule_breaks(), import_rule_breaks()


def test_the_import_rule_catches_a_task_importing_another(tmp_path):
    # A scratch copy of the package with one deliberate break: the rule must see it.
    shutil.copytree(PKG, tmp_path / "rlhf_edu", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "rlhf_edu" / "tldr" / "judge.py"
    target.write_text(target.read_text() + "\nfrom ..sentiment import judge as _other_task_judge  # noqa\n")
    core = tmp_path / "rlhf_edu" / "plots.py"
    core.write_text(core.read_text() + "\nfrom rlhf_edu.tldr import posts  # noqa\n")
    assert import_rule_breaks(tmp_path) == ["plots.py imports rlhf_edu.tldr", "plots.py imports rlhf_edu.tldr.posts",
                                            "tldr/judge.py imports rlhf_edu.sentiment",
                                            "tldr/judge.py imports rlhf_edu.sentiment.judge"]
