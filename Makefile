# The course's commands. `make book` and `make test` are all a newcomer needs.
# Every recipe runs with the venv's bin on PATH: notebook kernels and nbgrader
# (which runs alembic as a subprocess) need it.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# No MPLBACKEND here: the chapters' kernels need matplotlib's inline backend,
# or glued figures are saved as "<Figure size ...>" text instead of PNGs.
export PYDEVD_DISABLE_FILE_VALIDATION := 1

STAMP_VENV := $(VENV)/.installed
# The execution cache keys on cell sources only: it cannot see the modules of the
# course package that the chapters import. When one of those changes, the cached
# outputs are stale, so this stamp clears them (see book/instructors.md); a change
# to a check or to the grader does not. tools/chapter_deps.py lists them. Sphinx
# does not see changes to the book's own extension (book/_ext) either.
AUTOGRADER_SRC := $(shell python3 tools/chapter_deps.py 2>/dev/null) $(wildcard book/_ext/*.py) $(shell find data -type f 2>/dev/null)
STAMP_AUTOGRADER := _build/.autograder-stamp
# Browser libraries served by the book itself (offline math and widgets).
STAMP_VENDOR := _build/vendor-static/.installed

# Assignments are named after their chapters (autograder/chapters.py): 01-fnn-amnesia, 02-elman, ...
ASSIGNMENT ?=
need-assignment = @test -n "$(ASSIGNMENT)" || { echo "say which one: make $@ ASSIGNMENT=NAME, with NAME one of: $$(ls solutions | tr '\n' ' ')"; exit 2; }

.PHONY: book test test-fast lint format lab notebooks release venv vendor clean grade autograde feedback export benchmark

venv: $(STAMP_VENV)

$(STAMP_VENV): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (rnn-course)" >/dev/null
	touch $@

$(STAMP_AUTOGRADER): $(AUTOGRADER_SRC) | $(STAMP_VENV)
	rm -rf _build/.jupyter_cache _build/.doctrees
	mkdir -p _build && touch $@

$(STAMP_VENDOR): vendor/package.json vendor/package-lock.json tools/vendor_assets.py
	rm -rf _build/vendor-npm && mkdir -p _build/vendor-npm
	cp vendor/package.json vendor/package-lock.json _build/vendor-npm/
	cd _build/vendor-npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	$(BIN)/python tools/vendor_assets.py _build/vendor-npm/node_modules _build/vendor-static
	touch $@

vendor: $(STAMP_VENDOR)

## make book: execute the chapters (cached) and write _build/html.
book: $(STAMP_VENV) $(STAMP_AUTOGRADER) $(STAMP_VENDOR)
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

## make test: lint, then the whole test suite (builds the book from scratch with -W).
test: $(STAMP_VENV) $(STAMP_VENDOR) lint
	$(BIN)/python -m pytest -q

## make test-fast: the quick subset (no nbgrader, notebook, book or browser runs), about a minute.
test-fast: $(STAMP_VENV)
	$(BIN)/python -m pytest -q -m "not slow"

## make lint: ruff's linter and formatter check (configured in pyproject.toml).
lint: $(STAMP_VENV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make format: let ruff fix what it can and format the code.
format: $(STAMP_VENV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make lab: JupyterLab on exercises/ with the course's kernel (for students).
lab: $(STAMP_VENV)
	$(BIN)/jupyter lab --notebook-dir=exercises

## make notebooks: regenerate solutions/ from tools/assignments/, then exercises/ with nbgrader.
notebooks: $(STAMP_VENV)
	$(BIN)/python -m tools.make_notebooks

## make release: regenerate exercises/ (student notebooks) from solutions/.
release: $(STAMP_VENV)
	$(BIN)/python -m autograder release

## make autograde ASSIGNMENT=02-elman: grade instructor/submitted with nbgrader.
autograde: $(STAMP_VENV)
	$(need-assignment)
	$(BIN)/python -m autograder autograde $(ASSIGNMENT)

## make feedback ASSIGNMENT=02-elman: feedback reports for the graded class.
feedback: $(STAMP_VENV)
	$(need-assignment)
	$(BIN)/python -m autograder feedback $(ASSIGNMENT)

## make export: instructor/grades.csv from the gradebook.
export: $(STAMP_VENV)
	$(BIN)/python -m autograder export

## make grade ASSIGNMENT=02-elman [WORKERS=2]: parallel grading, isolated scores, flags, report.
grade: $(STAMP_VENV)
	$(need-assignment)
	$(BIN)/python -m autograder grade $(ASSIGNMENT) $(if $(WORKERS),--workers $(WORKERS),)

## make benchmark: build and grading timings, printed (never asserted).
benchmark: $(STAMP_VENV)
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf _build
