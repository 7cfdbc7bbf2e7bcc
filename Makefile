# `make demo` and `make test` work on a fresh machine: each creates .venv, installs what
# it needs (Debian packages too, when run as root), then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test notebooks bench clean

$(BIN)/python:
	@PYTHON=$(PYTHON) scripts/system-deps venv
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# --no-compile: byte-compiling every installed module is half of pip's time here; Python
# compiles the few the tests import when they first run.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --no-compile -e ".[dev]"
	touch $@

$(VENV)/.demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

demo: $(VENV)/.demo
	@scripts/system-deps graphviz
	$(BIN)/python -m micrograd_ann demo

# In parallel, one worker per core. Slow tests are skipped: MICROGRAD_ANN_SLOW=1 runs them.
test: $(VENV)/.dev
	@scripts/system-deps graphviz browser
	$(BIN)/python -m pytest -n auto

$(VENV)/.notebooks: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[notebooks]"
	touch $@

# JupyterLab in .venv, opened on notebooks/ (it prints the address to open if no browser
# starts). JupyterLab refuses to run as root unless told to: a container's user often is.
notebooks: $(VENV)/.notebooks
	@scripts/system-deps graphviz
	$(BIN)/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) micrograd-ann-out .pytest_cache .hypothesis *.egg-info

bench: $(VENV)/.dev
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/bench.py
