"""Hostile (and honest-but-different) chapter-2 submissions for the grader's tests."""
