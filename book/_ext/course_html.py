"""A small Sphinx extension for the course's HTML pages.

* The theme's download button offers a page's Markdown source, which is of no
  use to a reader. On a chapter page it is replaced by a button that downloads
  the chapter's graded exercise notebook (``exercises/<chapter>/*.ipynb``, the
  file the chapter's {download} link already ships); elsewhere it is removed.
* Every displayed equation must carry a label (so it is numbered and can be
  cited); an unlabeled one is a warning, which fails the -W build.

The book has no live kernels (launch buttons and thebe are off), yet
sphinx-thebe, which Jupyter Book v1 always loads, adds its configuration
script to every page, twice on some builds ("Identifier 'THEBE_JS_URL' has
already been declared" in the browser console) and names a CDN. This drops
those scripts and any exact duplicate script, so pages load only what they use.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _key(script):
    attrs = getattr(script, "attributes", {}) or {}
    return (str(script), tuple(sorted((k, str(v)) for k, v in attrs.items())))


def _is_thebe(script) -> bool:
    attrs = getattr(script, "attributes", {}) or {}
    return "sphinx-thebe.js" in str(script) or "THEBE_JS_URL" in str(attrs.get("body", ""))


def prune_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _key(script)
        if key in seen or _is_thebe(script):
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept


def exercise_download(app, pagename):
    """URL (relative to the page) of the chapter's exercise notebook, or None."""
    chapter = pagename.rsplit("/", 1)[-1]
    for source, (_docs, dest) in app.env.dlfiles.items():
        if source.startswith(f"exercises/{chapter}/") and source.endswith(".ipynb"):
            return dest
    return None


def exercise_button(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons")
    if buttons is None:
        return
    buttons[:] = [b for b in buttons if b.get("label") != "download-buttons"]
    dest = exercise_download(app, pagename)
    if dest:
        buttons.insert(0, {
            "type": "link",
            "url": context["pathto"](f"_downloads/{dest}", 1),
            "tooltip": "Download this chapter's graded exercise notebook (.ipynb)",
            "icon": "fas fa-download",
            "label": "download-exercise-button",
        })


def check_equation_labels(app, doctree, docname):
    for node in doctree.findall(nodes.math_block):
        if not node.get("label"):
            logger.warning("unlabeled equation: give every displayed formula a label, "
                           "e.g. $$ ... $$ (eq-ch2-step), so it is numbered and can be cited",
                           location=node)


def setup(app):
    app.connect("html-page-context", prune_scripts, priority=900)
    app.connect("html-page-context", exercise_button, priority=900)
    app.connect("doctree-resolved", check_equation_labels)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
