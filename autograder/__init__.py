"""The RNN course's own package, in three parts, one per audience.

The student's notebook (what ``from autograder.checks.chNN_x import ...`` needs):

* :mod:`autograder.chapters`    - the chapter registry (number, slug, title), written once.
* :mod:`autograder.parts`       - what a graded part is: one declaration drives the notebook's
  test cell, the in-kernel check and the isolated grader.
* :mod:`autograder.calling`     - how a student's function is called and watched (standalone:
  the grader's sandbox loads the same file).
* :mod:`autograder.judging`     - whether an answer is right, and the message that teaches.
* :mod:`autograder.device`      - where references run (CUDA if present, else CPU).
* :mod:`autograder.checks`      - each chapter's graded parts (``PARTS``), one module per chapter.
* :mod:`autograder.references`  - reference implementations (PyTorch), one module per chapter.

The book:

* :mod:`autograder.experiments` - the chapters' experiment helpers (data sets from a seed, the
  small models the chapters train, the scans).

The instructor (the only code that imports nbgrader, dask and psutil):

* :mod:`autograder.course`      - the nbgrader course layout and the instructors' commands.
* :mod:`autograder.grading`     - the class-scale grader (``python -m autograder grade``).
"""

__all__ = [
    "chapters",
    "parts",
    "calling",
    "judging",
    "device",
    "checks",
    "references",
    "experiments",
    "course",
    "grading",
]
