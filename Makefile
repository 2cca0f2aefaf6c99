# Every target bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test check lint typecheck unit test-resilience demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check worker tasks tests benchmarks
	$(BIN)/ruff format --check worker tasks tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

unit: $(STAMP)
	$(BIN)/pytest

# Fault scenarios on real processes (~5-10 min); figures printed at the end and kept in
# .pytest_cache/resilience-figures.json.
test-resilience: $(STAMP)
	COURIER_RESILIENCE_FIGURES=$${COURIER_RESILIENCE_FIGURES:-.pytest_cache/resilience-figures.json} \
		$(BIN)/pytest tests/resilience -m resilience

test: check unit test-resilience

demo: $(STAMP)
	$(BIN)/courier demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
