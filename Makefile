# The set-up contract: on a fresh machine with only Python 3.11+, `make demo` and
# `make test` create .venv, install the package with its extras, and run.
# `PYTHON=python3.12 make test` rebuilds .venv when it was made by another Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VERSION_OF = -c 'import sys; print(sys.implementation.name, *sys.version_info[:2], sep=".")'

# Which Python $(PYTHON) is, and which one made .venv (empty when there is none).
WANTED := $(shell $(PYTHON) $(VERSION_OF) 2>/dev/null)
HAVE := $(shell test -x $(BIN)/python && $(BIN)/python $(VERSION_OF) 2>/dev/null)

.PHONY: test demo lint bench clean FORCE

ifneq ($(HAVE),$(WANTED))
# .venv is missing, broken, or made by another Python: the stamp is stale whatever its date.
$(STAMP): FORCE
endif

$(STAMP): pyproject.toml
	@test -n "$(WANTED)" || { echo "make: PYTHON=$(PYTHON) is not a Python this machine can run; set PYTHON to an installed Python 3.11+ (its name or path)" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make: Python 3.11+ is required, PYTHON=$(PYTHON) is " + sys.version.split()[0])'
	@if [ -n "$(HAVE)" ] && [ "$(HAVE)" != "$(WANTED)" ]; then \
		echo "make: $(VENV) runs $(HAVE) but PYTHON=$(PYTHON) is $(WANTED): recreating $(VENV)"; \
		rm -rf $(VENV); \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	touch $(STAMP)

FORCE:

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/intrace-analytics demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every benchmark runs, even after one misses its target; make fails if any did.
# bench_normalize chooses its sizes, worker sweep and target from the core count
# (on 2 cores it runs 1,000,000 incidents: several minutes, progress printed per run).
BENCHMARKS := bench_cli_startup bench_fetch bench_normalize bench_live bench_sites bench_history
bench: $(STAMP)
	@failed=""; \
	for name in $(BENCHMARKS); do \
		echo "== benchmarks/$$name.py"; \
		$(BIN)/python benchmarks/$$name.py || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "make: benchmarks that missed their target:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
