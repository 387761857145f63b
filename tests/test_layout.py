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
