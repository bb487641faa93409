"""A small Sphinx extension for the course's HTML pages.

The book has no live kernels (launch buttons and thebe are off), yet
sphinx-thebe, which Jupyter Book v1 always loads, adds its configuration
script to every page, twice on some builds ("Identifier 'THEBE_JS_URL' has
already been declared" in the browser console) and names a CDN. This drops
those scripts and any exact duplicate script, so pages load only what they use.
"""
from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", prune_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
