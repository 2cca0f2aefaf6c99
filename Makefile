# Every target bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test check lint typecheck unit demo bench clean

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

test: check unit

demo: $(STAMP)
	$(BIN)/courier demo

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
