"""Maintainers' tools (not installed with the course package): the notebook sources
(``tools/assignments/``) and their builder, the book's dependency list, the vendored assets.
Run them from the repository root as modules: ``python -m tools.make_notebooks 02-elman``."""
