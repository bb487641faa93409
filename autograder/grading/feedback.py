"""Feedback that shows the isolated grade and hides the hidden tests' internals.

nbgrader builds feedback from the autograded notebook, hidden tests included
(nbgrader#917). :class:`IsolatedFeedback` runs last in ``generate_feedback``
(on a copy; the autograded notebook is untouched): it removes the
``### BEGIN HIDDEN TESTS`` blocks from test cells, keeps only the error name
and message of failed tests (no traceback lines, which quote hidden calls),
and adds a line under each graded cell with the score that counts and, when
the part failed, the isolated grader's message.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool, Dict

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


class IsolatedFeedback(Preprocessor):
    enabled = Bool(True).tag(config=True)
    notes = Dict(help="graded cell id -> text shown under it").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            return cell, resources
        if "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = HIDDEN.sub("# (hidden tests)\n", cell.source)
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
            outputs.append(out)
        note = self.notes.get(meta.get("grade_id"))
        if note:
            outputs.append(new_output("stream", name="stdout", text=note + "\n"))
        cell.outputs = outputs
        return cell, resources
