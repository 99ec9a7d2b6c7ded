# nocd — the two commands that matter are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?= -n 2 --dist loadfile -m "not soak"  # two workers: most tests wait on daemons and agents
SOAK_ARGS ?= -m soak  # then the quick soak + chaos alone: it times a busy lab, so it gets the machine
export UV_PYTHON_DOWNLOADS := never

.PHONY: help venv demo test soak-quick lint bench clean

help:
	@echo "make demo   - set up .venv, start the simulated network and nocd (SQLite), print URLs"
	@echo "make test   - set up .venv and run the whole test suite (CI=true installs services)"
	@echo "make lint   - ruff + mypy --strict + pip-audit of the locked dependencies"
	@echo "make bench  - run the benchmarks in bench/ (not part of the test suite)"
	@echo "make soak-quick - only the quick soak + chaos run (bench/soak.py --quick, ~6 min)"

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

venv: $(UV)
	$(UV) sync --frozen --quiet

demo: venv
	$(UV) run --frozen nocd demo $(DEMO_ARGS)

test: venv
	@if [ "$$CI" = "true" ]; then tests/services/install-debian.sh; fi
	@set -e; \
	pg_url=$$(tests/services/postgres.sh start 2>/dev/null) || pg_url=""; \
	if [ -z "$$pg_url" ]; then echo "PostgreSQL: not available (tests needing it skip; CI=true fails them)"; fi; \
	status=0; \
	TEST_POSTGRES_URL="$$pg_url" $(UV) run --frozen pytest $(PYTEST_ARGS) || status=$$?; \
	TEST_POSTGRES_URL="$$pg_url" $(UV) run --frozen pytest $(SOAK_ARGS) || status=$$?; \
	tests/services/postgres.sh stop || true; \
	exit $$status

soak-quick: venv  ## only the quick soak + chaos run (the last part of make test)
	@set -e; pg_url=$$(tests/services/postgres.sh start 2>/dev/null) || pg_url=""; \
	TEST_POSTGRES_URL="$$pg_url" $(UV) run --frozen pytest $(SOAK_ARGS) -s

# pip-audit checks the locked dependencies (uv.lock, every group) against PyPI's vulnerability
# data. Known vulnerabilities fail lint; a package the service cannot answer for is reported by
# name and counted, never silently taken as safe (on a machine that reaches only a package index
# mirror, nothing can be audited and the summary says so).
lint: venv
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy
	@set -o pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(UV) export --frozen --no-hashes --no-emit-project --all-groups --quiet > "$$tmp/requirements.txt"; \
	status=0; $(UV) run --frozen pip-audit --vulnerability-service pypi --no-deps --disable-pip \
	  --progress-spinner off -r "$$tmp/requirements.txt" -f json -o "$$tmp/audit.json" \
	  2>"$$tmp/audit.err" || status=$$?; \
	if [ ! -s "$$tmp/audit.json" ]; then cat "$$tmp/audit.err"; echo "pip-audit: FAILED to run"; exit 1; fi; \
	$(UV) run --frozen python -c 'import json, sys; deps = json.load(open(sys.argv[1]))["dependencies"]; \
	  vulns = ["%s %s: %s (fixed in: %s)" % (d["name"], d["version"], v["id"], ", ".join(v["fix_versions"]) or "no fix yet") for d in deps for v in d.get("vulns", [])]; \
	  skipped = [d["name"] for d in deps if "skip_reason" in d]; \
	  print("\n".join(vulns)) if vulns else None; \
	  print("pip-audit: %d of %d locked packages audited, %d known vulnerabilities" % (len(deps) - len(skipped), len(deps), len(vulns))); \
	  print("pip-audit: NOT AUDITED (%d, no vulnerability data reachable for them%s): %s" % (len(skipped), "; the service is unreachable from this machine" if len(skipped) == len(deps) else "", ", ".join(skipped))) if skipped else None' \
	  "$$tmp/audit.json"; \
	exit $$status

bench: venv
	@for script in bench/*.py; do echo "== $$script"; $(UV) run --frozen python $$script || exit $$?; done

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
