# partner-sync: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test lint format bench bench-smoke reliability clean

# The venv is rebuilt when missing or older than pyproject.toml (stale).
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[sandbox]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	@touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/partner-sync demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest

# The reliability suite at full size (the same tests `make test` runs small: 20 chaos runs,
# every kill point on SQLite and PostgreSQL, 2,000 fuzz examples, 30 s of load), then the
# load benchmark, which writes benchmarks/LOAD.md. The figures are printed at the end.
reliability: $(VENV)/.installed-dev
	PARTNER_SYNC_RELIABILITY=full $(PY) -m pytest tests/reliability
	$(PY) -m benchmarks.load

# Every benchmark against a sandbox in its own process, ours interleaved with a raw floor:
# prints one table and writes benchmarks/RESULTS.md (3-4 minutes on 2 cores).
# Needs PostgreSQL on 127.0.0.1:5432 for its row; `prefect server start` is run for you.
bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks

# The same harness at tiny sizes in under a minute: proves it runs, the numbers mean nothing.
bench-smoke: $(VENV)/.installed-dev
	$(PY) -m benchmarks --smoke

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy partner_api storage partner_sync flows deployments sandbox
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) partner_sync.db .pytest_cache
