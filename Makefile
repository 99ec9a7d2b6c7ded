# nocd — the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=
export UV_PYTHON_DOWNLOADS := never

.PHONY: help venv demo test lint bench clean

help:
	@echo "make demo   - set up .venv, start the simulated network and nocd (SQLite), print URLs"
	@echo "make test   - set up .venv and run the whole test suite (CI=true installs services)"
	@echo "make lint   - ruff + mypy --strict"
	@echo "make bench  - run the benchmarks in bench/ (not part of the test suite)"

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

venv: $(UV)
	$(UV) sync --frozen --quiet

demo: venv
	$(UV) run --frozen nocd demo

test: venv
	@if [ "$$CI" = "true" ]; then tests/services/install-debian.sh; fi
	@set -e; \
	pg_url=$$(tests/services/postgres.sh start 2>/dev/null) || pg_url=""; \
	if [ -z "$$pg_url" ]; then echo "PostgreSQL: not available (tests needing it skip; CI=true fails them)"; fi; \
	status=0; \
	TEST_POSTGRES_URL="$$pg_url" $(UV) run --frozen pytest $(PYTEST_ARGS) || status=$$?; \
	tests/services/postgres.sh stop || true; \
	exit $$status

lint: venv
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(UV) run --frozen python $$script || exit $$?; done

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
