# `make demo` and `make test` work on a fresh machine: each creates .venv, installs what
# it needs (Debian packages too, when run as root), then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench clean

$(BIN)/python:
	@PYTHON=$(PYTHON) scripts/system-deps venv
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

demo: $(VENV)/.demo
	@scripts/system-deps graphviz
	$(BIN)/python -m micrograd_ann demo

test: $(VENV)/.dev
	@scripts/system-deps graphviz browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) micrograd-ann-out .pytest_cache .hypothesis test-artifacts *.egg-info

bench: $(VENV)/.dev
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/bench.py
