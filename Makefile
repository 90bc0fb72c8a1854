# The two commands of README.md: `make run` (the demo on SQLite) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck migrate demo clean bench

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Lockbox needs Python 3.11; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

migrate: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# Serves both sites on SQLite, tasks in-process; a background loop runs the periodic jobs every
# minute (what Celery beat does in production) and stops with the server.
run: demo
	@$(BIN)/python manage.py lockbox_tick --every 60 & sweeper=$$!; \
	trap 'kill $$sweeper 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# Service, selector and policy signatures are the contract; mypy with django-stubs checks them
# (per-module strictness in pyproject.toml; docs/architecture.md).
typecheck: $(BIN)/.installed
	$(BIN)/mypy approvals audit lockbox_portal devtools

test: lint typecheck
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=lockbox_portal.settings.test
	$(BIN)/pytest

# Benchmarks at three data sizes on PostgreSQL with production settings (bench/README.md);
# run by hand, never by `make test`. Seeding the largest size takes a few minutes; it alone runs
# with lockbox_portal.settings.bench, production plus the devtools app that holds bench_seed.
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 test.sqlite3 staticfiles .pytest_cache .ruff_cache .mypy_cache
