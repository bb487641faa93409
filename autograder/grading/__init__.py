"""Parallel, tamper-resistant grading of a class: ``python -m autograder grade ASSIGNMENT``.

See :mod:`autograder.grading.cli` (and README.md here) for the command, the
Dask setup and the design; :mod:`.sandbox` for the isolated grader.
"""
