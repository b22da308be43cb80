# Every target creates .venv and installs what it needs, so each works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo bench lint fmt clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check sdk collector tests benchmarks
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m heron_collector.demo

bench: $(STAMP)
	$(PY) benchmarks/ingest.py

lint: $(STAMP)
	$(VENV)/bin/ruff check sdk collector tests benchmarks
	$(VENV)/bin/ruff format --check sdk collector tests benchmarks

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix sdk collector tests benchmarks
	$(VENV)/bin/ruff format sdk collector tests benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
