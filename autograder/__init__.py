"""The RNN course's own package.

* :mod:`autograder.chapters`    - the chapter registry (number, slug, title), written once.
* :mod:`autograder.parts`       - what a graded part is: one declaration drives the notebook's
  test cell, the in-kernel check and the isolated grader.
* :mod:`autograder.calling`     - how a student's function is called and watched (standalone:
  the grader's sandbox loads the same file).
* :mod:`autograder.checks`      - each chapter's graded parts (``PARTS``), one module per chapter.
* :mod:`autograder.references`  - reference implementations (PyTorch), one module per chapter.
* :mod:`autograder.judging`     - whether an answer is right, and the message that teaches.
* :mod:`autograder.device`      - where references run (CUDA if present, else CPU).
* :mod:`autograder.course`      - the nbgrader course layout and the instructors' commands.
* :mod:`autograder.grading`     - the class-scale grader (``python -m autograder grade``).
* :mod:`autograder.experiments` - the book's experiment helpers (data sets from a seed, the
  small models the chapters train).
"""

__all__ = [
    "chapters",
    "parts",
    "calling",
    "checks",
    "references",
    "judging",
    "device",
    "experiments",
    "course",
    "grading",
]
