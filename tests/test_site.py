"""The course website: it builds from the committed notebooks, and every page passes a real-browser check.

Needs the ``site`` extra (pip install -e ".[site]") to build, and Debian's chromium and
chromium-driver for the browser check; each test skips, naming what is missing, without them. The
site is built into a temporary folder, so a build of yours in site/_build is left alone. About a
minute for both on a quiet 2-core machine. By hand: ``python tools/build_site.py --check``.
"""

import importlib.util
import pathlib

import pytest

_path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "build_site.py"
_spec = importlib.util.spec_from_file_location("build_site", _path)
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)

_missing = build_site.missing_packages()
needs_site_extra = pytest.mark.skipif(
    bool(_missing), reason=f"site extra not installed (missing {', '.join(_missing)}): pip install -e \".[site]\"")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    return build_site.build(out, log=lambda *a: None)


def test_readme_sections_the_site_copies_exist():
    readme = (build_site.ROOT / "README.md").read_text()
    pages = "".join(p.read_text() for p in build_site.SITE.glob("*.md"))
    wanted = build_site.re.findall(r"\{\{README: (.+?)\}\}", pages)
    assert wanted
    for heading in wanted:
        assert build_site.readme_section(readme, heading).startswith(f"## {heading}\n")


def test_staged_notebooks_lose_their_widgets_but_keep_their_outputs():
    import json

    for path in build_site.notebooks():
        before = json.loads(path.read_text())
        after = json.loads(build_site.staged_notebook(path))
        assert "widgets" not in after["metadata"]
        assert len(after["cells"]) == len(before["cells"]) + 1  # the header box
        assert build_site.WIDGET not in json.dumps(after)
        kept = [o for c in after["cells"] for o in c.get("outputs", [])]
        assert len(kept) == sum(len(c.get("outputs", [])) for c in before["cells"])


def test_no_api_page_shows_the_exercise_solutions():
    assert "rlhf_edu.exercises.solutions" not in build_site.api_modules()
    assert "rlhf_edu.formulas" in build_site.api_modules()


@pytest.mark.slow  # builds the whole site
@needs_site_extra
def test_site_builds_a_page_per_notebook_and_per_module(built):
    for path in build_site.notebooks():
        page = built / "notebooks" / f"{path.stem}.html"
        assert page.is_file(), page
        assert "not done yet" in page.read_text()  # every notebook ends with its exercises
    for name in build_site.api_modules():
        assert (built / "api" / f"{name}.html").is_file(), name
    assert (built / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    for page in built.rglob("*.html"):  # nothing loaded from another host
        text = page.read_text()
        assert "cdn.jsdelivr" not in text and "unpkg.com" not in text and "cdnjs" not in text, page


@pytest.mark.slow  # builds the whole site
@needs_site_extra
@pytest.mark.skipif(bool(build_site.browser_missing()), reason=f"browser check: {build_site.browser_missing()}")
def test_every_page_passes_the_browser_check(built, tmp_path):
    result = build_site.check(built, screenshots=tmp_path, log=lambda *a: None)
    assert result["pages"] > 12 + 40  # the notebooks, the API pages and the rest
    assert result["search_results"] > 0
    for name in build_site.SCREENSHOTS:
        assert (tmp_path / name).stat().st_size > 20_000
