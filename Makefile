# The two commands a new user needs, and the ones developers expect.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: score test test-fast lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## score: install, then score every bundled candidate (reports/latest/results.json)
score: $(STAMP)
	$(BIN)/harness score

## test: install, then run the whole test suite (unit, integration, docker)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check harness tests bench
	$(BIN)/mypy

typecheck: lint

## bench: the full scenario set on the reference with the local runner
bench: $(STAMP)
	$(BIN)/python bench/bench_suite.py

clean:
	rm -rf $(VENV) reports/latest .pytest_cache .mypy_cache .ruff_cache .hypothesis
