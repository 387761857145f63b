"""Sphinx configuration of the course website. Build it with ``python tools/build_site.py``.

That script stages this folder, the committed notebooks and pages generated from the README and
the package into ``site/_build/src``, then runs Sphinx on the staged copy. The notebooks are
rendered with the outputs they were committed with: nothing is executed (``nb_execution_mode``).
Nothing is fetched from a CDN at build or view time: MathJax is vendored in ``_static/mathjax``
and the ipywidgets loader is switched off (widgets need a kernel; the pages say so).
"""

import importlib.util
import re

project = "rlhf_edu"
html_title = "RLHF from scratch"
author = "the rlhf_edu authors"
copyright = "the rlhf_edu authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]

# The notebooks as committed, outputs included, never re-run.
nb_execution_mode = "off"
nb_merge_streams = True
# Markdown outputs (the notebooks print their readings as markdown) may hold $…$ math.
nb_render_markdown_format = "myst"
# MyST-NB would load the ipywidgets embed script from a CDN; a static page has no kernel anyway.
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# MathJax 3 from this folder (see _static/mathjax/VENDORED.md), not from a CDN.
mathjax_path = "mathjax/tex-mml-chtml.js"

# The API pages import the package; the Hugging Face extra is optional, so stand it in when absent.
autodoc_mock_imports = [m for m in ("transformers", "datasets") if importlib.util.find_spec(m) is None]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

exclude_patterns = ["_originals/**", "**/.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_favicon = "_static/favicon.svg"
# Without a default, a first visit (empty localStorage) logs "Got invalid theme mode" as a console error.
html_context = {"default_mode": "auto"}
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,  # it would offer the staged copy; each page links the committed file
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}


# The package's docstrings are written as plain text to be read with help(), with ``literals``; the
# exercise statements are Markdown (the notebooks show them above each stub). Make both read right as
# the reStructuredText autodoc expects, without editing the package.
_SPANS = re.compile(r"(``.+?``|`[^`]+`|\$[^$]+\$)")


def _docstring_as_rst(app, what, name, obj, options, lines):
    out, literal, prev = [], False, ""
    for line in lines:
        indented = line.startswith((" ", "\t")) and line.strip()
        if indented and not literal and prev == "" and out and not out[-2:-1] == ["::"]:
            before = next((x for x in reversed(out) if x.strip()), "")
            if not before.rstrip().endswith("::") and not before.lstrip().startswith((".. ", "- ", "* ")):
                out[-1:] = ["", "::", ""]  # an indented block after a blank line: keep it as typed
            literal = True
        elif line.strip() and not indented:
            literal = False
        if not literal:
            if name.startswith("rlhf_edu.exercises"):
                line = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", line)
            parts = _SPANS.split(line)  # escape | (a substitution in RST) outside code and math
            line = "".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))
            if name.startswith("rlhf_edu.exercises"):
                line = re.sub(r"\$([^$]+)\$", r":math:`\1`", line)
        out.append(line)
        prev = line.strip()
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", _docstring_as_rst)
