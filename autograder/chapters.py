"""The chapter registry: every chapter's number, slug and title, written once.

Everything that names chapters derives from :data:`CHAPTERS`: the table of
contents (checked by ``tests/test_book.py``), the assignment and notebook
names, the checks module that declares a chapter's graded parts, the
reference module, the grader's warm-up and the tests that walk every chapter.

One entry gives, for ``Chapter(2, "elman", "The Elman network")``:

========================  =====================================
``name``                  ``02-elman`` (book page, assignment)
``book``                  ``book/02-elman.md``
``module``                ``ch02_elman`` (references, checks, notebook source)
``notebook``              ``elman`` (``solutions/02-elman/elman.ipynb``)
========================  =====================================

Adding a chapter: see ``CONTRIBUTING.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chapter", "CHAPTERS", "chapter", "names", "unknown_assignment"]


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str  # "elman", "fnn-amnesia"
    title: str

    @property
    def name(self) -> str:
        return f"{self.number:02d}-{self.slug}"

    @property
    def module(self) -> str:
        return f"ch{self.number:02d}_{self.slug.replace('-', '_')}"

    @property
    def notebook(self) -> str:
        return self.slug.replace("-", "_")

    @property
    def book(self) -> str:
        return f"book/{self.name}.md"

    @property
    def notebook_file(self) -> str:
        return f"{self.notebook}.ipynb"


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "fnn-amnesia", "Why feed-forward networks forget order"),
    Chapter(2, "elman", "The Elman network"),
    Chapter(3, "bptt", "Backpropagation through time"),
    Chapter(4, "gradients", "Vanishing and exploding gradients"),
    Chapter(5, "gates", "LSTM and GRU gates"),
    Chapter(6, "attention", "The path to Transformers"),
)


def names() -> list[str]:
    return [c.name for c in CHAPTERS]


def unknown_assignment(name: str) -> str:
    return f"unknown assignment {name!r}; the known ones are: {', '.join(names())}"


def chapter(name: str) -> Chapter:
    """The chapter of an assignment name (``"02-elman"``), or a KeyError listing the known ones."""
    for c in CHAPTERS:
        if c.name == name:
            return c
    raise KeyError(unknown_assignment(name))
