# Two targets do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs the package (with its test tools) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_OUTPUT ?= vision-audit-demo

.PHONY: demo test bench lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
	  || { echo "vision-audit needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 2; }
	@sh scripts/setup-system
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e ".[all]" --group dev
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vision-audit demo --output $(DEMO_OUTPUT)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_emulator.py
	$(BIN)/python benchmarks/bench_instrumentation.py
	$(BIN)/python benchmarks/bench_store.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_evidence.py
	$(BIN)/python benchmarks/bench_review.py
	$(BIN)/python benchmarks/bench_console.py
	$(BIN)/python benchmarks/bench_fleet.py

lint: $(STAMP)
	$(BIN)/ruff check vision_audit tests benchmarks examples
	$(BIN)/mypy vision_audit

clean:
	rm -rf $(VENV) $(DEMO_OUTPUT) build dist .pytest_cache .hypothesis
