"""The RNN course's own package.

* :mod:`autograder.device`      - where references run (CUDA if present, else CPU).
* :mod:`autograder.tasks`       - synthetic data sets, generated from a seed.
* :mod:`autograder.references`  - reference implementations, one module per chapter.
* :mod:`autograder.checks`      - the checks graded notebooks call, one module per chapter.
* :mod:`autograder.comparing`   - exact-type and tolerance comparison with teaching messages.
* :mod:`autograder.course`      - the nbgrader course layout and the instructors' commands.
"""

__all__ = ["device", "tasks", "references", "checks", "comparing", "course"]
