"""The project's set-up files agree with each other."""

import pathlib
import re

import pytest

try:
    import tomllib  # Python >= 3.11
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI (the test extra installs it)
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _names(reqs):
    return {re.split(r"[<>=!~ \[]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in reqs}


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # The conda environment is the everything-included one: core + lab + test + hf.
    wanted = _names(project["dependencies"] + extras["lab"] + extras["test"] + extras["hf"])
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_reqs = [l.strip()[2:] for l in env_lines if re.match(r"^\s{6}- ", l) and "-e ." not in l]
    assert _names(pip_reqs) == wanted
    assert any("-e ." in l for l in env_lines), "environment.yml must install the package itself"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^python3 -m venv .venv && .*pytest.*$", readme, flags=re.M)
    assert commands, "README must show the test command"
    assert commands[0] in ci.splitlines()


def test_torch_requirement_is_a_bounded_range():
    # An open "torch" pulls whatever is newest (often a multi-GB CUDA build).
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch_req = next(d for d in deps if d.startswith("torch"))
    assert ">=" in torch_req and "<" in torch_req.replace("<=", "")


def test_committed_notebooks_are_built_from_their_sources():
    # Editing notebooks/src/NN_*.py without rebuilding would leave nbval testing stale code.
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    sources = sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))
    assert len(sources) == 12
    for src in sources:
        want = [(c.cell_type, c.source) for c in build.parse_percent(src.read_text()).cells]
        nb = nbformat.read(ROOT / "notebooks" / (src.stem + ".ipynb"), as_version=4)
        assert [(c.cell_type, c.source) for c in nb.cells] == want, f"rebuild {src.stem}.ipynb from {src.name}"


def test_committed_notebooks_were_executed():
    # nbval fails a cell that carries outputs but no execution count ("Unrun reference cell has
    # outputs"): a hand-edited or half-built notebook. Every code cell must have been run.
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        unrun = [c.id for c in nb.cells if c.cell_type == "code" and c.execution_count is None]
        assert not unrun, f"{path.name}: cells {unrun} were never executed; rebuild it"


def test_the_build_records_cold_and_warm_times_and_fills_the_cell_that_prints_them(tmp_path, monkeypatch):
    """The first screen's times come from the build: a cold run (empty cache) and a warm one (nothing trained)."""
    import importlib.util

    import nbformat

    from rlhf_edu import show

    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "tools" / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    times = tmp_path / "build_times.json"
    assert "from an empty cache, not measured yet" in show.build_times("09", times)
    cache = tmp_path / "cache"
    monkeypatch.setenv("RLHF_EDU_CACHE", str(cache))
    assert build.cache_snapshot() == set()            # no cache at all: a cold start
    (cache / "ppo-abc").mkdir(parents=True)
    assert build.cache_snapshot() == {"ppo-abc"}
    build.record_time("09", "cold", 312.44, times)
    build.record_time("09", "warm", 84.0, times)
    text = show.build_times("09", times)
    assert "from an empty cache, 312 s" in text and "with every stage already cached, 84 s" in text
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('print(show.build_times("09"))'), nbformat.v4.new_code_cell("1 + 1")]
    nb.cells[0]["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="stale\n")]
    build.fill_build_times(nb, "09", times)
    assert nb.cells[0].outputs[0].text == text + "\n" and nb.cells[1].get("outputs") == []
    nb.cells[0].source = 'print(show.build_times("09"))\nprint(cfg)'  # its other output would be lost
    with pytest.raises(ValueError, match="nothing else"):
        build.fill_build_times(nb, "09", times)
