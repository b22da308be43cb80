# Every target creates .venv and installs what it needs, so each works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# pytest-xdist workers: every test has its own store and ports; a module's tests share a worker.
TEST_WORKERS ?= 3

.PHONY: test demo bench bench-ingest bench-soak bench-sdk bench-drift bench-analytics bench-prometheus bench-demo bench-dashboards bench-http-servers lint fmt clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check sdk collector tests benchmarks
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The store and its report stay in .heron-demo: `.venv/bin/heron status --data-dir .heron-demo` afterwards.
demo: $(STAMP)
	rm -rf .heron-demo
	$(PY) -m heron_collector.demo --data-dir .heron-demo

# Each benchmark prints a machine-readable RESULT line: ratios against a baseline of the same run.
bench: bench-ingest bench-sdk

bench-ingest: $(STAMP)
	$(PY) benchmarks/ingest.py

# 2M predictions with a SIGKILL and restart of the collector in the middle; fails unless lost=0 duplicated=0.
bench-soak: $(STAMP)
	$(PY) benchmarks/soak.py

# Hypercorn (what the collector serves OTLP/HTTP on) against uvicorn: uvicorn is not a dependency,
# see the script's docstring.
bench-http-servers: $(STAMP)
	$(PY) benchmarks/http_servers.py $(if $(UVICORN_PATH),--uvicorn-path $(UVICORN_PATH))

bench-sdk: $(STAMP)
	$(PY) benchmarks/sdk_overhead.py

# The demo's wall time against its 45 s target, with the machine's load average.
bench-demo: $(STAMP)
	$(PY) benchmarks/demo_time.py

# Drift views at 1M and 10M predictions; Evidently at 1M when EVIDENTLY_PYTHON names an interpreter
# that has it (python3 -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install "evidently>=0.7,<0.8" "pandas<3" pyarrow).
EVIDENTLY_PYTHON ?=
bench-drift: $(STAMP)
	$(PY) benchmarks/drift.py --rows 1000000 10000000 $(if $(EVIDENTLY_PYTHON),--evidently-python $(EVIDENTLY_PYTHON))

# One refresh of every view through a running collector at 1M and 10M retained rows (25 features, 100k new
# rows per refresh), the cold refresh after a new reference, the insert-time views' cost per row, the collector's
# peak; BENCH_ANALYTICS_ARGS="--sustained --minutes 3" for the sustained run (5,000 predictions/s, 60 s refresh).
BENCH_ANALYTICS_ARGS ?= --retained 1000000 10000000
bench-analytics: $(STAMP)
	$(PY) benchmarks/analytics_scale.py $(BENCH_ANALYTICS_ARGS)

# A /metrics scrape of the cached model-health gauges against the one query that fills them.
bench-prometheus: $(STAMP)
	$(PY) benchmarks/prometheus_health.py

# Every dashboard query (panels, variables, annotations) over 10M predictions; target: each <= 1 s.
bench-dashboards: $(STAMP)
	$(PY) benchmarks/dashboards.py --rows 10000000

lint: $(STAMP)
	$(VENV)/bin/ruff check sdk collector tests benchmarks
	$(VENV)/bin/ruff format --check sdk collector tests benchmarks

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix sdk collector tests benchmarks
	$(VENV)/bin/ruff format sdk collector tests benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .heron-demo
