# The two commands a new user needs, and the ones developers expect.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: score image browser strace test test-all test-fast lint typecheck bench bench-report clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

DOCKER_UP = $(BIN)/python -c "import docker; docker.from_env(timeout=5).ping()" 2>/dev/null

## score: install, then score every bundled candidate (reports/latest/results.json).
## Docker where a daemon answers (the base image is built first if missing), local otherwise.
score: $(STAMP) strace
	@if $(DOCKER_UP); then $(MAKE) --no-print-directory image; fi
	$(BIN)/harness score

## image: build the Python base image from Debian's packages (no registry needed)
image: $(STAMP)
	@command -v debootstrap >/dev/null || command -v /usr/sbin/debootstrap >/dev/null || { \
	  echo "installing Debian's debootstrap, to build the base image without a registry"; \
	  apt-get install -y -q debootstrap >/dev/null; }
	$(BIN)/harness image bootstrap

# $(call apt_install,COMMAND,PACKAGE,WHY,IF-NOT): Debian's PACKAGE unless COMMAND is there
apt_install = command -v $(1) >/dev/null || { \
	  echo "installing Debian's $(2), $(3)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(2) >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	       apt-get install -y -q $(2) >/dev/null; } \
	  || echo "could not install $(2): $(4)"; }

## browser: Debian's chromium, which the report's tests render the HTML report in
browser:
	@$(call apt_install,chromium,chromium,to test the HTML report in a real browser,the browser tests will be skipped)

## strace: Debian's strace, which records the clean run that exact crash points come from
## (the local runner's; the base image has its own)
strace:
	@$(call apt_install,strace,strace,for crashes at exact system calls,the local runner will use timed kills)

## test: install, then run the test suite (unit, integration, docker, browser): two
## workers, then the few tests that must run alone; the cases marked exhaustive (more of
## a kind already covered) are left to test-all
test: $(STAMP) browser strace
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not serial and not exhaustive"
	$(BIN)/python -m pytest -q -m "serial and not exhaustive"

## test-all: the whole suite, the exhaustive cases too (about ten minutes more)
test-all: $(STAMP) browser strace
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not serial"
	$(BIN)/python -m pytest -q -m serial

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check harness tests bench examples
	$(BIN)/mypy

typecheck: lint

## bench: the full scenario set on the reference with the local runner
bench: $(STAMP)
	$(BIN)/python bench/bench_suite.py

## bench-report: the HTML report's size and render time at 20 candidates (needs a results.json)
bench-report: $(STAMP) browser
	$(BIN)/python bench/bench_report.py $(or $(RESULTS),reports/latest/results.json)

clean:
	rm -rf $(VENV) reports/latest .pytest_cache .mypy_cache .ruff_cache .hypothesis
