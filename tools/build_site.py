"""Build the course website from the committed notebooks, and check it in a real browser.

    .venv/bin/pip install -e ".[site]"
    .venv/bin/python tools/build_site.py            # build: site/_build/html/index.html
    .venv/bin/python tools/build_site.py --check    # build, then open every page in headless Chromium
    .venv/bin/python -m http.server 8000 --bind 127.0.0.1 -d site/_build/html   # read it at http://127.0.0.1:8000

The build stages a Sphinx source folder in site/_build/src: site/ (conf.py, the hand-written pages,
vendored MathJax), a copy of each committed notebook (outputs as committed, never executed) with a
box on top naming its file and how to run it live, pages whose text comes from the README's own
sections, the exercise list from ``rlhf_edu.exercises``, and one API page per module from its
docstrings. Then it runs Sphinx (MyST-NB, sphinx-book-theme). Only files whose content changed are
rewritten, so a second build redoes only the pages that changed. Nothing is fetched from the network.

The check (``--check``, and tests/test_site.py) serves the built site on 127.0.0.1, opens every page
in Debian's Chromium (apt-get install -y chromium chromium-driver; pip install selenium) and fails
on any console error, failed request, broken internal link or anchor, image that did not load, raw
or unrendered math, reStructuredText shown as text, notebook page without its notebook's title, a
search for "GAE" that finds nothing, and any notebook section more than two clicks from the home page. It saves three
screenshots as figures/site_*.png.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import json
import os
import pathlib
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
BUILD = SITE / "_build"
FIGURES = ROOT / "figures"
# The browser and its driver, and the test that they are here, are the widget check's (tools/browser_check.py).
_spec = importlib.util.spec_from_file_location("browser_check", pathlib.Path(__file__).with_name("browser_check.py"))
_browser_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_browser_check)
CHROMIUM, CHROMEDRIVER = _browser_check.CHROMIUM, _browser_check.CHROMEDRIVER
SITE_PACKAGES = ("sphinx", "myst_nb", "sphinx_book_theme")
WIDGET = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="widget-note"><strong>Live widget.</strong> In JupyterLab this cell shows sliders or a '
               "text box; they need a running Python kernel, so a static page cannot show them. The cells that "
               "follow print the same display for one setting.</p>")
NOT_API = {"rlhf_edu.exercises.solutions", "rlhf_edu.exercises.__main__"}  # solutions stay off the public site


# ---------------------------------------------------------------- staging the Sphinx source


def missing_packages() -> list[str]:
    import importlib.util

    return [m for m in SITE_PACKAGES if importlib.util.find_spec(m) is None]


def notebooks() -> list[pathlib.Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def notebook_title(nb: dict) -> str:
    """The notebook's `# ` heading: its page's title."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    raise ValueError("notebook has no '# ' title")


def readme_section(readme: str, heading: str) -> str:
    """The README's `## heading` section, heading included, up to the next `## `."""
    lines = readme.splitlines()
    try:
        start = lines.index(f"## {heading}")
    except ValueError:
        raise SystemExit(f"README.md has no '## {heading}' section; update site/*.md or the README") from None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[start:end]).strip() + "\n"


def _header_cell(path: pathlib.Path) -> dict:
    rel = f"notebooks/{path.name}"
    text = (":::{admonition} This notebook, live\n:class: tip\n"
            f"This page is `{rel}` as committed, with its outputs; building the site ran none of it. "
            f"{{download}}`Download {path.name} <../_originals/{path.name}>`, or from a clone of the "
            "repository run `.venv/bin/pip install -e \".[lab]\"` and `.venv/bin/jupyter lab notebooks/`, "
            f"then open `{path.name}`. Widgets, Binder, conda and Colab: {{doc}}`../run`.\n:::")
    return {"cell_type": "markdown", "id": "site-header", "metadata": {}, "source": text}


def staged_notebook(path: pathlib.Path) -> str:
    """The notebook as the site shows it: a header box after its first cell, each widget replaced by a note."""
    nb = json.loads(path.read_text())
    nb["metadata"].pop("widgets", None)  # the saved widget state would make MyST-NB load the widget JS
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if WIDGET in out.get("data", {}):
                out["data"] = {"text/html": WIDGET_NOTE}
                out["metadata"] = {}
    nb["cells"].insert(1, _header_cell(path))
    return json.dumps(nb, indent=1, ensure_ascii=False)


def api_modules() -> list[str]:
    import rlhf_edu

    names = ["rlhf_edu"] + [m.name for m in pkgutil.walk_packages(rlhf_edu.__path__, "rlhf_edu.")]
    return [n for n in names if n not in NOT_API]


def api_pages() -> dict[str, str]:
    pages = {}
    for name in api_modules():
        # eval-rst: autodoc writes reStructuredText, which a MyST page would otherwise read as Markdown.
        pages[f"api/{name}.md"] = f"# `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n"
    toc = "\n".join(name for name in api_modules())
    pages["api/index.md"] = (
        "# The package's API\n\nOne page per module of `rlhf_edu`, generated from its docstrings when the site "
        "is built. The package's own docstring (the first page) says which module holds what. The exercises' "
        "reference solutions are left out on purpose.\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n")
    return pages


def exercises_table(titles: dict[str, tuple[str, str]]) -> str:
    from rlhf_edu.exercises import EXERCISES

    rows = ["| notebook | function to write | what it takes and returns |", "|---|---|---|"]
    for ex in EXERCISES.values():
        stem, title = titles[ex.notebook]
        doc = ex.doc.replace("|", "\\|")
        rows.append(f"| {{doc}}`{title} <notebooks/{stem}>` | `{ex.signature}` | {doc} |")
    return f"All {len(EXERCISES)} exercises, in course order:\n\n" + "\n".join(rows) + "\n"


def staged_files() -> dict[str, bytes]:
    """Every file of the Sphinx source folder, by path relative to it."""
    files = {str(p.relative_to(SITE)): p.read_bytes() for p in SITE.rglob("*")
             if p.is_file() and BUILD not in p.parents and "__pycache__" not in p.parts}
    readme = (ROOT / "README.md").read_text()
    titles = {}
    for path in notebooks():
        nb = json.loads(path.read_text())
        titles[path.name[:2]] = (path.stem, notebook_title(nb))
        files[f"notebooks/{path.name}"] = staged_notebook(path).encode()
        files[f"_originals/{path.name}"] = path.read_bytes()
    files.update({k: v.encode() for k, v in api_pages().items()})

    def fill(text: str) -> str:
        text = re.sub(r"\{\{README: (.+?)\}\}", lambda m: readme_section(readme, m.group(1)), text)
        text = text.replace("{{NOTEBOOK_TOC}}", "\n".join(f"notebooks/{stem}" for stem, _ in titles.values()))
        return text.replace("{{EXERCISES}}", exercises_table(titles)) if "{{EXERCISES}}" in text else text

    for name in [k for k in files if k.endswith(".md") and "/" not in k]:
        files[name] = fill(files[name].decode()).encode()
    return files


def stage(src: pathlib.Path) -> int:
    """Write the staged source folder; only changed files are rewritten. Returns how many were."""
    files = staged_files()
    written = 0
    for rel, data in files.items():
        path = src / rel
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written += 1
    for path in [p for p in src.rglob("*") if p.is_file() and str(p.relative_to(src)) not in files]:
        path.unlink()  # a page whose source is gone
    return written


def build(out: pathlib.Path = BUILD, log=print) -> pathlib.Path:
    """Stage and run Sphinx into out/html; returns that folder. Raises if Sphinx fails or warns."""
    missing = missing_packages()
    if missing:
        raise RuntimeError(f"missing {', '.join(missing)}: pip install -e \".[site]\"")
    src, html, doctrees = out / "src", out / "html", out / "doctrees"
    t0 = time.monotonic()
    changed = stage(src)
    log(f"staged {src.relative_to(ROOT) if src.is_relative_to(ROOT) else src} ({changed} files changed)")
    warnings = out / "warnings.txt"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-w", str(warnings), "-d", str(doctrees),
           str(src), str(html)]
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    text = warnings.read_text().strip() if warnings.exists() else ""
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed (exit {done.returncode}); see {warnings}")
    # The package's docstrings are plain text, not strict reStructuredText: a warning about one is shown,
    # not fatal (a rendering it breaks, such as a dangling link, still fails the browser check).
    lines = text.splitlines()
    fatal = [line for line in lines if "docstring of " not in line]
    if fatal:
        raise RuntimeError(f"sphinx-build warned ({warnings}):\n" + "\n".join(fatal))
    if lines:
        log(f"{len(lines)} docstring warnings (not fatal):\n" + "\n".join(lines))
    log(f"built {html / 'index.html'} in {time.monotonic() - t0:.1f} s")
    return html


# ---------------------------------------------------------------- the browser check


def browser_missing() -> str | None:
    """None when the browser check can run here, else what is missing (the widget check's own test)."""
    return _browser_check.available()


class _Handler(http.server.SimpleHTTPRequestHandler):
    failed: list[str]

    def log_message(self, fmt, *args):  # quiet, but remember every request that failed
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            self.failed.append(f"{args[1]} {args[0]}")


def serve(html: pathlib.Path):
    """A static server for html on a free port of 127.0.0.1: (server, base URL, failed requests)."""
    failed: list[str] = []
    handler = functools.partial(type("Handler", (_Handler,), {"failed": failed}), directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/", failed


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # No internet here: Chromium's own background connections must stay off, or they log errors.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1300,1000", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    return driver


# Run in the page once it has loaded: wait for MathJax if the page has it, then report what we check.
_INSPECT = r"""
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
ready.then(() => {
  document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = 'eager'; });
  const imgs = [...document.images];
  return Promise.all(imgs.map(img => img.complete ? null : new Promise(r => {
    img.addEventListener('load', r); img.addEventListener('error', r); setTimeout(r, 10000); })));
}).then(() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight, kbd').forEach(e => e.remove());
  const h2s = [...main.querySelectorAll('section > h2')].map(h => h.parentElement.id).filter(Boolean);
  done({
    title: (main.querySelector('h1') || {textContent: ''}).textContent.replace(/[#¶]/g, '').trim(),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
         .concat([...document.querySelectorAll('a[name]')].map(e => e.name)),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    brokenImages: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                  .map(i => i.getAttribute('src')),
    text: copy.textContent,
    unrenderedMath: [...main.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
                    .map(e => e.textContent.slice(0, 80)),
    mathErrors: [...main.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
    sections: h2s,
    widgetNotes: main.querySelectorAll('.widget-note').length,
    hasMathJax: !!window.MathJax,
  });
}).catch(e => done({error: String(e)}));
"""
# Three pages: the home page, a formula with its plot, a widget's note and the static display after it.
SCREENSHOTS = {"site_home.png": "index.html",
               "site_04_ppo_clip.png": "notebooks/04_importance_sampling_and_ppo.html#ppo-s-clipped-objective",
               "site_05_widget.png": "notebooks/05_kl_penalty.html#try-it"}
RAW_RST = re.compile(r"^\s*\.\. [\w:-]+::", re.M)  # a directive shown as text (autodoc read as Markdown)
RAW_MATH = re.compile(r"\$[^$\s][^$\n]{0,200}?\$|\\\(|\\\)|\\\[|\\\]")


def _page_url_to_file(html: pathlib.Path, base: str, url: str) -> tuple[pathlib.Path | None, str]:
    """The file an internal URL points at (None for external URLs) and its fragment."""
    if not url.startswith(base):
        return None, ""
    parts = urllib.parse.urlsplit(url)
    rel = urllib.parse.unquote(parts.path)[len(urllib.parse.urlsplit(base).path):]
    path = html / rel
    if rel == "" or rel.endswith("/"):
        path = path / "index.html"
    return path, urllib.parse.unquote(parts.fragment)


def _expected_notebooks(html: pathlib.Path) -> dict[str, dict]:
    """For each notebook page: its title and what it must show (from the staged source)."""
    src = html.parent / "src" / "notebooks"
    out = {}
    for path in sorted(src.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
        out[f"notebooks/{path.stem}.html"] = {
            "title": notebook_title(nb),
            "widgets": sum(o.get("data", {}).get("text/html") == WIDGET_NOTE for o in outputs),
            "not_done": any("not done yet" in "".join(o.get("text", "")) for o in outputs),
        }
    return out


def check(html: pathlib.Path = BUILD / "html", screenshots: pathlib.Path | None = FIGURES, log=print) -> dict:
    """Open every page of the built site in headless Chromium. Raises AssertionError listing every problem."""
    why = browser_missing()
    if why:
        raise RuntimeError(why)
    pages = sorted(str(p.relative_to(html)) for p in html.rglob("*.html") if "_static" not in p.parts)
    if "index.html" not in pages:
        raise RuntimeError(f"no site in {html}: build it first (python tools/build_site.py)")
    notebooks_expected = _expected_notebooks(html)
    server, base, failed_requests = serve(html)
    profile = tempfile.mkdtemp(prefix="rlhf_site_chromium_")
    problems: list[str] = []
    seen: dict[str, dict] = {}
    t0 = time.monotonic()
    driver = _driver(profile)
    try:
        for rel in pages:
            driver.get(base + rel)
            info = driver.execute_async_script(_INSPECT)
            if "error" in info:
                problems.append(f"{rel}: the page script failed: {info['error']}")
                continue
            seen[rel] = info
            for entry in driver.get_log("browser"):
                if entry["level"] in ("SEVERE", "ERROR"):
                    problems.append(f"{rel}: console error: {entry['message'][:300]}")
            problems += [f"{rel}: image did not load: {src}" for src in info["brokenImages"]]
            problems += [f"{rel}: math not rendered: {t!r}" for t in info["unrenderedMath"]]
            problems += [f"{rel}: MathJax error: {t!r}" for t in info["mathErrors"]]
            problems += [f"{rel}: raw math in the text: {m.group(0)[:80]!r}" for m in RAW_MATH.finditer(info["text"])]
            problems += [f"{rel}: reStructuredText as text: {m.group(0)!r}" for m in RAW_RST.finditer(info["text"])]
            want = notebooks_expected.get(rel)
            if want:
                if want["title"] not in info["title"]:
                    problems.append(f"{rel}: title {info['title']!r}, expected the notebook's {want['title']!r}")
                if info["widgetNotes"] != want["widgets"]:
                    problems.append(f"{rel}: {info['widgetNotes']} widget notes shown, {want['widgets']} widgets")
                if want["not_done"] and "not done yet" not in info["text"]:
                    problems.append(f"{rel}: the exercises' 'not done yet' outputs are not shown")
        problems += _link_problems(html, base, seen)
        problems += _reach_problems(html, base, seen, notebooks_expected)
        for rel in SCREENSHOTS.values():  # the screenshots must show what they are named for
            page, _, anchor = rel.partition("#")
            if page not in seen or (anchor and anchor not in seen[page]["ids"]):
                problems.append(f"screenshot target {rel} does not exist")
        results = _search(driver, base, "GAE")
        log(f"search for 'GAE': {len(results)} results, first {results[:3]}")
        if not results:
            problems.append("search for 'GAE' found nothing")
        for entry in driver.get_log("browser"):
            if entry["level"] in ("SEVERE", "ERROR"):
                problems.append(f"search.html: console error: {entry['message'][:300]}")
        problems += [f"request failed: {r}" for r in failed_requests]
        if screenshots is not None:
            _screenshots(driver, base, screenshots, log)
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    seconds = time.monotonic() - t0
    log(f"checked {len(seen)} pages in {seconds:.0f} s")
    if problems:
        raise AssertionError(f"{len(problems)} problems:\n" + "\n".join(problems[:60]))
    return {"pages": len(seen), "search_results": len(results), "seconds": seconds}


def _link_problems(html: pathlib.Path, base: str, seen: dict[str, dict]) -> list[str]:
    problems = []
    for rel, info in seen.items():
        for url in sorted(set(info["links"])):
            path, fragment = _page_url_to_file(html, base, url)
            if path is None:
                continue
            if not path.is_file():
                problems.append(f"{rel}: broken link {url[len(base):]}")
            elif fragment:
                target = seen.get(str(path.relative_to(html)))
                if target is not None and fragment not in target["ids"]:
                    problems.append(f"{rel}: broken anchor {url[len(base):]}")
    return problems


def _reach_problems(html: pathlib.Path, base: str, seen: dict[str, dict], notebooks_expected: dict) -> list[str]:
    """Every notebook section must be at most two clicks from the home page."""
    def targets(rel):
        out = set()
        for url in seen.get(rel, {}).get("links", []):
            path, fragment = _page_url_to_file(html, base, url)
            if path is not None and path.is_file():
                out.add((str(path.relative_to(html)), fragment))
        return out

    one = targets("index.html")
    two = set(one)
    for page in {p for p, _ in one}:
        two |= targets(page)
    problems = []
    for rel in notebooks_expected:
        if (rel, "") not in two and rel not in {p for p, _ in one}:
            problems.append(f"{rel} is not linked from the home page")
        for section in seen.get(rel, {}).get("sections", []):
            if (rel, section) not in two:
                problems.append(f"{rel}#{section} is more than two clicks from the home page")
    return problems


def _search(driver, base: str, query: str) -> list[str]:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}search.html?q={urllib.parse.quote(query)}")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        items = driver.find_elements(By.CSS_SELECTOR, "#search-results li")
        status = driver.find_elements(By.CSS_SELECTOR, "#search-results p")
        if items or (status and "found" in status[0].text.lower() and "search" in status[0].text.lower()):
            return [i.text.splitlines()[0] for i in items if i.text]
        time.sleep(0.5)
    return []


def _screenshots(driver, base: str, folder: pathlib.Path, log) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rel in SCREENSHOTS.items():
        driver.get(base + rel)
        driver.execute_async_script(_INSPECT)
        time.sleep(1)
        driver.save_screenshot(str(folder / name))
        log(f"screenshot: {folder / name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="after building, check every page in headless Chromium")
    ap.add_argument("--check-only", action="store_true", help="check the site already built, do not build")
    ap.add_argument("--screenshots", type=pathlib.Path, default=FIGURES, help="folder for the three screenshots")
    args = ap.parse_args(argv)
    if not args.check_only:
        t0 = time.monotonic()
        build()
        print(f"build took {time.monotonic() - t0:.1f} s; open it with: "
              ".venv/bin/python -m http.server 8000 --bind 127.0.0.1 -d site/_build/html")
    if args.check or args.check_only:
        result = check(BUILD / "html", args.screenshots)
        print(f"OK: {result['pages']} pages, search for 'GAE' found {result['search_results']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
