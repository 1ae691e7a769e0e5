# partner-sync: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Installs come from uv.lock through uv. The uv on PATH is used when there is one; otherwise
# this exact release is installed from the package index into .tools/ (a venv of its own:
# `uv sync` keeps .venv exactly as the lock says, so uv cannot live there).
UV_VERSION := 0.13.9
UV_TOOLS := .tools
UV ?= $(or $(shell command -v uv 2>/dev/null),$(UV_TOOLS)/bin/uv)
# uv builds .venv with the same interpreter a pip user would, and never downloads one.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

# The sandbox server's own dependencies, once pyproject.toml has a `sandbox` extra: the demo
# and the tests both start it.
SANDBOX_EXTRA := $(shell $(PYTHON) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); print('--extra sandbox' if 'sandbox' in p['project'].get('optional-dependencies', {}) else '')" 2>/dev/null)
SYNC := $(UV) sync --frozen $(SANDBOX_EXTRA)

.PHONY: demo test provision lint format bench bench-smoke reliability lock clean

$(UV_TOOLS)/bin/uv:
	$(PYTHON) -m venv $(UV_TOOLS)
	$(UV_TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The venv is synced again when the lock or pyproject.toml is newer than the last sync.
# `uv sync` is exact: the demo's sync drops the dev extras and the next `make test` adds them.
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(SYNC)
	@touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock $(VENV)/.installed | $(UV)
	$(SYNC) --extra dev
	@touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/partner-sync demo

# What the tests need from the machine: Debian packages (Dovecot, Chromium, curl, openssl),
# PostgreSQL answering on 127.0.0.1:5432 and its `test` database. Installs only what is
# missing; says in one line what to do when it cannot.
provision:
	bash .ci/provision.sh

# Everything but the `slow` tests: the full-size reliability runs are `make reliability`'s.
test: $(VENV)/.installed-dev provision
	$(PY) -m pytest -m "not slow"

# The `full` cases of the reliability suite, the ones `make test` leaves out (20 chaos runs,
# every kill point on SQLite and PostgreSQL, 2,000 fuzz examples, 30 s of load), then the
# load benchmark, which writes benchmarks/LOAD.md. The figures are printed at the end.
reliability: $(VENV)/.installed-dev provision
	$(PY) -m pytest -m slow tests/reliability
	$(PY) -m benchmarks.load

# Every row of the performance issue against sandboxes in their own processes, ours
# interleaved with the raw floors and dlt (the `bench` extra): prints one table, writes
# benchmarks/RESULTS.md and the findings block of benchmarks/README.md, and exits non-zero
# when a target is missed. Needs PostgreSQL on 127.0.0.1:5432 for its row.
# (No stamp: `make test`'s exact sync drops the extra again, so it is synced every time.)
bench: provision | $(UV)
	$(SYNC) --extra dev --extra bench
	$(PY) -m benchmarks

# The same harness at tiny sizes in under a minute: proves it runs, the numbers mean nothing.
bench-smoke: $(VENV)/.installed-dev
	$(PY) -m benchmarks --smoke

# `uv lock --check` fails when pyproject.toml changed and uv.lock was not regenerated.
lint: $(VENV)/.installed-dev
	$(UV) lock --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy partner_api storage partner_sync flows deployments sandbox
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Re-resolve every dependency to its newest allowed release (see the README's Development).
lock: | $(UV)
	$(UV) lock --upgrade

clean:
	rm -rf $(VENV) $(UV_TOOLS) partner_sync.db .pytest_cache
